"""An unusable state directory at start-up: the launcher says which directory and why, once.

Tested through the launcher (`make up`), as an operator meets it: a file where the directory
should be, a full disk and a read-only disk (small tmpfs mounts; root ignores permission bits,
so a chmod would prove nothing). Exit status 2 and no hub started: nothing to loop on.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.launcher import launch


def assert_refused(done: subprocess.CompletedProcess, seconds: float, state_dir: Path) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert str(state_dir) in done.stderr  # names the directory
    assert "TWINHUB_STATE_DIR" in done.stderr  # and says how to choose another
    assert "starting the gateway" not in done.stdout  # the hub was never started
    assert seconds < 30


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[callable]:
    mounts: list[Path] = []

    def mount(options: str) -> Path:
        point = tmp_path / f"mnt{len(mounts)}"
        point.mkdir()
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_file_where_the_state_dir_should_be(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("not a directory")
    done, seconds = launch(state)
    assert_refused(done, seconds, state)
    assert "is a file, not a directory" in done.stderr


def test_full_disk(tiny_tmpfs) -> None:
    point = tiny_tmpfs("size=64k,mode=0700")
    state = point / "state"
    state.mkdir()
    fd = os.open(point / "filler", os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk to the last block
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    done, seconds = launch(state)
    assert_refused(done, seconds, state)
    assert "No space left on device" in done.stderr


def test_read_only_disk(tiny_tmpfs) -> None:
    point = tiny_tmpfs("size=1m,mode=0700")
    (point / "state").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
    done, seconds = launch(point / "state")
    assert_refused(done, seconds, point / "state")
    assert "Read-only file system" in done.stderr
