"""Operator settings of the embedded gateway, read from ``TWINHUB_*`` environment variables.

One place decides every port, path and limit, so that the launcher, ``jupyterhub_config.py``,
``dask_gateway_config.py`` and the test fixtures agree without passing values around by hand.
Each field documents the variable that sets it; ``python -m twinhub.hub.settings`` prints them
all with their current values (the ``--help`` of the embedded deployment).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout the project is installed from (editable install)."""


TARGETS = ("local", "slurm")
"""Deployment targets for user servers and Dask clusters (modules in ``hub/targets/``)."""


class SettingsError(ValueError):
    """A ``TWINHUB_*`` variable has a value we cannot use; the message names the variable."""


def _env_field(var: str, default: object, help: str):  # noqa: A002 - mirrors traitlets' help=
    return field(default=default, metadata={"env": var, "help": help})


@dataclass(frozen=True)
class Settings:
    """Everything an operator may change for the embedded (single machine) deployment."""

    state_dir: Path = _env_field(
        "TWINHUB_STATE_DIR",
        REPO_ROOT / "state",
        "Directory for databases, secrets, user homes and built data (created, mode 0700).",
    )
    ip: str = _env_field(
        "TWINHUB_IP", "127.0.0.1", "Address the public proxy listens on (loopback by default)."
    )
    port: int = _env_field("TWINHUB_PORT", 8000, "Public port: the URL users open.")
    public_url: str = _env_field(
        "TWINHUB_PUBLIC_URL",
        "",
        "URL users reach the gateway at, if not http://<ip>:<port> (e.g. behind TLS).",
    )
    hub_port: int = _env_field("TWINHUB_HUB_PORT", 8081, "Internal port of the hub API.")
    proxy_api_port: int = _env_field(
        "TWINHUB_PROXY_API_PORT", 8001, "Internal port of configurable-http-proxy's REST API."
    )
    gateway_api_port: int = _env_field(
        "TWINHUB_GATEWAY_API_PORT", 8002, "Internal port of the Dask Gateway API server."
    )
    gateway_http_port: int = _env_field(
        "TWINHUB_GATEWAY_HTTP_PORT",
        8003,
        "Internal port of Dask Gateway's HTTP proxy (API and dashboards, behind the hub).",
    )
    gateway_tcp_port: int = _env_field(
        "TWINHUB_GATEWAY_TCP_PORT", 8786, "Port of Dask Gateway's scheduler (TLS) proxy."
    )
    registry_port: int = _env_field(
        "TWINHUB_REGISTRY_PORT",
        8004,
        "Internal port of the twin registry service (/services/twinhub/).",
    )
    dashboards_port: int = _env_field(
        "TWINHUB_DASHBOARDS_PORT",
        8005,
        "Internal port of the dashboard service (/services/twinhub-apps/).",
    )
    dashboards_workers: int = _env_field(
        "TWINHUB_DASHBOARDS_WORKERS",
        1,
        "Dask workers of the dashboard service's own LocalCluster (shared by every user).",
    )
    dashboards_user_runs: int = _env_field(
        "TWINHUB_DASHBOARDS_USER_RUNS",
        1,
        "Computations one user may run at once on the dashboard service's cluster.",
    )
    database_url: str = _env_field(
        "TWINHUB_DATABASE_URL",
        "",
        "SQLAlchemy URL of the registry database, e.g. postgresql+psycopg://user:pw@host/db; "
        "empty: an SQLite file registry.sqlite in the state directory.",
    )
    twins_dir: Path = _env_field(
        "TWINHUB_TWINS_DIR",
        REPO_ROOT / "twins",
        "Folder whose */twin.yaml the registry discovers at start-up.",
    )
    profiles_file: Path = _env_field(
        "TWINHUB_PROFILES_FILE",
        REPO_ROOT / "hub" / "profiles.yaml",
        "YAML list of the default infrastructure profiles, loaded by the registry at start-up.",
    )
    admin_users: tuple[str, ...] = _env_field(
        "TWINHUB_ADMIN_USERS", ("admin",), "Comma-separated hub admin user names."
    )
    cull_timeout: int = _env_field(
        "TWINHUB_CULL_TIMEOUT", 3600, "Seconds of inactivity before a user server is stopped."
    )
    hub_max_restarts: int = _env_field(
        "TWINHUB_HUB_MAX_RESTARTS",
        5,
        "Times the launcher restarts a hub that died, within TWINHUB_HUB_RESTART_WINDOW, "
        "before it gives up and stops the whole gateway; 0: never restart it.",
    )
    hub_restart_window: int = _env_field(
        "TWINHUB_HUB_RESTART_WINDOW",
        600,
        "Seconds over which TWINHUB_HUB_MAX_RESTARTS is counted.",
    )
    concurrent_spawn_limit: int = _env_field(
        "TWINHUB_CONCURRENT_SPAWN_LIMIT",
        4,
        "Spawns in flight at once; more get HTTP 429 with Retry-After and are retried "
        "(a user server takes about 1.5 s of one core to start: 2 per core keeps cores busy).",
    )
    active_server_limit: int = _env_field(
        "TWINHUB_ACTIVE_SERVER_LIMIT",
        40,
        "Most user servers running at once (about 100 MB of memory each); 0 for no limit.",
    )
    dask_max_worker_cores: int = _env_field(
        "TWINHUB_DASK_MAX_WORKER_CORES", 2, "Most cores a user may ask for per Dask worker."
    )
    dask_max_worker_memory_gib: float = _env_field(
        "TWINHUB_DASK_MAX_WORKER_MEMORY", 4.0, "Most memory (GiB) per Dask worker."
    )
    dask_max_workers: int = _env_field(
        "TWINHUB_DASK_MAX_WORKERS", 4, "Most workers in one user's Dask cluster."
    )
    dask_idle_timeout: int = _env_field(
        "TWINHUB_DASK_IDLE_TIMEOUT", 1800, "Seconds before an idle Dask cluster is shut down."
    )
    # --- deployment targets (hub/targets/): where user servers and Dask clusters run -------
    spawner: str = _env_field(
        "TWINHUB_SPAWNER",
        "local",
        "Where user servers run: 'local' (processes on this machine) or 'slurm' (batch jobs).",
    )
    dask_backend: str = _env_field(
        "TWINHUB_DASK_BACKEND",
        "local",
        "Where Dask schedulers and workers run: 'local' (processes) or 'slurm' (batch jobs).",
    )
    slurm_conf: str = _env_field(
        "TWINHUB_SLURM_CONF",
        "",
        "slurm.conf the hub and gateway submit with (SLURM_CONF); empty: Slurm's own default. "
        "`make slurm-up` prints the one of its test cluster.",
    )
    slurm_partition: str = _env_field(
        "TWINHUB_SLURM_PARTITION", "", "Slurm partition for servers and Dask; empty: default."
    )
    slurm_account: str = _env_field(
        "TWINHUB_SLURM_ACCOUNT", "", "Slurm account jobs are charged to; empty: user default."
    )
    slurm_submit_as: str = _env_field(
        "TWINHUB_SLURM_SUBMIT_AS",
        "service",
        "'service': the hub's own account submits every job (one operator account, as the "
        "local target); 'user': jobs are submitted as the hub user's Unix account via sudo.",
    )
    oidc_client_id: str = _env_field(
        "TWINHUB_OIDC_CLIENT_ID", "", "Set (with the variables below) to log in through OIDC."
    )
    oidc_client_secret: str = _env_field(
        "TWINHUB_OIDC_CLIENT_SECRET", "", "OIDC client secret (never commit it)."
    )
    oidc_issuer: str = _env_field(
        "TWINHUB_OIDC_ISSUER",
        "",
        "OIDC issuer URL, e.g. https://aai.egi.eu/auth/realms/egi; the authorize, token and "
        "userinfo endpoints default to the Keycloak layout under it.",
    )
    oidc_authorize_url: str = _env_field(
        "TWINHUB_OIDC_AUTHORIZE_URL", "", "OIDC authorize endpoint, if not under the issuer."
    )
    oidc_token_url: str = _env_field(
        "TWINHUB_OIDC_TOKEN_URL", "", "OIDC token endpoint, if not under the issuer."
    )
    oidc_userdata_url: str = _env_field(
        "TWINHUB_OIDC_USERDATA_URL", "", "OIDC userinfo endpoint, if not under the issuer."
    )
    oidc_username_claim: str = _env_field(
        "TWINHUB_OIDC_USERNAME_CLAIM", "preferred_username", "Claim used as the hub user name."
    )
    oidc_allowed_groups: tuple[str, ...] = _env_field(
        "TWINHUB_OIDC_ALLOWED_GROUPS",
        (),
        "Comma-separated groups (claim 'groups') allowed to log in; empty: any user of the IdP.",
    )
    oidc_scopes: tuple[str, ...] = _env_field(
        "TWINHUB_OIDC_SCOPES", ("openid", "profile", "email"), "Comma-separated OIDC scopes."
    )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read every field from its variable, converting and checking the value."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            var = f.metadata["env"]
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(var, raw, f.default)
        settings = cls(**values)
        settings._check()
        return settings

    def _check(self) -> None:
        ports = {
            f.metadata["env"]: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name.endswith("port")
        }
        for var, port in ports.items():
            if not 0 < port < 65536:
                raise SettingsError(f"{var}={port}: a port must be between 1 and 65535")
        if len(set(ports.values())) != len(ports):
            raise SettingsError(f"The ports must all differ, got {ports}")
        if self.hub_max_restarts < 0:
            raise SettingsError(
                f"TWINHUB_HUB_MAX_RESTARTS={self.hub_max_restarts}: give 0 or more restarts"
            )
        if self.hub_restart_window <= 0:
            raise SettingsError(
                f"TWINHUB_HUB_RESTART_WINDOW={self.hub_restart_window}: give a number of "
                "seconds above 0"
            )
        for var, value in (
            ("TWINHUB_SPAWNER", self.spawner),
            ("TWINHUB_DASK_BACKEND", self.dask_backend),
        ):
            if value not in TARGETS:
                raise SettingsError(f"{var}={value!r}: choose one of {', '.join(TARGETS)}")
        if self.slurm_conf and not Path(self.slurm_conf).is_file():
            raise SettingsError(
                f"TWINHUB_SLURM_CONF={self.slurm_conf!r} is not a file: give the cluster's "
                "slurm.conf (`make slurm-up` prints the one of its test cluster)"
            )
        if self.slurm_submit_as not in ("service", "user"):
            raise SettingsError(
                f"TWINHUB_SLURM_SUBMIT_AS={self.slurm_submit_as!r}: choose 'service' or 'user'"
            )
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
    def is_loopback(self) -> bool:
        return ipaddress.ip_address(self.ip).is_loopback

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_client_id)

    @property
    def venv_bin(self) -> Path:
        """The bin directory of the environment the hub runs in (for the commands it starts)."""
        return Path(sys.executable).parent

    def to_env(self) -> dict[str, str]:
        """The ``TWINHUB_*`` variables that reproduce these settings in a child process."""
        env = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = ",".join(value)
            env[f.metadata["env"]] = str(value)
        # the OIDC secret stays in the hub process: services do not need it
        env.pop("TWINHUB_OIDC_CLIENT_SECRET")
        return env


def _convert(var: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw).expanduser().resolve()
        if isinstance(default, tuple):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw
    except ValueError:
        kind = type(default).__name__
        raise SettingsError(f"{var}={raw!r} is not a valid {kind}") from None


def describe() -> str:
    """A table of every variable, its meaning and its current value (secrets hidden)."""
    current = Settings.from_env()
    lines = ["twinhub settings (environment variables):", ""]
    for f in dataclasses.fields(Settings):
        var = f.metadata["env"]
        value = getattr(current, f.name)
        if isinstance(value, tuple):
            value = ",".join(value)
        if ("SECRET" in var or "DATABASE_URL" in var) and value:
            value = "***"
        lines.append(f"  {var}={value}")
        lines.append(f"      {f.metadata['help']}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
