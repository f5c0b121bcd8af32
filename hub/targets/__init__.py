"""Deployment targets: where user servers and Dask clusters run, chosen in configuration.

A target is a module of this package with two pure functions from :class:`Settings` to a
traitlets ``Config``: ``spawner_config`` (merged by ``jupyterhub_config.py``) and
``dask_backend_config`` (merged by ``dask_gateway_config.py``). ``TWINHUB_SPAWNER`` and
``TWINHUB_DASK_BACKEND`` name the module, so a new engine (PBS, another scheduler) is one more
module rather than a branch through the config files, the way dask-gateway's backends are
plug-ins behind one interface.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from traitlets.config import Config

from ..settings import TARGETS, Settings


def target(name: str) -> ModuleType:
    """The module of target ``name`` (one of :data:`TARGETS`)."""
    if name not in TARGETS:
        raise ValueError(f"unknown deployment target {name!r}: choose one of {', '.join(TARGETS)}")
    return importlib.import_module(f"{__name__}.{name}")


def spawner_config(settings: Settings) -> Config:
    """JupyterHub config of the target chosen by TWINHUB_SPAWNER."""
    return target(settings.spawner).spawner_config(settings)


def dask_backend_config(settings: Settings) -> Config:
    """dask-gateway-server config of the target chosen by TWINHUB_DASK_BACKEND."""
    return target(settings.dask_backend).dask_backend_config(settings)


def home_dir_template(settings: Settings) -> str:
    """Users' home directories when every server runs under the operator's one account."""
    return str(settings.state_dir / "users" / "{username}")
