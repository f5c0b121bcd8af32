"""The local target: user servers and Dask clusters are processes on this machine (`make up`)."""

from __future__ import annotations

from traitlets.config import Config

from ..settings import Settings
from . import home_dir_template

SPAWNER_CLASS = "jupyterhub.spawner.SimpleLocalProcessSpawner"


def spawner_config(settings: Settings) -> Config:
    c = Config()
    c.JupyterHub.spawner_class = SPAWNER_CLASS
    c.SimpleLocalProcessSpawner.home_dir_template = home_dir_template(settings)
    return c


def dask_backend_config(settings: Settings) -> Config:
    c = Config()
    # local processes of the gateway's account: one machine, one operator account; schedulers
    # are forked from a process that has already imported Dask (hub/dask_prefork.py)
    c.DaskGateway.backend_class = "twinhub.hub.dask_prefork.PreforkLocalBackend"
    c.LocalBackend.clusters_directory = str(settings.state_dir / "dask-gateway" / "clusters")
    return c
