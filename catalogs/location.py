"""Where built data live: ``$TWINHUB_STATE_DIR/data`` (default ``state/data`` in the checkout).

Resolved at run time from the operator settings, never written into a catalog file, so the
same catalog works on a laptop, in a container and on a cluster.
"""

from __future__ import annotations

from pathlib import Path

from twinhub.contracts.settings import Settings

DATA_DIR_ENV = Settings.variable("data_dir")
"""Optional override of the data folder alone (e.g. a shared read-only volume)."""


def data_dir(settings: Settings | None = None) -> Path:
    """The folder holding the built zarr stores: ``TWINHUB_DATA_DIR``, else ``<state>/data``
    of ``settings`` (default: read from the environment)."""
    return (settings or Settings.from_env()).data_path
