"""Bring your own twin through the real hub: alice scaffolds and publishes a twin with her token
as her unix account (the CLI she runs in her server), the run executor builds and tests it, the
registry serves it; lena (in the group) sees it and its data, carol (not in it) gets 404; a broken
version is refused and the served one stays. (Rollback, ownership and hostile archives:
tests/unit/test_publish_versions.py and test_publish_archive.py, in-process.)"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest
from twinhub.extensions.accounts import ensure_account, home_dir_template
from twinhub.extensions.registry.config import default_database

from tests.support.publishing import as_user, user_home

from .conftest import Registry

pytestmark = pytest.mark.integration
NAME = "alices-twin"


def as_alice(registry: Registry, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``twinhub ...`` as alice's unix account (when root), with only her token and the hub."""
    return as_user(registry.gateway, registry.users["alice"], *args, cwd=cwd)


def test_alice_publishes_lena_sees_carol_does_not_broken_is_refused(registry: Registry) -> None:
    gw = registry.gateway
    home = user_home(gw, "alice")
    made = as_alice(registry, "new", NAME, cwd=home)
    assert made.returncode == 0, made.stderr
    folder = home / NAME
    manifest = folder / "twin.yaml"
    manifest.write_text(
        manifest.read_text().replace("visibility: private", "visibility: {groups: [lab]}")
    )
    published = as_alice(registry, "publish", cwd=folder)
    assert published.returncode == 0, published.stdout + published.stderr
    assert "version 1 is served" in published.stdout

    with registry.client("lena") as lena:
        twins = lena.get("/twins", params={"q": NAME}).json()["items"]
        assert [t["name"] for t in twins] == [NAME]
        item = lena.get(f"/twins/{NAME}/data").json()
        href = item["assets"]["sample.csv"]["href"]
        assert lena.get(href).content == (folder / "data" / "sample.csv").read_bytes()
    with registry.client("carol") as carol:
        for path in (f"/twins/{NAME}", f"/twins/{NAME}/versions", f"/twins/{NAME}/data"):
            assert carol.get(path).status_code == 404, path
        assert NAME not in carol.get("/twins").text

    # a broken version (its own test fails) is refused; version 1 stays served
    model = folder / "model.py"
    model.write_text(model.read_text().replace("(tmean > threshold)", "(tmean > threshold + 1)"))
    broken = as_alice(registry, "publish", cwd=folder)
    assert broken.returncode == 1
    assert "version 2 failed: the served version is unchanged" in broken.stderr
    assert "test_running_mean" in broken.stderr  # the log tail shows why
    listed = as_alice(registry, "versions", NAME, cwd=folder)
    states = [line.split()[:2] for line in listed.stdout.splitlines()]
    assert states == [["1", "served"], ["2", "failed"]]


def test_alices_twins_dashboard_runs_as_alice_for_lena(registry: Registry) -> None:
    """Issue 17 section 4: lena opens alice's published twin; its dashboard process runs as
    alice's unix account, with her group alone, and a platform twin's as the dashboards'
    account. With those credentials nothing of the platform's state, nor the other twin's
    process, can be read. (After the test above, which publishes it.)"""
    gw = registry.gateway
    s = gw.settings
    if os.geteuid() != 0:
        pytest.skip("one account runs every process when the platform is not root")
    alice = ensure_account(s.state_dir, s.account_prefix, home_dir_template(s), "alice")
    apps = pwd.getpwnam(s.apps_account)
    lena = registry.users["lena"]
    with gw.client(cookies=lena.cookies) as c:
        for twin in (NAME, "growth"):
            r = c.get(f"/services/twinhub-apps/{twin}", follow_redirects=True)
            assert r.status_code == 200, (twin, r.status_code, r.text[:300])
    (published,), (shipped,) = gw.twin_processes(NAME), gw.twin_processes("growth")
    assert credentials(published.pid) == (alice.uid, alice.gid, set())
    assert credentials(shipped.pid) == (apps.pw_uid, apps.pw_gid, set())
    assert published.cwd() == alice.home
    assert "JUPYTERHUB_API_TOKEN" not in published.environ()

    secrets = [p for p in gw.secrets_dir.iterdir() if p.is_file()]
    assert secrets
    private = [*secrets, default_database(s.state_dir), Path(f"/proc/{shipped.pid}/environ")]
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, private)],
        user=alice.uid, group=alice.gid, extra_groups=[],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert probe.returncode == 0 and probe.stdout.split() == ["refused"] * len(private), (
        probe.stdout + probe.stderr
    )


PROBE = """
import sys
for path in sys.argv[1:]:
    try:
        open(path, "rb").read(1)
        print("read:" + path)
    except OSError:
        print("refused")
"""


def credentials(pid: int) -> tuple[int, int, set[int]]:
    """Real=effective uid and gid and the supplementary groups, as the kernel holds them."""
    fields = {
        k: v.split() for k, _, v in (line.partition(":") for line in
        Path(f"/proc/{pid}/status").read_text().splitlines())
    }  # fmt: skip
    uids, gids = set(fields["Uid"]), set(fields["Gid"])
    assert len(uids) == len(gids) == 1, (uids, gids)  # real, effective, saved, filesystem
    return int(uids.pop()), int(gids.pop()), {int(g) for g in fields["Groups"]}
