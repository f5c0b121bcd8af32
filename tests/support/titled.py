"""Programs that stand in for a Dask scheduler where only its process matters: titled as
distributed titles its processes, so Slurm's proctrack/linuxproc cannot see them."""

from __future__ import annotations

SCHEDULER_LIKE = """
import subprocess, sys, time
from setproctitle import setproctitle
setproctitle("dask scheduler [tls://127.0.0.1:1]")
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
print(child.pid, flush=True)
time.sleep(300)
"""
"""Titles itself with a space in the name (as ``dask scheduler [...]``), starts a child, prints
the child's pid once both run, then sleeps."""

IGNORING_TERM = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + SCHEDULER_LIKE
"""The same, deaf to SIGTERM (and so is its child): only SIGKILL ends them."""
