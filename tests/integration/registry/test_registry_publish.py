"""Bring your own twin through the real hub: alice scaffolds and publishes a twin with her token
as her unix account (the CLI she runs in her server), the registry builds and tests it and
serves it; lena (in the group) sees it and its data, carol (not in it) gets 404; a broken
version is refused and the served one stays. (Rollback, ownership and hostile archives:
tests/unit/test_publish_versions.py and test_publish_archive.py, in-process.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from twinhub.extensions.accounts import ensure_account, home_dir_template

from .conftest import Registry

pytestmark = pytest.mark.integration
NAME = "alices-twin"


def as_alice(registry: Registry, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``twinhub ...`` as alice's unix account (when root), with only her token and the hub."""
    gw = registry.gateway
    ids = {}
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(cwd),
        "JUPYTERHUB_API_TOKEN": registry.users["alice"].token,
        "JUPYTERHUB_USER": "alice",  # as in her server
        "TWINHUB_URL": gw.url,
    }
    if os.geteuid() == 0:
        s = gw.settings
        account = ensure_account(s.state_dir, s.account_prefix, home_dir_template(s), "alice")
        ids = {"user": account.uid, "group": account.gid, "extra_groups": []}
    twinhub = str(Path(sys.executable).parent / "twinhub")
    return subprocess.run(
        [twinhub, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **ids
    )


def test_alice_publishes_lena_sees_carol_does_not_broken_is_refused(registry: Registry) -> None:
    gw = registry.gateway
    s = gw.settings
    if os.geteuid() == 0:
        home = Path(
            ensure_account(s.state_dir, s.account_prefix, home_dir_template(s), "alice").home
        )
    else:
        home = s.state_dir / "alice-home"
        home.mkdir()
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
