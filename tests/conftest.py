"""Fixtures shared by every test: the artefacts folder and the real gateway."""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from twinhub.extensions.accounts import remove_prefixed_accounts

from tests.support import serial_ast
from tests.support.gateway import Gateway, start_gateway

serial_ast.install()  # before any test module is imported (and its asserts rewritten)

REPO = Path(__file__).resolve().parent.parent


ACCOUNT_PREFIX_ENV = "TWINHUB_ACCOUNT_PREFIX"
_session_prefix: list[str] = []
"""The account prefix this session chose (and so may remove): never an operator's own."""
_session_basetemp: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """As root, gateways give each hub user a unix account (extensions/accounts.py). So that this
    session's accounts never meet another session's on the same machine, they get a prefix of
    their own (removed at the end); and the temporary folders (state dirs, homes) live in a
    folder of this session, since pytest makes ``/tmp/pytest-of-root`` private again at the
    start of every session, which would lock users out of their homes mid-test."""
    if os.geteuid() != 0:
        return
    if ACCOUNT_PREFIX_ENV not in os.environ:
        _session_prefix.append(f"t{secrets.token_hex(3)}-")
        os.environ[ACCOUNT_PREFIX_ENV] = _session_prefix[0]
        # the dashboards' system account too, so that it goes with the session's accounts
        os.environ.setdefault("TWINHUB_APPS_ACCOUNT", f"{_session_prefix[0]}apps")
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="twinhub-tests-")
        _session_basetemp.append(config.option.basetemp)


_shared_tmp_mode: list[int] = []
"""The machine's temporary folder's mode when the session started: no test may change it."""


def pytest_sessionstart(session: pytest.Session) -> None:
    _shared_tmp_mode.append(os.stat(tempfile.gettempdir()).st_mode)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test that changed the mode of /tmp (a chmod 0711 of "the folders above" a temporary
    folder once made it unwritable for every other account on the machine) fails the
    session, and the mode is put back."""
    shared = tempfile.gettempdir()
    before, now = _shared_tmp_mode[0], os.stat(shared).st_mode
    if now != before:
        os.chmod(shared, stat.S_IMODE(before))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\na test changed the mode of {shared}: {oct(before)} -> {oct(now)} (put back)")


def pytest_unconfigure(config: pytest.Config) -> None:
    for prefix in _session_prefix:
        remove_prefixed_accounts(prefix)
    for folder in _session_basetemp:  # logs worth keeping are in the artifacts folder
        shutil.rmtree(folder, ignore_errors=True)


LANE_ENV = "TWINHUB_TEST_LANE"
FIRST_LANE = ("tests/unit/", "tests/faults/", "tests/ui/")
"""`make test` runs two pytest sessions side by side (scripts/test-lanes.sh): the first takes
these folders, the second everything else, so that a new folder is never left out."""
SECOND_LANE_FILES = ("tests/faults/test_hub_crash.py",)
"""Files of the first lane's folders run in the second, so that the two lanes take about as
long (measured with --durations in CI: with test_registry_crash.py here too, the second lane
ended 3 minutes after the first, 33:09 against 30:20; that file's minute is the first's now)."""


def lane_of(path: str) -> str:
    if path.startswith(SECOND_LANE_FILES) or not path.startswith(FIRST_LANE):
        return "2"
    return "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With TWINHUB_TEST_LANE set, keep only that lane's tests."""
    lane = os.environ.get(LANE_ENV)
    if not lane:
        return
    keep, drop = [], []
    for item in items:
        path = Path(item.path).resolve().relative_to(REPO).as_posix()
        (keep if lane_of(path) == lane else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where screenshots and logs go (kept by CI; gitignored)."""
    path = Path(os.environ.get("TWINHUB_TEST_ARTIFACTS", REPO / "tests" / "ui" / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[Gateway]:
    """One real gateway for the whole session: launcher, hub, proxy, dask-gateway."""
    state = tmp_path_factory.mktemp("state")
    log = artifacts_dir / "gateway.log"
    gw = start_gateway(state, log)
    try:
        yield gw
    finally:
        gw.stop()
        shutil.copy(log, artifacts_dir / "gateway-session.log")


@pytest.fixture(autouse=True)
def _no_dangling_default_dask_client() -> Iterator[None]:
    """Keep a test that leaves a default distributed Client behind from breaking later ones.

    A ``Client`` sets dask's ``scheduler`` option to ``dask.distributed`` until it is closed; if
    one is dropped unclosed, every later ``.compute()`` in this process asks for a client that
    is gone ("Requested dask.distributed scheduler but no Client active").
    """
    yield
    import dask
    from distributed.client import _get_global_client

    if dask.config.get("scheduler", None) in ("dask.distributed", "distributed") and (
        _get_global_client() is None
    ):
        dask.config.config.pop("scheduler", None)
        dask.config.config.pop("shuffle", None)
