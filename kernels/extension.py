"""IPython extension of the "twinhub (Python 3)" kernel: a session ready for a twin.

Loaded by the kernelspec (``--ext twinhub.kernels.extension``) or with
``%load_ext twinhub.kernels.extension``. It defines ``twin``, ``catalog`` and ``cluster()`` in
the user's namespace, the ``%twin NAME`` magic to switch twins, and a progress bar for Dask
computations that take more than a second.
"""

from __future__ import annotations

import atexit
from typing import Any

from twinhub.kernels.session import Session

_session: Session | None = None
_progress: Any = None


def _publish(ip, session: Session) -> None:
    ip.push({"twin": session.twin, "catalog": session.catalog, "cluster": session.cluster})


def load_ipython_extension(ip) -> None:
    global _session, _progress
    _session = Session.from_env()
    _publish(ip, _session)

    def twin_magic(line: str):
        """%twin NAME: switch the session to twin NAME (sets twin and catalog)."""
        name = line.strip()
        if not name:
            return _session.twin
        twin = _session.use(name)
        _publish(ip, _session)
        return twin

    ip.register_magic_function(twin_magic, magic_kind="line", magic_name="twin")

    # progress bar for computations on the local schedulers (distributed has its own widgets)
    from dask.diagnostics import ProgressBar

    _progress = ProgressBar(minimum=1.0)
    _progress.register()
    from dask.distributed import progress

    ip.push({"progress": progress})
    atexit.register(_session.close)


def unload_ipython_extension(ip) -> None:
    global _session, _progress
    if _progress is not None:
        _progress.unregister()
        _progress = None
    if _session is not None:
        _session.close()
        _session = None
