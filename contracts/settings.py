"""Operator settings of the platform, read from ``TWINHUB_*`` environment variables.

One class decides every port, path and limit, so that the launcher, the hub's configuration,
the Dask Gateway's, the registry, the dashboards and the test fixtures agree without passing
values around by hand. It is a pydantic-settings ``BaseSettings``: each field is read from
``TWINHUB_<FIELD>`` (a few from the variable their ``env=`` names), or from a file of that name in
the directory ``TWINHUB_SECRETS_DIR`` names (Kubernetes secrets mounted as files), converted and
checked; a value that cannot be used raises :class:`SettingsError` naming the variable.
``python -m twinhub.contracts.settings`` prints them all with their current values (the
``--help`` of the embedded deployment).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars
from twinhub.contracts.names import REGISTRY_API, default_database, gateway_database

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout the project is installed from (editable install)."""

ENV_PREFIX = "TWINHUB_"
SECRETS_DIR_ENV = "TWINHUB_SECRETS_DIR"
"""A directory of files named like the variables (``TWINHUB_OIDC_CLIENT_SECRET``...), each
holding its value: how Kubernetes mounts a Secret. The environment wins over a file."""

TARGETS = ("local", "slurm")
QUANTITY = re.compile(r"[0-9]{1,9}(\.[0-9]{1,6})?(m|k|M|G|T|Ki|Mi|Gi|Ti)?")
"""A Kubernetes resource quantity (the forms the dashboard pods' settings accept)."""
"""Deployment targets for user servers and Dask clusters (``extensions/spawners/``)."""
DEPLOYMENTS = ("embedded", "kubernetes")
"""How the hub is deployed (``TWINHUB_DEPLOYMENT``, ``hub/configure.py``)."""

PROXIES = ("chp", "traefik")
"""The public proxies the launcher can run (hub/proxy.py): configurable-http-proxy, traefik."""


class SettingsError(ValueError):
    """A ``TWINHUB_*`` variable has a value we cannot use; the message names the variable."""


# The ranges settings take, declared with their fields; :func:`_settings_error` words them.
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[int, Field(gt=0)]
AtLeastOne = Annotated[int, Field(ge=1)]
NonNegative = Annotated[int, Field(ge=0)]
Bounded = Annotated[int, Field(ge=1, le=3600)]
"""A count or a time a typo must not make absurd (jobs at once, seconds to wait)."""


def user_accounts() -> bool:
    """Whether hub users run as unix accounts of their own: only a root platform can switch
    uid (a platform run by an ordinary account runs every server as itself)."""
    return os.geteuid() == 0


def _var(default: Any, help: str, env: str | None = None) -> Any:  # noqa: A002 - as traitlets
    """A setting: its default, the help ``describe()`` prints, and its variable when that is not
    ``TWINHUB_<FIELD NAME>``."""
    return Field(default, description=help, validation_alias=env)


def _comma_list(raw: object) -> object:
    if isinstance(raw, str):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


CommaList = Annotated[tuple[str, ...], NoDecode]
"""A comma-separated variable (``ada, grace``), not JSON."""

_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("twinhub_environ", default=None)


class _Environment(EnvSettingsSource):
    """The process environment, or the mapping :meth:`Settings.from_env` was given."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        if environ is None:
            return super()._load_env_vars()
        return parse_env_vars(
            environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


class Settings(BaseSettings):
    """Everything an operator may change for the embedded (single machine) deployment."""

    state_dir: Path = _var(
        REPO_ROOT / "state",
        "Directory for databases, secrets, user homes and built data (created, mode 0700).",
    )
    data_dir: Path | None = _var(
        None,
        "Folder of the built data (zarr stores, thumbnails) if not <state>/data, e.g. a shared "
        "read-only volume or the data the Kubernetes hub image built.",
    )
    ip: str = _var("127.0.0.1", "Address the public proxy listens on (loopback by default).")
    port: Port = _var(8000, "Public port: the URL users open.")
    public_url: str = _var(
        "",
        "URL users reach the gateway at, if not http://<ip>:<port> (e.g. behind TLS).",
    )
    hub_port: Port = _var(8081, "Internal port of the hub API.")
    proxy: str = _var(
        "chp",
        "The public proxy: 'chp' (configurable-http-proxy, routes in memory) or 'traefik' "
        '(routes in a file under <state>/traefik; README "Performance" compares them).',
    )
    proxy_api_port: Port = _var(
        8001, "Internal (loopback) port of the proxy's REST API (CHP's, or traefik's)."
    )
    gateway_api_port: Port = _var(8002, "Internal port of the Dask Gateway API server.")
    gateway_http_port: Port = _var(
        8003,
        "Internal port of Dask Gateway's HTTP proxy (API and dashboards, behind the hub).",
    )
    gateway_front_port: Port = _var(
        8008,
        "Internal port of the Dask Gateway front (/services/dask-gateway/ behind the hub): the "
        "gateway's API passed through, cluster dashboards for their owners only.",
    )
    gateway_tcp_port: Port = _var(8786, "Port of Dask Gateway's scheduler (TLS) proxy.")
    registry_port: Port = _var(
        8004,
        "Internal port of the twin registry service (/services/twinhub/).",
    )
    dashboards_port: Port = _var(
        8005,
        "Internal port of the dashboard service (/services/twinhub-apps/).",
    )
    services_bind_ip: str = _var(
        "127.0.0.1",
        "Address the registry and dashboard services listen on; 0.0.0.0 in the hub pod on "
        "Kubernetes, where the proxy pod reaches them through the hub's Service.",
    )
    dashboards_workers: AtLeastOne = _var(
        1,
        "Dask workers of the dashboard service's own LocalCluster (shared by every user).",
    )
    dashboards_user_runs: AtLeastOne = _var(
        1,
        "Computations one user may run at once on the dashboard service's cluster.",
    )
    executor_slots: Bounded = _var(
        2,
        "Jobs the run executor runs at once (each in a process of its user's account).",
    )
    executor_workers: Bounded = _var(
        1,
        "Dask workers of each job's own cluster (at most the twin's dask.max_workers).",
    )
    sync_execute_seconds: Bounded = _var(
        20,
        "How long a synchronous OGC execution waits for its job before answering with the "
        "job's status (201 + Location) instead of its results.",
    )
    dashboards_idle_seconds: Seconds = _var(
        600,
        "Seconds a twin's dashboard process lives without requests or open pages before the "
        "router stops it (the next visit starts it again).",
    )
    dashboards_start_seconds: Seconds = _var(
        120,
        "Seconds a twin's dashboard process may take to listen; beyond them the router stops "
        "it and answers 504.",
    )
    dashboards_hang_seconds: Seconds = _var(
        20,
        "Seconds a twin's dashboard process may leave the router's watchdog unanswered (its "
        "event loop stuck) before the router stops it: its pages answer 502, others go on.",
    )
    dashboards_image: str = _var(
        "ghcr.io/twinhub/singleuser:0.1.0",
        "With TWINHUB_DEPLOYMENT=kubernetes: the image of twins' dashboard pods, which must hold "
        "the twins' runtime (default the single-user image, Dockerfile: every twin and its "
        "data; the hub image holds the platform only).",
    )
    dashboards_namespace: str = _var(
        "",
        "With TWINHUB_DEPLOYMENT=kubernetes: the namespace of twins' dashboard pods (empty: "
        "the hub pod's own, POD_NAMESPACE).",
    )
    dashboards_cpu_request: str = _var("0.1", "CPU a twin's dashboard pod requests.")
    dashboards_cpu_limit: str = _var("1", "CPU limit of a twin's dashboard pod.")
    dashboards_memory_request: str = _var("256Mi", "Memory a twin's dashboard pod requests.")
    dashboards_memory_limit: str = _var("1Gi", "Memory limit of a twin's dashboard pod.")
    database_url: str = _var(
        "",
        "SQLAlchemy URL of the registry database, e.g. postgresql+psycopg://user:pw@host/db; "
        "empty: an SQLite file registry.sqlite in the state directory.",
    )
    hub_database_url: str = _var(
        "",
        "SQLAlchemy URL of JupyterHub's own database, e.g. postgresql+psycopg://user:pw@host/db; "
        "empty: an SQLite file jupyterhub.sqlite in the state directory.",
    )
    gateway_database_url: str = _var(
        "",
        "SQLAlchemy URL of dask-gateway-server's database (its clusters; the run executor reads "
        "it to count a user's gateway clusters in their Dask quota); empty: an SQLite file "
        "dask-gateway/gateway.sqlite in the state directory.",
    )
    twins_dir: Path = _var(
        REPO_ROOT / "twins",
        "Folder whose */twin.yaml the registry discovers at start-up.",
    )
    profiles_file: Path = _var(
        REPO_ROOT / "hub" / "profiles.yaml",
        "YAML list of the default infrastructure profiles, loaded by the registry at start-up.",
    )
    twin_python: str = _var(
        "",
        "Interpreter of the shared twin runtime environment (where the shipped twins' packages "
        "are installed): user servers, kernels, Dask clusters, twins' dashboards and jobs run "
        "from its environment, the services from the platform's (`make up` sets it to .venv's "
        "python); empty: the platform's own (docs/twin-runtimes.md).",
    )
    twin_envs_dir: str = _var(
        "",
        "Folder of the environments built for twins with requirements of their own; "
        "empty: twin-envs in the state directory.",
    )
    entry_point_check_timeout: float = _var(
        120.0,
        "Seconds the registry gives a twin's model/app/showcase to import, in a process of the "
        "twin's environment, when the twin is registered or updated; slower is refused.",
    )
    registry_modules_file: str = _var(
        "",
        "Tests only: a file the registry writes the names of its imported modules to once it "
        "has started (proof that it imports no twin code).",
    )
    admin_users: CommaList = _var(("admin",), "Comma-separated hub admin user names.")
    cull_timeout: int = _var(3600, "Seconds of inactivity before a user server is stopped.")
    hub_max_restarts: NonNegative = _var(
        5,
        "Times the launcher restarts a hub that died, and (counted apart) a proxy that died, "
        "within TWINHUB_HUB_RESTART_WINDOW, before it gives up and stops the whole gateway; "
        "0: never restart them.",
    )
    hub_restart_window: Seconds = _var(
        600,
        "Seconds over which TWINHUB_HUB_MAX_RESTARTS is counted.",
    )
    publish_max_bytes: int = _var(
        20 * 1024 * 1024,
        "Largest twin archive `twinhub publish` may upload (compressed bytes).",
    )
    publish_max_unpacked: int = _var(
        100 * 1024 * 1024,
        "Largest total size of a published twin's files once unpacked (bytes).",
    )
    publish_max_files: int = _var(2000, "Most files a published twin may hold.")
    publish_build_timeout: int = _var(
        600,
        "Seconds a published twin's environment build, and then its test, may take each.",
    )
    auth_cache_seconds: Seconds = _var(
        60,
        "Seconds the registry and the dashboards cache the hub's answer about a token (a group "
        "change applies after at most this long; above 0: the hub's OAuth reads 0 as forever).",
    )
    webhook_allowed_hosts: CommaList = _var(
        (),
        "Comma-separated hosts (name, or name:port) that schedule webhooks may POST to; "
        "empty: no webhooks (the registry must not be a way into the network).",
    )
    scheduler_interval: Seconds = _var(
        30,
        "Seconds between the registry's scheduler steps (due schedules, finished runs); "
        "catalog data are checksummed for data-triggered schedules every 10 minutes.",
    )
    concurrent_spawn_limit: int = _var(
        4,
        "Spawns in flight at once; more get HTTP 429 with Retry-After and are retried "
        "(a user server takes about 1.5 s of one core to start: 2 per core keeps cores busy).",
    )
    spawn_start_timeout: Seconds = _var(
        300,
        "Seconds the hub waits for a spawner's start(). A local server's start() includes its "
        "first HTTP answer while its process is watched: one that exits fails at once, one "
        "that is alive but slow (JupyterLab needs about 1.5 s of one core, but took >90 s at "
        "load 12-14 in a 100-user round on 2 cores) is not failed before this. A spawn queued "
        "behind TWINHUB_CONCURRENT_SPAWN_LIMIT (429) has not started and does not count.",
    )
    spawn_http_timeout: Seconds = _var(
        300,
        "Seconds the hub waits, after start(), for a server's first HTTP answer before it "
        "stops it (local servers already answered in start(); Slurm jobs wait here).",
    )
    spawns_per_user: int = _var(
        2,
        "Spawns one user may have in flight at once (of TWINHUB_CONCURRENT_SPAWN_LIMIT for "
        "everyone); more get HTTP 429 naming the limit. 0: no limit of their own.",
    )
    active_server_limit: int = _var(
        40,
        "Most user servers running at once (about 100 MB of memory each); 0 for no limit.",
    )
    dask_max_worker_cores: int = _var(2, "Most cores a user may ask for per Dask worker.")
    dask_max_worker_memory_gib: float = _var(
        4.0, "Most memory (GiB) per Dask worker.", env="TWINHUB_DASK_MAX_WORKER_MEMORY"
    )
    dask_max_workers: int = _var(4, "Most workers in one user's Dask cluster.")
    dask_max_clusters_per_user: int = _var(
        4,
        "Most Dask clusters one user may have at once (all gateways count apart); 0: no limit.",
    )
    dask_max_cores_per_user: float = _var(
        12.0,
        "Most cores of all one user's Dask clusters together (schedulers and workers); "
        "0: no limit. Scale and adapt requests beyond it are held at what is left.",
    )
    dask_max_memory_per_user_gib: float = _var(
        24.0,
        "Most memory (GiB) of all one user's Dask clusters together; 0: no limit.",
        env="TWINHUB_DASK_MAX_MEMORY_PER_USER",
    )
    dask_idle_timeout: int = _var(1800, "Seconds before an idle Dask cluster is shut down.")
    account_prefix: str = _var(
        "th-",
        "Start of the unix account names of hub users (a hub runs as root gives each user an "
        "account of their own: <prefix><name>, extensions/accounts.py); a lower-case letter, then "
        "letters, digits or '-'.",
    )
    apps_account: str = _var(
        "twinhub-apps",
        "System account the dashboard service runs as when the hub runs as root.",
    )
    platform_account: str = _var(
        "twinhub",
        "System account the platform's services that need no root (the registry, the Dask "
        "Gateway fronts, the idle culler) run as when the hub runs as root; its home "
        "<state>/platform holds the registry's SQLite database.",
    )
    deployment: str = _var(
        "embedded",
        "How the hub is deployed: 'embedded' (one machine, `make up`: the launcher runs the "
        "proxy, the hub runs the Dask Gateway and the idle culler) or 'kubernetes' (the z2jh "
        "chart's hub pod, hub/helm/); hub/configure.py wires the hub for either.",
    )
    # --- deployment targets (hub/targets/): where user servers and Dask clusters run -------
    spawner: str = _var(
        "local",
        "Where user servers run: 'local' (processes on this machine) or 'slurm' (batch jobs).",
    )
    dask_backend: str = _var(
        "local",
        "Where Dask schedulers and workers run: 'local' (processes) or 'slurm' (batch jobs).",
    )
    slurm_profiles: bool = _var(
        False,
        "1: offer the infrastructure profiles that carry Slurm resources (hub/profiles.yaml: "
        "hpc-slurm): their servers run as Slurm jobs and their Dask clusters use a second "
        "gateway whose schedulers and workers are Slurm jobs, while every other profile keeps "
        "running where TWINHUB_SPAWNER / TWINHUB_DASK_BACKEND say. Needs sbatch on PATH.",
        env="TWINHUB_SLURM",
    )
    gateway_slurm_api_port: Port = _var(
        8006,
        "Internal port of the Slurm Dask Gateway's API server (with TWINHUB_SLURM=1).",
    )
    gateway_slurm_http_port: Port = _var(
        8007,
        "Internal port of the Slurm Dask Gateway's HTTP proxy (with TWINHUB_SLURM=1).",
    )
    gateway_slurm_front_port: Port = _var(
        8009,
        "Internal port of the Slurm Dask Gateway's front (with TWINHUB_SLURM=1).",
    )
    gateway_slurm_tcp_port: Port = _var(
        8787,
        "Port of the Slurm Dask Gateway's scheduler (TLS) proxy (with TWINHUB_SLURM=1).",
    )
    # --- where batch jobs find the hub and the gateways (multi-node Slurm clusters) ---------
    hub_bind_ip: str = _var(
        "127.0.0.1",
        "Address the hub API, the gateways' API servers and proxies listen on; 0.0.0.0 (or the "
        "cluster-network address) when Slurm jobs run on other nodes.",
    )
    hub_connect_host: str = _var(
        "",
        "Host name or address jobs on compute nodes use to reach the hub API and the gateways "
        "(e.g. the submit host's cluster-network name); empty: 127.0.0.1 (single node).",
    )
    slurm_job_bind_ip: str = _var(
        "127.0.0.1",
        "Address user servers, Dask schedulers and workers listen on inside Slurm jobs; "
        "0.0.0.0 when jobs run on other nodes (the hub then connects to the node squeue names).",
    )
    slurm_conf: str = _var(
        "",
        "slurm.conf the hub and gateway submit with (SLURM_CONF); empty: Slurm's own default. "
        "`make slurm-up` prints the one of its test cluster.",
    )
    slurm_partition: str = _var("", "Slurm partition for servers and Dask; empty: default.")
    slurm_account: str = _var("", "Slurm account jobs are charged to; empty: user default.")
    slurm_submit_as: str = _var(
        "service",
        "'service': the hub's own account submits every job (one operator account, as the "
        "local target); 'user': jobs are submitted as the hub user's Unix account via sudo.",
    )
    oidc_client_id: str = _var("", "Set (with the variables below) to log in through OIDC.")
    oidc_client_secret: str = _var("", "OIDC client secret (never commit it).")
    oidc_issuer: str = _var(
        "",
        "OIDC issuer URL, e.g. https://aai.egi.eu/auth/realms/egi; the authorize, token and "
        "userinfo endpoints default to the Keycloak layout under it.",
    )
    oidc_authorize_url: str = _var("", "OIDC authorize endpoint, if not under the issuer.")
    oidc_token_url: str = _var("", "OIDC token endpoint, if not under the issuer.")
    oidc_userdata_url: str = _var("", "OIDC userinfo endpoint, if not under the issuer.")
    oidc_username_claim: str = _var("preferred_username", "Claim used as the hub user name.")
    oidc_allowed_groups: CommaList = _var(
        (),
        "Comma-separated groups (claim 'groups') allowed to log in; empty: any user of the IdP.",
    )
    oidc_scopes: CommaList = _var(("openid", "profile", "email"), "Comma-separated OIDC scopes.")

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,  # TWINHUB_X= (empty) means the default, as it always did
        frozen=True,
        populate_by_name=True,
        extra="ignore",
        validate_default=False,
    )

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        # no .env file: the operator's environment (or the launcher's) is the one source, then
        # the secret files
        return init_settings, _Environment(settings_cls), file_secret_settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every field from its variable (of ``environ``, default ``os.environ``) and from
        the secret files of ``TWINHUB_SECRETS_DIR``, converting and checking each value."""
        env = os.environ if environ is None else environ
        secrets_dir = env.get(SECRETS_DIR_ENV) or None
        if secrets_dir and not Path(secrets_dir).is_dir():
            raise SettingsError(f"{SECRETS_DIR_ENV}={secrets_dir!r} is not a directory")
        token = _ENVIRON.set(env)
        try:
            return cls(_secrets_dir=secrets_dir)
        except ValidationError as e:
            raise _settings_error(e, env) from None
        finally:
            _ENVIRON.reset(token)

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable of field ``name``."""
        alias = cls.model_fields[name].validation_alias
        return alias if isinstance(alias, str) else ENV_PREFIX + name.upper()

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Every field's variable, in the order ``describe()`` lists them."""
        return {name: cls.variable(name) for name in cls.model_fields}

    @field_validator(
        "admin_users", "oidc_allowed_groups", "oidc_scopes", "webhook_allowed_hosts", mode="before"
    )
    @classmethod
    def _split_commas(cls, raw: object) -> object:
        return _comma_list(raw)

    @field_validator("state_dir", "data_dir", "twins_dir", "profiles_file", mode="before")
    @classmethod
    def _absolute_path(cls, raw: object) -> object:
        if isinstance(raw, str):
            return Path(raw).expanduser().resolve()
        return raw

    @field_validator("slurm_profiles", mode="before")
    @classmethod
    def _flag(cls, raw: object) -> object:
        if isinstance(raw, str):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        return raw

    @property
    def ports(self) -> dict[str, int]:
        """Every port setting by its variable (the fields named ``*_port``)."""
        return {
            self.variable(name): getattr(self, name)
            for name in type(self).model_fields
            if name.endswith("port")
        }

    @model_validator(mode="after")
    def _check(self) -> Settings:
        ports = self.ports
        if len(set(ports.values())) != len(ports):
            raise SettingsError(f"The ports must all differ, got {ports}")
        for name in type(self).model_fields:
            if "_per_user" in name and getattr(self, name) < 0:
                raise SettingsError(
                    f"{self.variable(name)}={getattr(self, name)}: give 0 (no limit) or more"
                )
        for name in (
            "dashboards_cpu_request",
            "dashboards_cpu_limit",
            "dashboards_memory_request",
            "dashboards_memory_limit",
        ):
            if not QUANTITY.fullmatch(getattr(self, name)):
                raise SettingsError(
                    f"{self.variable(name)}={getattr(self, name)!r}: give a Kubernetes quantity "
                    "such as 0.5, 500m, 256Mi or 1Gi"
                )
        if self.deployment not in DEPLOYMENTS:
            raise SettingsError(
                f"TWINHUB_DEPLOYMENT={self.deployment!r}: choose one of {', '.join(DEPLOYMENTS)}"
            )
        for var, value in (
            ("TWINHUB_SPAWNER", self.spawner),
            ("TWINHUB_DASK_BACKEND", self.dask_backend),
        ):
            if value not in TARGETS:
                raise SettingsError(f"{var}={value!r}: choose one of {', '.join(TARGETS)}")
        if self.proxy not in PROXIES:
            raise SettingsError(f"TWINHUB_PROXY={self.proxy!r}: choose one of {', '.join(PROXIES)}")
        if self.slurm_conf and not _is_file_or_hidden(Path(self.slurm_conf)):
            raise SettingsError(
                f"TWINHUB_SLURM_CONF={self.slurm_conf!r} is not a file: give the cluster's "
                "slurm.conf (`make slurm-up` prints the one of its test cluster)"
            )
        if self.slurm_profiles and not shutil.which("sbatch"):
            raise SettingsError(
                "TWINHUB_SLURM=1 needs Slurm's client commands (sbatch, squeue, scancel) on "
                "PATH: install them (`make slurm-up` does, for a test cluster) or unset it"
            )
        for var, value in (
            ("TWINHUB_HUB_BIND_IP", self.hub_bind_ip),
            ("TWINHUB_SERVICES_BIND_IP", self.services_bind_ip),
            ("TWINHUB_SLURM_JOB_BIND_IP", self.slurm_job_bind_ip),
        ):
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise SettingsError(f"{var}={value!r} is not an IP address") from None
        if self.hub_connect_host and not re.fullmatch(r"[A-Za-z0-9.:-]+", self.hub_connect_host):
            raise SettingsError(
                f"TWINHUB_HUB_CONNECT_HOST={self.hub_connect_host!r}: give a host name or an "
                "IP address, without scheme or port"
            )
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,11}", self.account_prefix):
            raise SettingsError(
                f"TWINHUB_ACCOUNT_PREFIX={self.account_prefix!r}: give a lower-case letter, "
                "then up to 11 lower-case letters, digits or '-' (e.g. 'th-')"
            )
        for var, account in (
            ("TWINHUB_APPS_ACCOUNT", self.apps_account),
            ("TWINHUB_PLATFORM_ACCOUNT", self.platform_account),
        ):
            if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", account):
                raise SettingsError(f"{var}={account!r} is not a unix account name")
        if self.platform_account == self.apps_account:
            raise SettingsError(
                f"TWINHUB_PLATFORM_ACCOUNT and TWINHUB_APPS_ACCOUNT are both {self.apps_account!r}:"
                " the dashboards run twins' code and must not hold the registry's database"
            )
        if self.slurm_submit_as not in ("service", "user"):
            raise SettingsError(
                f"TWINHUB_SLURM_SUBMIT_AS={self.slurm_submit_as!r}: choose 'service' or 'user'"
            )
        for var, url in (
            ("TWINHUB_DATABASE_URL", self.database_url),
            ("TWINHUB_HUB_DATABASE_URL", self.hub_database_url),
            ("TWINHUB_GATEWAY_DATABASE_URL", self.gateway_database_url),
        ):
            _check_database_url(var, url)
        try:
            ipaddress.ip_address(self.ip)
        except ValueError:
            raise SettingsError(f"TWINHUB_IP={self.ip!r} is not an IP address") from None
        if self.oidc_client_id and not (
            self.oidc_issuer
            or (self.oidc_authorize_url and self.oidc_token_url and self.oidc_userdata_url)
        ):
            raise SettingsError(
                "TWINHUB_OIDC_CLIENT_ID is set: also set TWINHUB_OIDC_ISSUER, or all of "
                "TWINHUB_OIDC_AUTHORIZE_URL, TWINHUB_OIDC_TOKEN_URL and TWINHUB_OIDC_USERDATA_URL"
            )
        return self

    # --- derived values -------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The public URL of the gateway, without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        if self.ip in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def data_path(self) -> Path:
        """Where the built data are: TWINHUB_DATA_DIR, else ``<state>/data``."""
        return self.data_dir or self.state_dir / "data"

    @property
    def registry_db_url(self) -> str:
        """The registry's database (and the run executor's queue)."""
        return self.database_url or f"sqlite:///{default_database(self.state_dir)}"

    @property
    def gateway_db_url(self) -> str:
        """dask-gateway-server's database: the configured URL, or SQLite in the state directory."""
        return self.gateway_database_url or f"sqlite:///{gateway_database(self.state_dir)}"

    @property
    def hub_db_url(self) -> str:
        """JupyterHub's database: the configured URL, or SQLite in the state directory."""
        return self.hub_database_url or f"sqlite:///{self.state_dir / 'jupyterhub.sqlite'}"

    @property
    def is_loopback(self) -> bool:
        return ipaddress.ip_address(self.ip).is_loopback

    @property
    def connect_host(self) -> str:
        """How user servers and Slurm jobs reach the hub API and the gateways."""
        host = self.hub_connect_host or "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def registry_api_url(self) -> str:
        """The registry's API on the hub's machine (loopback): the hub, its services and the
        processes they start there."""
        return f"http://127.0.0.1:{self.registry_port}{REGISTRY_API}"

    @property
    def jobs_registry_api_url(self) -> str:
        """The registry's API as user servers and Slurm jobs reach it: on loopback on one
        machine; through the public proxy (TWINHUB_PUBLIC_URL or TWINHUB_IP) when jobs may
        run on other nodes (TWINHUB_HUB_CONNECT_HOST), where loopback is not the hub's."""
        if self.hub_connect_host:
            return f"{self.url}{REGISTRY_API}"
        return self.registry_api_url

    @property
    def hub_local_host(self) -> str:
        """How processes on the hub's machine (the proxy, the hub itself) reach what listens on
        TWINHUB_HUB_BIND_IP (the hub API, the gateways' HTTP and TCP proxies): that address
        (one interface, e.g. the cluster network's, is not reachable on loopback), or loopback
        when it is a wildcard."""
        ip = self.hub_bind_ip
        if ip in ("0.0.0.0", "::"):
            return "127.0.0.1"
        return f"[{ip}]" if ":" in ip else ip

    @property
    def slurm_enabled(self) -> bool:
        """Slurm serves some servers: hub-wide (TWINHUB_SPAWNER=slurm) or per profile."""
        return self.slurm_profiles or self.spawner == "slurm"

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_client_id)

    @property
    def user_accounts(self) -> bool:
        """Each hub user runs as a unix account of their own: only a root platform can switch
        uid; a platform run by an ordinary account runs every server as itself."""
        return user_accounts()

    @property
    def venv_bin(self) -> Path:
        """The bin directory of the environment the hub runs in (the platform's: for the
        services it starts)."""
        return Path(sys.executable).parent

    @property
    def twin_bin(self) -> Path:
        """The bin directory of the shared twin runtime (``TWINHUB_TWIN_PYTHON``'s, else the
        platform's own): what runs twin code starts from it (user servers, kernels, Dask
        schedulers and workers, jobs; docs/twin-runtimes.md). Not resolved: a venv's python
        is a link to the interpreter it was made from."""
        return Path(self.twin_python).parent if self.twin_python else self.venv_bin

    def to_env(self) -> dict[str, str]:
        """The ``TWINHUB_*`` variables that reproduce these settings in a child process."""
        env = {}
        for name, var in self.variables().items():
            value = getattr(self, name)
            if value is None:
                continue  # unset: the child takes the default too
            if isinstance(value, tuple):
                value = ",".join(value)
            env[var] = str(value)
        # the OIDC secret and the hub's database URL (with its password) stay in the hub
        # process: services do not need them
        env.pop("TWINHUB_OIDC_CLIENT_SECRET")
        env.pop("TWINHUB_HUB_DATABASE_URL")
        return env


def _is_file_or_hidden(path: Path) -> bool:
    """``path`` is a file, or lies where this account may not look: services that run as
    accounts of their own (the dashboards) read the settings the platform has checked."""
    try:
        return path.is_file()
    except PermissionError:
        return True


def _check_database_url(var: str, url: str) -> None:
    """A database URL must parse and name a driver that is installed, or start-up says why."""
    if not url:
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(url).get_dialect()
    except ArgumentError:
        raise SettingsError(
            f"{var} is not a database URL: use the form "
            "postgresql+psycopg://user:password@host:5432/database"
        ) from None
    except (NoSuchModuleError, ImportError) as e:
        raise SettingsError(
            f"{var}: no SQLAlchemy driver for this URL's scheme ({e}); "
            "twinhub ships psycopg for PostgreSQL: use postgresql+psycopg://..."
        ) from None


def _settings_error(error: ValidationError, environ: Mapping[str, str]) -> SettingsError:
    """The first problem pydantic found, as the message the operator needs: the variable, the
    value and what would do."""
    problem = error.errors()[0]
    cause = (problem.get("ctx") or {}).get("error")
    if isinstance(cause, SettingsError):
        return cause
    loc = str(problem["loc"][0]) if problem["loc"] else ""
    name = loc if loc in Settings.model_fields else _field_of(loc)
    var = Settings.variable(name) if name else loc
    raw = problem.get("input")
    if name and problem["type"] in ("greater_than", "greater_than_equal", "less_than_equal"):
        return SettingsError(f"{var}={raw}: give {_range_of(name)}")
    if name and isinstance(raw, str):
        annotation = Settings.model_fields[name].annotation
        kind = getattr(annotation, "__name__", str(annotation))
        return SettingsError(f"{var}={raw!r} is not a valid {kind}")
    return SettingsError(f"{var}: {problem['msg']}")


def _range_of(name: str) -> str:
    """The range a field declares (its type's ``Field(ge=..., le=...)``), in words."""
    bounds = {
        bound: getattr(m, bound)
        for m in Settings.model_fields[name].metadata
        for bound in ("gt", "ge", "le")
        if getattr(m, bound, None) is not None
    }
    if "ge" in bounds and "le" in bounds:
        return f"a whole number from {bounds['ge']} to {bounds['le']}"
    if "gt" in bounds:
        return f"a number above {bounds['gt']}"
    return f"{bounds.get('ge')} or more"


def _field_of(variable: str) -> str | None:
    for name, var in Settings.variables().items():
        if var.lower() == variable.lower():
            return name
    return None


def describe() -> str:
    """A table of every variable, its meaning and its current value (secrets hidden)."""
    current = Settings.from_env()
    lines = ["twinhub settings (environment variables):", ""]
    for name, var in Settings.variables().items():
        value = getattr(current, name)
        if value is None:
            value = ""
        if isinstance(value, tuple):
            value = ",".join(value)
        if ("SECRET" in var or "DATABASE_URL" in var) and value:
            value = "***"
        lines.append(f"  {var}={value}")
        lines.append(f"      {Settings.model_fields[name].description}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
