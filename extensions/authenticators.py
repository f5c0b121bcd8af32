"""The hub's authenticators: JupyterHub's own, with names that cannot pass for one another.

``hub/auth.py`` chooses one of them in configuration (a generated shared password on one
machine, OIDC where configured).
"""

from __future__ import annotations

from jupyterhub.auth import Authenticator
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from tornado import web
from twinhub.contracts.text import normalize_username, username_problem


class SafeNames(Authenticator):
    """One name, one person: names are NFKC-normalised, then refused with a message if they
    hold invisible, control or whitespace characters.

    Without it ``ａｄａ`` (full-width) and ``ada`` followed by a zero-width space are users of
    their own, yet read as ``ada`` in run records, history and the admin page.
    """

    def normalize_username(self, username: str) -> str:
        # NFKC again after the base class's lower-casing (which may undo the normal form)
        return normalize_username(super().normalize_username(normalize_username(username)))

    def validate_username(self, username: str) -> bool:
        problem = username_problem(username)
        if problem:
            # a message on the login page (and in the API's 400), not a silent "invalid"
            raise web.HTTPError(403, "%s: use a name of visible characters without spaces", problem)
        return super().validate_username(username)


class PasswordAuthenticator(SafeNames, SharedPasswordAuthenticator):
    """The embedded default: JupyterHub's shared password, with safe names."""


def oidc_authenticator() -> type[Authenticator]:
    """oauthenticator's GenericOAuthenticator with safe names (imported only when used)."""
    from oauthenticator.generic import GenericOAuthenticator

    return type(
        "OIDCAuthenticator",
        (SafeNames, GenericOAuthenticator),
        {"__doc__": "OIDC login with safe names."},
    )
