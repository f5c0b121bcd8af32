"""Spawn hooks fed by the registry: the options form / ``profile_list``, ``pre_spawn_hook`` and
``post_stop_hook``. The hub config wires them; the same object serves KubeSpawner unchanged.

The hooks ask the registry, over HTTP, what *this user* may use. They do so with a token of the
user's own, minted for one minute with only the registry's scopes and revoked right after, so
the registry applies its visibility rules (groups, maintainers, ``allowed_groups``) exactly as
for the user's own API calls. The same trick lets ``post_stop_hook`` stop the user's Dask
clusters: dask-gateway lets only the owner of a cluster see or stop it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from jupyterhub import orm
from jupyterhub.scopes import get_scopes_for
from tornado import web
from traitlets import Bool, Dict, Integer, Unicode
from traitlets.config import LoggingConfigurable
from twinhub.contracts.names import REGISTRY_ACCESS_SCOPE, REGISTRY_WRITE_SCOPES

from .spawn_options import (
    build_profile_list,
    chosen_twin,
    cluster_tag,
    kubespawner_override,
    options_form,
    options_from_form,
    server_environment,
    usable_profiles,
)

REGISTRY_ACCESS = [REGISTRY_ACCESS_SCOPE]


_ADMITTED_SPAWNS: dict[str, weakref.WeakSet] = {}
"""Each user's spawners admitted by :meth:`TwinSpawnHooks.admit_spawn`. Module-level: the hub
deep-copies configured hooks into every spawner, hooks object included."""


class TwinSpawnHooks(LoggingConfigurable):
    """The registry-driven spawn hooks (``c.Spawner.pre_spawn_hook = hooks.pre_spawn_hook``)."""

    registry_url = Unicode(
        help="URL of the registry's API as the hub reaches it, e.g. "
        "http://127.0.0.1:8004/services/twinhub/api",
    ).tag(config=True)
    server_registry_url = Unicode(
        help="URL of the registry's API as user servers reach it (TWINHUB_API_URL); "
        "defaults to registry_url.",
    ).tag(config=True)
    gateway_url = Unicode(
        "",
        help="URL of Dask Gateway's API as the hub reaches it (with its prefix); "
        "empty: do not stop clusters when a server stops.",
    ).tag(config=True)
    kubernetes = Bool(
        False,
        help="True with KubeSpawner: Kubernetes-only profiles (GPU, HPC offload) are offered "
        "and image, node selector and tolerations are applied.",
    ).tag(config=True)
    slurm = Bool(
        False,
        help="True where the hub runs servers as Slurm jobs (TWINHUB_SLURM=1): profiles with "
        "`slurm` resources (hpc-slurm) are offered, and their resources are handed to the "
        "spawner's `apply_profile(profile)`, which submits the job with them.",
    ).tag(config=True)
    slurm_environment = Dict(
        help="Environment of servers on a Slurm profile, over the hub-wide one: the client "
        "config of the gateway whose Dask clusters are Slurm jobs (DASK_GATEWAY__*).",
    ).tag(config=True)
    gateways = Dict(
        help="More Dask Gateways whose clusters stop with the server: hub service name -> "
        "API URL as the hub reaches it (with its prefix), e.g. the Slurm gateway.",
    ).tag(config=True)

    spawns_per_user = Integer(
        0,
        min=0,
        help="Spawns one user may have in flight at once (0: no limit of their own). The hub's "
        "concurrent_spawn_limit is for everyone together; without this one user starting many "
        "named servers holds every slot. Refused spawns get HTTP 429 naming the limit.",
    ).tag(config=True)

    def admit_spawn(self, spawner) -> None:
        """Refuse (429) a spawn while ``spawns_per_user`` other spawns of this user, admitted
        earlier, are still in flight. Checked and recorded with no await in between, so the
        spawns admitted are the first ones, whatever the hub's event loop interleaves."""
        if not self.spawns_per_user:
            return
        admitted = _ADMITTED_SPAWNS.setdefault(spawner.user.name, weakref.WeakSet())
        pending = [s for s in admitted if s is not spawner and s.pending == "spawn"]
        if len(pending) >= self.spawns_per_user:
            raise web.HTTPError(
                429,
                f"{spawner.user.name} is already starting {len(pending)} servers: the limit is "
                f"{self.spawns_per_user} spawns in flight per user. Try again once they are up.",
            )
        admitted.add(spawner)

    # --- talking to the registry and the gateway as the user ----------------------------------
    @asynccontextmanager
    async def _user_token(self, user, scopes: list[str], note: str) -> AsyncIterator[str]:
        """A one-minute token of the user (scopes within the user's own), revoked after use."""
        token = user.new_api_token(expires_in=60, scopes=scopes, note=note)
        try:
            yield token
        finally:
            found = orm.APIToken.find(user.db, token)
            if found is not None:
                user.db.delete(found)
                user.db.commit()

    async def _registry(self, user, method: str, path: str, **kwargs) -> httpx.Response:
        # the registry scopes the user holds: writers see (and may launch) every twin/profile
        held = REGISTRY_WRITE_SCOPES & get_scopes_for(user.orm_user)
        scopes = REGISTRY_ACCESS + sorted(held)
        async with self._user_token(user, scopes, "twinhub spawn hook") as token:
            async with httpx.AsyncClient(timeout=30) as client:
                try:
                    return await client.request(
                        method,
                        self.registry_url.rstrip("/") + path,
                        headers={"Authorization": f"token {token}"},
                        **kwargs,
                    )
                except httpx.HTTPError as e:
                    self.log.error("the twin registry at %s failed: %s", self.registry_url, e)
                    raise web.HTTPError(
                        503, "The twin registry is not reachable; try again in a minute"
                    ) from None

    async def launch_options(self, user) -> dict[str, list[dict]]:
        r = await self._registry(user, "GET", "/spawn/options")
        if r.status_code != 200:
            raise web.HTTPError(503, f"the twin registry did not answer ({r.status_code})")
        data = r.json()
        data["profiles"] = usable_profiles(data["profiles"], self.kubernetes, self.slurm)
        return data

    # --- the form ------------------------------------------------------------------------------
    async def profile_list(self, spawner) -> list[dict[str, Any]]:
        """``c.KubeSpawner.profile_list = hooks.profile_list``: profiles/twins of this user."""
        options = await self.launch_options(spawner.user)
        return build_profile_list(
            options["profiles"], options["twins"], self.kubernetes, self.slurm
        )

    async def options_form(self, spawner) -> str:
        options = await self.launch_options(spawner.user)
        return options_form(options["profiles"], options["twins"], spawner.name)

    @staticmethod
    def options_from_form(formdata: dict[str, list[str]]) -> dict[str, str]:
        return options_from_form(formdata)

    # --- before start: check the choice and apply it -------------------------------------------
    async def pre_spawn_hook(self, spawner) -> None:
        self.admit_spawn(spawner)
        user_options = dict(spawner.user_options or {})
        choice = {
            "profile": user_options.get("profile") or "",
            "twin": chosen_twin(user_options) or "",
            # a named server called after a twin launches that twin
            "server": spawner.name,
        }
        r = await self._registry(spawner.user, "POST", "/spawn/resolve", json=choice)
        if r.status_code != 200:
            detail = _detail(r)
            self.log.warning("refused spawn of %s: %s", spawner._log_name, detail)
            raise web.HTTPError(403, f"Cannot start this server: {detail}")
        resolved = r.json()
        profile, twin = resolved["profile"], resolved["twin"]
        if profile.get("kubernetes_only") and not self.kubernetes:
            raise web.HTTPError(
                403, f"Profile {profile['slug']!r} needs Kubernetes; this gateway runs locally"
            )
        if profile.get("slurm") and not self.slurm:
            raise web.HTTPError(
                403,
                f"Profile {profile['slug']!r} runs on Slurm; this gateway does not enable Slurm",
            )
        self.apply(spawner, profile, twin)
        self.log.info(
            "spawning %s with profile %s and twin %s",
            spawner._log_name,
            profile["slug"],
            twin["name"] if twin else "(none)",
        )

    def apply(self, spawner, profile: dict, twin: dict | None) -> None:
        # a spawner that runs servers where the profile says (local process, Slurm job)
        apply_profile = getattr(spawner, "apply_profile", None)
        if apply_profile is not None:
            apply_profile(profile)
        override = kubespawner_override(profile)
        spawner.cpu_limit = override.pop("cpu_limit")
        spawner.mem_limit = override.pop("mem_limit")
        if self.kubernetes:
            for key, value in override.items():
                setattr(spawner, key, value)
        env = server_environment(
            profile,
            twin,
            api_url=self.server_registry_url or self.registry_url,
            user=spawner.user.name,
            server=spawner.name,
        )
        if profile.get("slurm"):
            env.update(self.slurm_environment)
        if self.kubernetes:
            # KubeSpawner expands {placeholders} in env values: keep ours (JSON) literal
            env = {k: v.replace("{", "{{").replace("}", "}}") for k, v in env.items()}
        # a new dict: the configured one is shared by every spawner
        spawner.environment = {**spawner.environment, **env}

    # --- after stop: the server's Dask clusters go too -----------------------------------------
    async def post_stop_hook(self, spawner) -> None:
        gateways = dict(self.gateways)
        if self.gateway_url:
            gateways = {"dask-gateway": self.gateway_url, **gateways}
        await asyncio.gather(
            *(self._stop_clusters(spawner, name, url) for name, url in gateways.items())
        )

    async def _stop_clusters(self, spawner, service: str, url: str) -> None:
        """Stop the server's clusters on the gateway ``service`` (at ``url``)."""
        user = spawner.user
        others = [s for name, s in user.spawners.items() if name != spawner.name and s.active]
        tag = cluster_tag(user.name, spawner.name)
        scopes = [f"access:services!service={service}"]
        try:
            async with self._user_token(user, scopes, "twinhub post-stop") as token:
                headers = {"Authorization": f"jupyterhub {token}"}
                base = url.rstrip("/") + "/api/v1/clusters/"
                async with httpx.AsyncClient(timeout=30, headers=headers) as client:
                    r = await client.get(base, params={"status": "pending,running"})
                    r.raise_for_status()
                    doomed = [
                        name
                        for name, model in r.json().items()
                        if _cluster_tag(model) == tag
                        or (_cluster_tag(model) is None and not others)
                    ]
                    await asyncio.gather(*(client.delete(base + name) for name in doomed))
            if doomed:
                self.log.info("stopped Dask clusters of %s: %s", spawner._log_name, doomed)
        except (httpx.HTTPError, ValueError) as e:
            # the gateway's idle timeout remains the safety net
            self.log.warning(
                "could not stop the Dask clusters of %s on %s: %s", spawner._log_name, service, e
            )


def _cluster_tag(model: dict) -> str | None:
    environment = (model.get("options") or {}).get("environment") or {}
    return environment.get("TWINHUB_SERVER")


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return f"the registry answered {response.status_code}"
    if isinstance(detail, list):
        return "; ".join(f"{d.get('field')}: {d.get('message')}" for d in detail)
    return str(detail)
