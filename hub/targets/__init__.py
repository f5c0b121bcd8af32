"""Deployment targets: where user servers and Dask clusters run, chosen in configuration.

A target is a module of this package with two pure functions from :class:`Settings` to a
traitlets ``Config``: ``spawner_config`` (merged by ``jupyterhub_config.py``) and
``dask_backend_config`` (merged by ``dask_gateway_config.py``). ``TWINHUB_SPAWNER`` and
``TWINHUB_DASK_BACKEND`` name the module, so a new engine (PBS, another scheduler) is one more
module rather than a branch through the config files, the way dask-gateway's backends are
plug-ins behind one interface.

``accounts_config`` and ``home_dir_template`` (whose unix account runs a user's processes) live
with the accounts in :mod:`twinhub.extensions.accounts`; they are imported here for the targets.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from traitlets.config import Config
from twinhub.contracts.settings import TARGETS, Settings
from twinhub.extensions.accounts import accounts_config


def target(name: str) -> ModuleType:
    """The module of target ``name`` (one of :data:`TARGETS`)."""
    if name not in TARGETS:
        raise ValueError(f"unknown deployment target {name!r}: choose one of {', '.join(TARGETS)}")
    return importlib.import_module(f"{__name__}.{name}")


PROFILE_SPAWNER_CLASS = "twinhub.extensions.spawners.profile.TwinhubProfileSpawner"


def spawner_config(settings: Settings) -> Config:
    """JupyterHub config of the target chosen by TWINHUB_SPAWNER.

    With TWINHUB_SLURM=1 (and servers not all on Slurm already), the hub's spawner becomes
    :class:`~twinhub.extensions.spawners.profile.TwinhubProfileSpawner`: servers of a profile
    with Slurm resources are batch jobs, the others run on the TWINHUB_SPAWNER target.
    """
    c = target(settings.spawner).spawner_config(settings)
    c.merge(accounts_config(settings))
    if settings.slurm_profiles and settings.spawner != "slurm":
        slurm = target("slurm")
        c.merge(slurm.slurm_spawner_config(settings))
        c.JupyterHub.spawner_class = PROFILE_SPAWNER_CLASS
        c.TwinhubProfileSpawner.targets = {
            settings.spawner: target(settings.spawner).SPAWNER_CLASS,
            "slurm": slurm.SPAWNER_CLASS,
        }
        c.TwinhubProfileSpawner.default_target = settings.spawner
    return c


def dask_backend_config(settings: Settings, name: str | None = None) -> Config:
    """dask-gateway-server config of target ``name`` (default: TWINHUB_DASK_BACKEND's)."""
    c = target(name or settings.dask_backend).dask_backend_config(settings)
    c.merge(accounts_config(settings))
    return c
