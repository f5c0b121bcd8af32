"""Publishing a twin through the registry's publisher (in-process, real uv builds, real tests
run as the owner's account): a version is served only after it builds and its own test passes,
a broken one leaves the served one in place, rollback serves an earlier one, names and
visibility hold. The HTTP layer adds authentication and the body limit only."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import Any

import psutil
import pystac
import pytest
from twinhub.contracts.settings import Settings
from twinhub.extensions.accounts import (
    ensure_account,
    ensure_service_account,
    home_dir_template,
    open_passages,
)
from twinhub.extensions.dashboards.router import launch_for, twin_runtime
from twinhub.extensions.dashboards.supervisor import Supervisor, Unavailable
from twinhub.extensions.executor.builds import INTERRUPTED, Builder, claim_build
from twinhub.extensions.executor.service import Executor
from twinhub.extensions.registry.archive import pack
from twinhub.extensions.registry.auth import SCOPE_PROFILES_WRITE, User
from twinhub.extensions.registry.db import open_database
from twinhub.extensions.registry.errors import Conflict, Invalid, NotFound
from twinhub.extensions.registry.publishing import Publisher, chunks, serve_version
from twinhub.extensions.registry.scaffold import new_twin
from twinhub.extensions.registry.snapshot import twin_record
from twinhub.extensions.registry.store import Store
from twinhub.extensions.runtimes import runtime_python
from twinhub.hub.launch import prepare_registry_folders
from twinhub.hub.services import platform_home

from tests.support.waiting import wait_for

ADMIN = User("root", frozenset(), frozenset({SCOPE_PROFILES_WRITE}), "user", "t")
ALICE = User("alice", frozenset(), frozenset(), "user", "t")
BOB = User("bob", frozenset({"team"}), frozenset(), "user", "t")
CAROL = User("carol", frozenset(), frozenset(), "user", "t")
NAME = "pub-demo"
PREFIX = "/services/twinhub-apps/"
ISOLATION_TEST = """
import hashlib
import os

def test_runs_as_the_owner_without_platform_secrets():
    assert os.geteuid() != 0
    leaked = [k for k in os.environ if k.startswith(("JUPYTERHUB_", "TWINHUB_"))]
    assert not leaked, leaked
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    # as `make up` keeps state/ in the checkout, below a pyproject.toml with pytest settings
    checkout = tmp_path_factory.mktemp("checkout")
    (checkout / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    state = checkout / "state"
    state.mkdir(mode=0o700)
    # users pass through to their homes, as in <state>: o+x added, nothing taken away (a
    # chmod 0711 of the folders above made the machine's /tmp unwritable for every account)
    open_passages([state])
    settings = Settings.from_env({**os.environ, "TWINHUB_STATE_DIR": str(state)})
    sessions = open_database(f"sqlite:///{state / 'registry.sqlite'}")
    store = Store(sessions)
    store.create_profile(ADMIN, {"slug": "small", "display_name": "S", "cpu": 1, "memory": "1G"})
    publisher = Publisher(store, state, settings)
    twin = new_twin(NAME, tmp_path_factory.mktemp("alice"), "alice")
    (twin / "test_isolation.py").write_text(ISOLATION_TEST)
    # the executor's side: claims queued versions and builds them (in-process here)
    builder, stop = Builder(sessions, settings), threading.Event()

    def build_queued() -> None:
        while not stop.is_set():
            if builder.build_next() is None:
                stop.wait(0.2)

    thread = threading.Thread(target=build_queued, daemon=True)
    thread.start()
    yield publisher, twin, settings
    stop.set()
    thread.join()


def finished(publisher: Publisher, number: int) -> dict:
    return wait_for(
        lambda: publisher.get_version(ALICE, NAME, number),
        timeout=300,
        interval=1,
        until=lambda v: v["state"] not in ("queued", "building", "testing"),
        message=f"version {number} built and tested",
    )


def test_publish_serve_refuse_broken_rollback(world, monkeypatch) -> None:
    publisher, twin, settings = world
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "platform-secret")  # must not reach the twin
    v1 = publisher.upload(ALICE, NAME, pack(twin))
    assert (v1["version"], v1["state"], v1["owner"]) == (1, "queued", "alice")
    done = finished(publisher, 1)
    assert done["state"] == "served", done["log"]
    assert "3 passed" in done["log"]  # the template's two tests and the isolation test
    python = runtime_python(NAME, settings)
    assert python.is_relative_to(settings.state_dir / "published" / NAME)
    if os.geteuid() == 0:  # root wrote nothing in the owner's folder once it was theirs
        version = settings.state_dir / "published" / NAME / "1"
        owner = version.stat().st_uid
        strays = [p for p in version.rglob("*") if p.lstat().st_uid != owner]
        assert owner != 0 and strays == [version / "build.log"], strays
    # private: its owner sees it, nobody else (not even its name's versions)
    assert twin_record(publisher.store.get_twin(ALICE, NAME)).source == "published"
    with pytest.raises(NotFound):
        publisher.list_versions(BOB, NAME)
    with pytest.raises(Conflict, match="version 1"):  # immutable: the same archive again
        publisher.upload(ALICE, NAME, pack(twin))

    # its data files: a STAC Item with each file's size and checksum, visible as the twin is
    base = f"http://registry/api/twins/{NAME}/data"
    item = pystac.Item.from_dict(publisher.data_item(ALICE, NAME, base))
    sample = (twin / "data" / "sample.csv").read_bytes()
    asset = item.assets["sample.csv"]
    assert asset.href == f"{base}/sample.csv" and asset.media_type == "text/csv"
    assert asset.extra_fields["file:checksum"] == "1220" + hashlib.sha256(sample).hexdigest()
    assert b"".join(chunks(publisher.data_file(ALICE, NAME, "sample.csv"))) == sample
    for hostile in ("../twin.yaml", "../../1/source.tar.gz", "/etc/passwd"):
        with pytest.raises(NotFound):
            publisher.data_file(ALICE, NAME, hostile)
    with pytest.raises(NotFound):
        publisher.data_item(BOB, NAME, base)

    # version 2 is shared with the group "team"
    manifest = (twin / "twin.yaml").read_text()
    (twin / "twin.yaml").write_text(
        manifest.replace("visibility: private", "visibility: {groups: [team]}").replace(
            "version: 0.1.0", "version: 0.2.0"
        )
    )
    assert publisher.upload(ALICE, NAME, pack(twin))["version"] == 2
    assert finished(publisher, 2)["state"] == "served"
    assert [v["state"] for v in publisher.list_versions(BOB, NAME)] == ["ready", "served"]
    assert publisher.store.get_twin(BOB, NAME).version == "0.2.0"
    assert "sample.csv" in publisher.data_item(BOB, NAME, "http://registry")["assets"]
    with pytest.raises(NotFound):
        publisher.data_item(CAROL, NAME, "http://registry")
    assert "log" not in publisher.get_version(BOB, NAME, 2)  # the build log is the owner's
    with pytest.raises(NotFound):
        publisher.get_version(CAROL, NAME, 2)
    with pytest.raises(NotFound):
        publisher.store.get_twin(CAROL, NAME)
    with pytest.raises(Conflict, match="another user"):
        publisher.upload(CAROL, NAME, pack(twin))
    with pytest.raises(NotFound):
        publisher.serve(BOB, NAME, 1)  # seeing is not changing

    # version 3 is broken: its model fails its own test; version 2 stays served
    model = twin / "model.py"
    model.write_text(model.read_text().replace("(tmean > threshold)", "(tmean > threshold + 1)"))
    assert publisher.upload(ALICE, NAME, pack(twin))["version"] == 3
    broken = finished(publisher, 3)
    assert broken["state"] == "failed"
    assert "1 failed" in broken["log"] and "test_running_mean" in broken["log"]
    assert publisher.store.get_twin(BOB, NAME).version == "0.2.0"
    assert (settings.state_dir / "published" / NAME / "served").readlink() == Path("2")
    with pytest.raises(Conflict, match="failed"):
        publisher.serve(ALICE, NAME, 3)

    # rollback to version 1: private again, its manifest and environment served
    assert publisher.serve(ALICE, NAME, 1)["state"] == "served"
    assert [v["state"] for v in publisher.list_versions(ALICE, NAME)] == [
        "served", "ready", "failed",
    ]  # fmt: skip
    assert publisher.store.get_twin(ALICE, NAME).version == "0.1.0"
    served = settings.state_dir / "published" / NAME / "served"
    assert served.resolve() == served.with_name("1").resolve()
    assert runtime_python(NAME, settings) == served / "env" / "bin" / "python"


def test_refused_uploads_store_nothing(world, tmp_path: Path) -> None:
    publisher, twin, _ = world
    folder = tmp_path / "pub-other"
    new_twin("pub-other", tmp_path, "alice")
    with pytest.raises(Invalid) as e:  # the URL names another twin
        publisher.upload(ALICE, "pub-wrong", pack(folder))
    assert e.value.detail[0][0] == "name"
    with pytest.raises(Invalid) as e:  # bob cannot publish a twin listing only alice
        publisher.upload(BOB, "pub-other", pack(folder))
    assert e.value.detail[0][0] == "maintainers"
    (folder / "link").symlink_to("/etc/passwd")
    archive = tmp_path / "hostile.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=".")
    with pytest.raises(Invalid) as e:
        publisher.upload(ALICE, "pub-other", archive.read_bytes())
    assert "no links" in e.value.detail[0][1]
    with pytest.raises(NotFound):
        publisher.list_versions(ALICE, "pub-other")
    assert not list((publisher.state_dir / "published").glob("*/.upload-*"))


def test_the_registry_account_reads_the_data_and_nothing_else_of_a_version(world) -> None:
    """Issue 16 section 1: the registry runs as the platform's account. The launcher gives it
    ``published/`` (an older registry, run as root, left it root's) and shares each built
    version's data files with its group: it reads those and stores new uploads; not the
    version's code, environment or build log, which are the owner's. (After the first test.)"""
    publisher, _, settings = world
    if os.geteuid() != 0:
        pytest.skip("one account runs everything when the platform is not root")
    platform = ensure_service_account(settings.platform_account, platform_home(settings))
    published = settings.state_dir / "published"
    version = published / NAME / "1"
    for path in (published, published / NAME):  # as an older version left them
        os.chown(path, 0, 0)
        os.chmod(path, 0o700)
    owner = version.stat()
    for path in (version, version / "src", *(version / "src" / "data").rglob("*")):
        os.chown(path, owner.st_uid, owner.st_gid)
        os.chmod(path, 0o700)
    prepare_registry_folders(settings.state_dir, platform.uid, platform.gid)

    data = version / "src" / "data" / "sample.csv"
    private = [version / "src" / "model.py", version / "env" / "pyvenv.cfg", version / "build.log"]
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(published / NAME), str(data), *map(str, private)],
        user=platform.uid, group=platform.gid, extra_groups=[],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert probe.stdout.split() == ["made", "read", *["refused"] * len(private)], (
        probe.stdout + probe.stderr
    )


PROBE = """
import os, sys, tempfile
os.rmdir(tempfile.mkdtemp(prefix=".upload-", dir=sys.argv[1]))
print("made")
for path in sys.argv[2:]:
    try:
        open(path, "rb").read(1)
        print("read")
    except OSError:
        print("refused")
"""


def _registry_without_executor(tmp_path: Path) -> tuple[Settings, Any, Publisher]:
    """A registry's publishing side on a fresh state dir with one profile: uploads queue
    builds that no executor claims until the test plays one (``claim_build``, ``Executor``)."""
    state = tmp_path / "state"
    state.mkdir()
    settings = Settings.from_env({**os.environ, "TWINHUB_STATE_DIR": str(state)})
    sessions = open_database(f"sqlite:///{state / 'registry.sqlite'}")
    store = Store(sessions)
    store.create_profile(ADMIN, {"slug": "small", "display_name": "S", "cpu": 1, "memory": "1G"})
    return settings, sessions, Publisher(store, state, settings)


def test_a_build_the_executor_left_is_failed_when_it_restarts(tmp_path: Path) -> None:
    """Issue 16 section 1: the executor builds, the registry only queues. A build a dead
    executor left ``building`` fails with its reason when the next executor starts; a queued
    one waits for it, and is then claimed once only."""
    settings, sessions, publisher = _registry_without_executor(tmp_path)
    twin = new_twin("pub-left", tmp_path, "alice")
    assert publisher.upload(ALICE, "pub-left", pack(twin))["state"] == "queued"
    assert claim_build(sessions) is not None  # an executor took it, then died
    (twin / "README.md").write_text("another archive\n")
    assert publisher.upload(ALICE, "pub-left", pack(twin))["state"] == "queued"

    Executor(settings, sessions).recover()  # the next executor starts
    left, waiting = publisher.list_versions(ALICE, "pub-left")
    assert left["state"] == "failed" and waiting["state"] == "queued"
    assert publisher.get_version(ALICE, "pub-left", 1)["log"].strip().endswith(INTERRUPTED)
    assert claim_build(sessions) is not None and claim_build(sessions) is None  # once only
    assert [v["state"] for v in publisher.list_versions(ALICE, "pub-left")] == [
        "failed", "building",
    ]  # fmt: skip


def test_the_archive_of_a_failed_build_is_published_again_as_a_new_version(
    tmp_path: Path,
) -> None:
    """Issue 17 section 4: a build can fail for the platform's reasons (a timeout, an executor
    restart). Its owner publishes the same folder again: a new version, built afresh, saying
    which failed one it repeats; the same archive while that one waits, or once it is served,
    is still refused, saying what to do instead."""
    settings, sessions, publisher = _registry_without_executor(tmp_path)
    archive = pack(new_twin("pub-again", tmp_path, "alice"))
    assert publisher.upload(ALICE, "pub-again", archive)["version"] == 1
    assert claim_build(sessions) is not None  # an executor took it, then died
    with pytest.raises(Conflict, match=r"version 1 of 'pub-again' already \(building\): wait"):
        publisher.upload(ALICE, "pub-again", archive)
    Executor(settings, sessions).recover()  # the next executor fails what was left

    again = publisher.upload(ALICE, "pub-again", archive)
    assert (again["version"], again["state"], again["rebuild_of"]) == (2, "queued", 1)
    assert again["sha256"] == publisher.get_version(ALICE, "pub-again", 1)["sha256"]
    stored = publisher.state_dir / "published" / "pub-again"
    assert (stored / "2" / "source.tar.gz").read_bytes() == archive  # its own, fresh folder
    with pytest.raises(Conflict, match=r"version 2 of 'pub-again' already \(queued\)"):
        publisher.upload(ALICE, "pub-again", archive)
    with pytest.raises(Conflict, match="another user"):  # a retry is the owner's only
        publisher.upload(CAROL, "pub-again", archive)
    assert [v["state"] for v in publisher.list_versions(ALICE, "pub-again")] == [
        "failed", "queued",
    ]  # fmt: skip

    version = claim_build(sessions)  # this time the build passes: served as the executor does
    serve_version(publisher.store, publisher.state_dir, "pub-again", 2)
    with pytest.raises(Conflict, match=r"\(served\): change a file"):
        publisher.upload(ALICE, "pub-again", archive)
    assert version is not None and len(publisher.list_versions(ALICE, "pub-again")) == 2


def test_a_published_twins_dashboard_runs_as_its_owner(world) -> None:
    """Issue 17 section 4: the dashboard router starts a published twin's process as its
    owner's account (the one its build ran as), with her home and only her own group; a new
    served version gets a new process; a version no hub user's account owns is not run; and
    the platform's twins stay with the dashboards' account. (After the test above: version 1
    served, 2 ready.)"""
    publisher, _, settings = world
    if os.geteuid() != 0:
        pytest.skip("one account runs everything when the platform is not root")
    owner = ensure_account(settings.state_dir, settings.account_prefix,
                           home_dir_template(settings), "alice")  # fmt: skip
    launch = launch_for(settings, PREFIX)
    assert twin_runtime(settings, "not-published").account == settings.apps_account
    foreign = settings.state_dir / "published" / "pub-foreign"
    (foreign / "1" / "env").mkdir(parents=True)  # root's, as no build leaves a version
    (foreign / "served").symlink_to("1")

    async def scenario() -> None:
        supervisor = Supervisor(launch, start_seconds=120)
        try:
            manifest = publisher.store.get_twin(ALICE, NAME).manifest
            first = await supervisor.get(NAME, manifest)
            process = psutil.Process(first.pid)
            assert process.uids().real == process.uids().effective == owner.uid
            assert process.gids().real == process.gids().effective == owner.gid
            assert groups_of(first.pid) == {owner.gid}
            assert process.cwd() == owner.home
            environment = process.environ()
            assert environment["HOME"] == owner.home
            assert not [k for k in environment if k.startswith("JUPYTERHUB_API")]
            served = settings.state_dir / "published" / NAME / "1" / "env" / "bin" / "python"
            assert process.cmdline()[0] == str(served) and process.cmdline()[-1] == NAME
            assert (await supervisor.get(NAME, manifest)) is first  # one process serves

            publisher.serve(ALICE, NAME, 2)  # another version: another process
            manifest = publisher.store.get_twin(ALICE, NAME).manifest
            second = await supervisor.get(NAME, manifest)
            assert second is not first and first.process.has_ended()
            assert psutil.Process(second.pid).uids().real == owner.uid
            assert "/2/env/" in psutil.Process(second.pid).cmdline()[0]

            with pytest.raises(Unavailable) as refused:
                await supervisor.get("pub-foreign", {**manifest, "name": "pub-foreign"})
            assert refused.value.status == 502 and "no hub user" in refused.value.message
        finally:
            await supervisor.close()
            publisher.serve(ALICE, NAME, 1)

    asyncio.run(scenario())


def groups_of(pid: int) -> set[int]:
    """The process's supplementary groups (and its own), from the kernel."""
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("Groups:"))
    gid = next(x for x in status.splitlines() if x.startswith("Gid:")).split()[1]
    return {int(g) for g in line.split()[1:]} | {int(gid)}


def test_uploads_at_the_same_time_each_get_a_version_or_a_409(tmp_path: Path) -> None:
    """Every input is hostile, timing too: uploads of one twin at once (a double click, a
    script) are numbered one after another, and the same archive at once is one version; the
    others hear 409, never a 500, and every version's folder holds its own archive."""
    _, _, publisher = _registry_without_executor(tmp_path)
    folder = new_twin("pub-crowd", tmp_path, "alice")
    archives = []
    for i in range(4):
        (folder / "data" / "extra.txt").write_text(f"upload {i}\n")
        archives.append(pack(folder))
    outcomes: list[Any] = []

    def upload_all(batch: list[bytes]) -> list[Any]:
        start = threading.Barrier(len(batch))

        def one(data: bytes) -> None:
            start.wait()
            try:
                outcomes.append(publisher.upload(ALICE, "pub-crowd", data))
            except Exception as e:  # noqa: BLE001 - what a request would answer
                outcomes.append(e)

        threads = [threading.Thread(target=one, args=(data,)) for data in batch]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done = list(outcomes)
        outcomes.clear()
        return done

    different = upload_all(archives)
    assert all(isinstance(o, dict) for o in different), different
    assert sorted(o["version"] for o in different) == [1, 2, 3, 4]
    (folder / "data" / "extra.txt").write_text("the same archive, four times\n")
    same = upload_all([pack(folder)] * 4)
    accepted = [o for o in same if isinstance(o, dict)]
    assert len(accepted) == 1 and accepted[0]["version"] == 5, same
    assert all(isinstance(o, Conflict) for o in same if o not in accepted), same
    stored = publisher.state_dir / "published" / "pub-crowd"
    for v in publisher.list_versions(ALICE, "pub-crowd"):
        data = (stored / str(v["version"]) / "source.tar.gz").read_bytes()
        assert hashlib.sha256(data).hexdigest() == v["sha256"]
    assert not list(stored.glob(".upload-*"))
