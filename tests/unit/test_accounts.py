"""The hub name -> unix account mapping: safe for any hub name, collision-free, recorded."""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import threading
from pathlib import Path

import pytest
from twinhub.extensions.accounts import (
    MAX_NAME,
    AccountTable,
    candidates,
    ensure_account,
    open_passages,
)

ACCOUNT_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
"""What ``useradd`` accepts everywhere (and what ``ls -l`` shows without surprise)."""

HOSTILE = [
    "alice",
    "Alice",
    "root",
    "../../etc",
    "a b",
    "ålice",
    "ａｌｉｃｅ",  # full-width: NFKD makes it 'alice', so it must not be alice's account
    "\u200balice",
    "-rf",
    "x" * 300,
    "用户",
    "",
    "a\x00b",
    "$(reboot)",
    "alice-1234",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_every_candidate_is_a_safe_account_name(name: str) -> None:
    names = candidates("th-", name)
    assert names
    for candidate in names:
        assert ACCOUNT_NAME.fullmatch(candidate), candidate
        assert len(candidate) <= MAX_NAME
        assert candidate.startswith("th-")


def test_only_a_name_that_is_its_own_slug_keeps_it() -> None:
    assert candidates("th-", "alice")[0] == "th-alice"
    # anything else carries a hash of the real name: 'Alice' and 'alice' never meet
    assert candidates("th-", "Alice")[0] != "th-alice"
    assert candidates("th-", "ａｌｉｃｅ")[0].startswith("th-alice-")


def test_the_table_maps_distinct_names_to_distinct_accounts_and_never_changes(
    tmp_path: Path,
) -> None:
    table = AccountTable(tmp_path, "zq-")
    first = {name: table.assign(name) for name in HOSTILE}
    assert len(set(first.values())) == len(HOSTILE)
    again = AccountTable(tmp_path, "zq-")  # another process (the gateway) reads the same
    assert {name: again.assign(name) for name in reversed(HOSTILE)} == first
    assert (tmp_path / "accounts.sqlite").stat().st_mode & 0o777 == 0o600


def test_an_existing_account_is_never_adopted(tmp_path: Path) -> None:
    # a prefix that makes 'ot' collide with the machine's 'root'
    table = AccountTable(tmp_path, "ro")
    name = table.assign("ot")
    assert name != "root" and name.startswith("ro")
    with pytest.raises(KeyError):
        pwd.getpwnam(name)


@pytest.mark.skipif(os.geteuid() != 0, reason="useradd needs root")
def test_an_account_gets_a_private_home_on_first_use(tmp_path: Path) -> None:
    prefix = os.environ.get("TWINHUB_ACCOUNT_PREFIX", "tu-")
    state = tmp_path / "state"
    state.mkdir()
    account = ensure_account(state, prefix, str(state / "users" / "{username}"), "Ünit Tester")
    try:
        home = Path(account.home)
        assert account.name.startswith(prefix) and account.uid != 0
        assert (home.stat().st_uid, home.stat().st_mode & 0o777) == (account.uid, 0o700)
        assert home.parent.stat().st_mode & 0o777 == 0o711
        again = ensure_account(state, prefix, str(state / "users" / "{username}"), "Ünit Tester")
        assert again == account
    finally:
        subprocess.run(["userdel", "--remove", account.name], check=False)


def test_passages_add_search_permission_only(tmp_path: Path) -> None:
    private = tmp_path / "private"
    inner = private / "repo"
    inner.mkdir(parents=True)
    os.chmod(private, 0o700)
    opened = open_passages([inner])
    assert private.resolve() in opened
    assert private.stat().st_mode & 0o777 == 0o701


@pytest.mark.skipif(os.geteuid() != 0, reason="useradd needs root")
def test_an_account_is_created_while_another_process_holds_the_password_file(
    tmp_path: Path,
) -> None:
    """useradd gives up at once on a locked /etc/passwd; the hub and the gateway (and any
    system tool) take that lock, so a first spawn beside another must wait its turn, not fail."""
    prefix = os.environ.get("TWINHUB_ACCOUNT_PREFIX", "tu-")
    state = tmp_path / "state"
    state.mkdir()
    lock = Path("/etc/passwd.lock")
    holder = subprocess.Popen(["sleep", "30"])  # a live process named in the lock, as useradd does
    lock.write_text(str(holder.pid))
    release = threading.Timer(0.8, lambda: (lock.unlink(missing_ok=True), holder.kill()))
    release.start()
    account = None
    try:
        account = ensure_account(state, prefix, str(state / "users" / "{username}"), "Locked Out")
        assert pwd.getpwnam(account.name).pw_uid == account.uid != 0
        assert not lock.exists()  # it waited for the holder instead of breaking the lock
    finally:
        release.join()
        lock.unlink(missing_ok=True)
        holder.wait()
        if account is not None:
            subprocess.run(["userdel", "--remove", account.name], check=False)
