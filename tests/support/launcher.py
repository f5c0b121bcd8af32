"""Run the launcher (`make up`'s ``python -m twinhub.hub.launch``) as an operator does, for
tests of what it refuses before any hub starts."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.support.gateway import launcher_command, launcher_env


def launch(
    state_dir: Path, extra: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess, float]:
    """The launcher's result and seconds, on free ports (but for ``extra`` variables),
    expected to refuse (60 s at most)."""
    start = time.monotonic()
    with subprocess.Popen(
        launcher_command(),
        env=launcher_env(state_dir, extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            # it did not refuse: stop what it started as Ctrl-C does, then fail the test
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=150)
            raise AssertionError(f"the launcher did not refuse:\n{stdout}\n{stderr}") from None
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return done, time.monotonic() - start
