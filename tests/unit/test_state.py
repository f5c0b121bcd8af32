"""Secrets are generated once, kept private, and the state directory is checked up front."""

from __future__ import annotations

from pathlib import Path

import pytest
from twinhub.hub.state import StateDirError, ensure_secrets, state_dir_mode


def test_secrets_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first = ensure_secrets(tmp_path / "state")
    second = ensure_secrets(tmp_path / "state")
    assert first == second
    assert len(first.admin_password) >= 32, "JupyterHub requires 32+ characters for admins"
    assert len(first.user_password) >= 8
    assert first.user_password != first.admin_password
    for f in (tmp_path / "state" / "secrets").iterdir():
        assert f.stat().st_mode & 0o777 == 0o600
    # users of a root platform pass through (to their homes), never list it
    assert (tmp_path / "state").stat().st_mode & 0o777 == state_dir_mode()


def test_deleting_a_secret_rotates_only_that_one(tmp_path: Path) -> None:
    first = ensure_secrets(tmp_path)
    (tmp_path / "secrets" / "user_password").unlink()
    second = ensure_secrets(tmp_path)
    assert second.user_password != first.user_password
    assert second.proxy_auth_token == first.proxy_auth_token


def test_state_dir_under_a_file_is_named_in_the_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StateDirError, match=f"{blocker}/state is not usable"):
        ensure_secrets(blocker / "state")
