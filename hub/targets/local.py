"""The local target: user servers and Dask clusters are processes on this machine (`make up`).

A platform run as root gives each hub user a unix account of their own (extensions/accounts.py):
their server (:class:`~twinhub.extensions.spawners.local.TwinhubLocalSpawner`) and their Dask
schedulers and workers
(:class:`~twinhub.extensions.gateway_backends.prefork.PreforkLocalBackend`) run as it.
"""

from __future__ import annotations

from traitlets.config import Config
from twinhub.contracts.settings import Settings
from twinhub.extensions.accounts import home_dir_template

SPAWNER_CLASS = "twinhub.extensions.spawners.local.TwinhubLocalSpawner"


def spawner_config(settings: Settings) -> Config:
    c = Config()
    c.JupyterHub.spawner_class = SPAWNER_CLASS
    c.TwinhubLocalSpawner.home_dir_template = home_dir_template(settings)
    return c


def dask_backend_config(settings: Settings) -> Config:
    c = Config()
    # local processes of each user's account; schedulers are forked from a process that has
    # already imported Dask (extensions/gateway_backends/prefork.py)
    c.DaskGateway.backend_class = "twinhub.extensions.gateway_backends.prefork.PreforkLocalBackend"
    # in the twin runtime, as the stock `dask scheduler` command (hub/dask_gateway_config.py)
    c.PreforkLocalBackend.zygote_python = str(settings.twin_bin / "python")
    c.LocalBackend.clusters_directory = str(settings.state_dir / "dask-gateway" / "clusters")
    return c
