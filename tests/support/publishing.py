"""A user's own terminal in tests: ``twinhub ...`` as their unix account, in their home.

What a person does in their server's terminal (``twinhub new``, ``twinhub publish``), run as
their account when the tests run as root (else as the operator's one account, with a home per
user as the spawner gives it), with only their token and the hub in the environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from twinhub.extensions.accounts import ensure_account, home_dir_template

from tests.support.gateway import Gateway, Session


def user_home(gateway: Gateway, name: str) -> Path:
    """The home (their server's root) of hub user ``name``, their account made if need be."""
    s = gateway.settings
    if os.geteuid() == 0:
        return Path(ensure_account(s.state_dir, s.account_prefix, home_dir_template(s), name).home)
    home = Path(home_dir_template(s).format(username=name))
    home.mkdir(parents=True, exist_ok=True)
    return home


def as_user(gateway: Gateway, user: Session, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``twinhub ...`` as ``user``'s unix account (when root), with only their token."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(cwd),
        "JUPYTERHUB_API_TOKEN": user.token,
        "JUPYTERHUB_USER": user.name,  # as in their server
        "TWINHUB_URL": gateway.url,
    }
    ids = {}
    if os.geteuid() == 0:
        s = gateway.settings
        account = ensure_account(s.state_dir, s.account_prefix, home_dir_template(s), user.name)
        ids = {"user": account.uid, "group": account.gid, "extra_groups": []}
    twinhub = str(Path(sys.executable).parent / "twinhub")
    return subprocess.run(
        [twinhub, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **ids
    )
