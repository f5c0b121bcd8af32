"""Worker preload of the dashboard service's cluster: its workers compute at a lower CPU priority.

The service's process holds what users wait on interactively: the pages, the Dask scheduler
and the runs' Python between their tasks (a dashboard run alternates short bursts there with
tasks on the workers). The workers' threads compute without the GIL and can use every core;
at equal priority a user's large run leaves a newcomer's small run waiting for CPU in the
service's process, although Dask gave the small run the next free worker thread (measured:
0.33 s passed before the first task of a 0.2 s run reached the worker, beside a large run on
2 cores). At ``NICENESS`` the workers yield the CPU to the service (and to the hub, proxy and
registry on the same machine) and still get all of it when nobody else needs it.
"""

from __future__ import annotations

import os
from typing import Any

NICENESS = 10


def dask_setup(worker: Any = None) -> None:
    """Lower this worker process's priority: every thread it has now (Linux schedules threads
    one by one), and the threads it starts later, which inherit their creator's."""
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:  # no /proc: the process (all threads, elsewhere than Linux)
        threads = [0]
    for tid in threads:
        try:
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, max(current, NICENESS))
        except OSError:  # a thread that has ended meanwhile
            pass
