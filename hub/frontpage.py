"""Where a person lands after logging in: the Twins page, twins first (``default_url``).

JupyterHub sends people without a ``next=`` to ``default_url`` after login and from ``/hub/``;
a ``next=`` (e.g. a dashboard link that required a login) still wins. Logged-out visitors of
``/hub/`` get the hub's own login page (the callable answers ``""`` for them), so the login URL
stays the hub's plain one. The spawn form stays one click away (the page's "Start my server").
"""

from __future__ import annotations

from typing import Any

from twinhub.contracts.names import REGISTRY_PREFIX

TWINS_PAGE = f"{REGISTRY_PREFIX.lstrip('/')}/twins"


def landing_url(handler: Any) -> str:
    """JupyterHub's ``default_url`` callable: the Twins page for a logged-in user, else ``""``."""
    if handler.current_user is None:
        return ""
    return f"{handler.base_url}{TWINS_PAGE}"
