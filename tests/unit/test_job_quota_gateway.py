"""One Dask budget per user, seen from both sides: the run executor reads the gateway's
clusters (a database dask-gateway-server itself wrote), and the gateway's quota check counts
the user's running jobs (the registry's database, real SQLite files both).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from dask_gateway_server.backends.base import PublicException
from dask_gateway_server.backends.db_base import DataManager
from dask_gateway_server.backends.local import UnsafeLocalBackend
from sqlalchemy.orm import sessionmaker
from twinhub.extensions.executor.gateway_usage import GatewayClusters
from twinhub.extensions.gateway_backends.quotas import with_user_quotas
from twinhub.extensions.registry import jobs
from twinhub.extensions.registry.db import open_database
from twinhub.extensions.registry.discovery import load_profiles_file
from twinhub.extensions.registry.store import Store
from twinhub.twins.manifest import load_manifest

REPO = Path(__file__).resolve().parents[2]
CONFIG = {
    "scheduler_cores": 1,
    "worker_cores": 2,
    "scheduler_memory": 2**30,
    "worker_memory": 2**30,
}


@pytest.fixture
def gateway_db(tmp_path: Path) -> tuple[str, DataManager]:
    url = f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    return url, DataManager(url, encrypt_keys=[Fernet.generate_key()])


@pytest.fixture
def registry(tmp_path: Path) -> tuple[str, sessionmaker]:
    url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    store = Store(open_database(url))
    load_profiles_file(store, REPO / "hub" / "profiles.yaml")
    store.upsert_discovered_twin(load_manifest(REPO / "twins" / "lattice" / "twin.yaml"))
    return url, store.sessions


def test_the_executor_counts_the_users_active_gateway_clusters(
    gateway_db: tuple[str, DataManager], tmp_path: Path
) -> None:
    url, gateway = gateway_db
    assert GatewayClusters(f"sqlite:///{tmp_path / 'none.sqlite'}")("alice") == jobs.Usage()
    assert not (tmp_path / "none.sqlite").exists()  # not created by reading
    one, two, _ = asyncio.run(_create(gateway, "alice", "alice", "bob"))
    gateway.update_cluster(one, count=2)  # scaled to two workers of two cores
    clusters = GatewayClusters(url)
    assert clusters("alice") == jobs.Usage(clusters=2, cores=1 + 2 * 2 + 1)
    gateway.update_cluster(two, target=gateway_stopped())
    assert clusters("alice") == jobs.Usage(clusters=1, cores=5)
    assert clusters("carol") == jobs.Usage()


async def _create(gateway: DataManager, *users: str) -> list:
    """Clusters as the gateway creates them (in its event loop)."""
    return [gateway.create_cluster(user, {}, CONFIG) for user in users]


def gateway_stopped():
    from dask_gateway_server.backends.db_base import JobStatus

    return JobStatus.STOPPED


def _backend(registry_url: str, gateway: DataManager, **limits: float):
    backend = with_user_quotas(UnsafeLocalBackend)(registry_db_url=registry_url, **limits)
    backend.db = gateway
    return backend


def test_the_gateway_counts_the_users_running_jobs(
    gateway_db: tuple[str, DataManager], registry: tuple[str, sessionmaker]
) -> None:
    """Alice's two running jobs (one core each) and her cluster fill her 3 cores: her cluster
    may not scale, a new cluster is refused naming the runs, Bob's is not held."""
    registry_url, sessions = registry
    _, gateway = gateway_db
    for seed in (1, 2):
        with sessions.begin() as s:
            jobs.submit(s, owner="alice", process="lattice", inputs={"seed": seed, "sweeps": 100})
    with sessions() as s:
        jobs.claim(s, "ex"), jobs.claim(s, "ex")
    backend = _backend(registry_url, gateway, max_cores_per_user=3, max_clusters_per_user=4)
    (cluster,) = asyncio.run(_create(gateway, "alice"))
    running = backend._running_jobs("alice")
    assert running == jobs.Usage(clusters=2, cores=2)
    assert backend.workers_allowed(cluster, running.cores) == 0  # 1 + 2 of 3 cores: no worker of 2
    assert backend.workers_allowed(cluster) == 1  # the jobs left out, one worker would fit
    alice = SimpleNamespace(name="alice")
    with pytest.raises(PublicException, match="alice's Dask clusters and 2 running jobs"):
        asyncio.run(backend.start_cluster(alice, {}))
    backend = _backend(registry_url, gateway, max_clusters_per_user=3)
    with pytest.raises(PublicException, match="1 Dask clusters and 2 running jobs"):
        asyncio.run(backend.start_cluster(alice, {}))


def test_no_twin_process_gets_the_gateways_database_url(tmp_path: Path) -> None:
    """The gateway's database URL may hold a password, like the registry's: the platform's
    services read it, a twin's dashboard process never sees it."""
    from twinhub.contracts.settings import Settings
    from twinhub.extensions.dashboards.router import process_env

    url = "postgresql+psycopg://gateway:hush-hush@db:5432/gateway"
    settings = Settings.from_env(
        {"TWINHUB_STATE_DIR": str(tmp_path), "TWINHUB_GATEWAY_DATABASE_URL": url}
    )
    assert settings.gateway_db_url == url
    assert "hush-hush" not in repr(process_env(settings, "/services/twinhub-apps/"))
