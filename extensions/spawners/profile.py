"""A spawner that runs each server where its infrastructure profile says (local or Slurm).

With ``TWINHUB_SLURM=1`` one hub serves both kinds of profiles: ``hpc-slurm`` servers are
batch jobs (:class:`~twinhub.extensions.spawners.slurm.TwinhubSlurmSpawner`), every other
profile keeps the hub-wide spawner (local processes). JupyterHub has one ``spawner_class``, so
this class stands in for it and delegates start, poll, stop and progress to a *child* spawner
chosen when the profile is known (``pre_spawn_hook`` calls :meth:`apply_profile`), in the way
of wrapspawner's ``ProfilesSpawner`` but driven by the registry's profiles rather than a
static list.

The choice and the child's own state (pid or Slurm job id) are part of this spawner's state, so
a restarted hub polls and stops the right process or job.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from jupyterhub.spawner import Spawner
from traitlets import Any as AnyTrait
from traitlets import Dict, Unicode, directional_link
from traitlets.utils.importstring import import_item

# imported for its side effect too: batchspawner registers the hub API handler
# (POST /hub/api/batchspawner) its jobs report their port to
from . import slurm  # noqa: F401

LINKED_TRAITS = (
    # set by the hub around each spawn, read by the child when it starts
    "api_token",
    "admin_access",
    "user_options",
    "cert_paths",
    # set by the spawn hooks from the profile and twin
    "environment",
    "cpu_limit",
    "mem_limit",
    # reported by a batch job through the batchspawner API, which sets it on this spawner
    "port",
)
"""Traits of this spawner mirrored onto the child (one way: the hub talks to us)."""


class TwinhubProfileSpawner(Spawner):
    """Delegates to the spawner of the target the chosen profile names (module docstring)."""

    targets = Dict(
        {"local": "jupyterhub.spawner.SimpleLocalProcessSpawner"},
        help="""Target name -> spawner class (import string) of the servers of that target.

        A profile picks its target with :meth:`profile_target` (a profile with ``slurm``
        resources: 'slurm'; any other: `default_target`).""",
    ).tag(config=True)

    default_target = Unicode(
        "local", help="Target of the profiles that do not ask for a batch system."
    ).tag(config=True)

    child = AnyTrait(None, allow_none=True, help="The spawner of the current server.")
    target = Unicode("", help="Target of the current server ('' before a profile is chosen).")
    child_overrides = Dict(help="Traits the profile set on the child (kept in the state).")

    def __init__(self, **kwargs: Any) -> None:
        # a child is built with exactly what the hub gave us (user, orm_spawner, hub, config...)
        self._child_kwargs = dict(kwargs)
        self._links: list[directional_link] = []
        super().__init__(**kwargs)

    # --- choosing the child ---------------------------------------------------------------
    def profile_target(self, profile: dict) -> str:
        return "slurm" if profile.get("slurm") else self.default_target

    def apply_profile(self, profile: dict) -> None:
        """Called by the spawn hook with the resolved profile, before ``start``."""
        from .slurm import profile_overrides

        target = self.profile_target(profile)
        overrides = profile_overrides(profile) if target == "slurm" else {}
        self._make_child(target, overrides)
        self.log.info("%s runs on target %s %s", self._log_name, target, overrides or "")

    def _make_child(self, target: str, overrides: dict[str, Any], state: dict | None = None):
        if target not in self.targets:
            raise ValueError(
                f"profile target {target!r} is not enabled on this hub "
                f"(enabled: {', '.join(sorted(self.targets))})"
            )
        cls = import_item(self.targets[target])
        kwargs = {**self._child_kwargs, "user_options": self.user_options}
        child = cls(**kwargs)
        child.clear_state()  # the hub loaded *our* state into the orm spawner, not the child's
        for trait, value in overrides.items():
            setattr(child, trait, value)
        if state:
            child.load_state(state)
        self._unlink()
        self._links = [directional_link((self, t), (child, t)) for t in LINKED_TRAITS]
        # the hub waits for start() and the first HTTP answer with *our* timeouts
        self.start_timeout = child.start_timeout
        self.http_timeout = child.http_timeout
        self.child, self.target, self.child_overrides = child, target, dict(overrides)
        return child

    def _unlink(self) -> None:
        for link in self._links:
            link.unlink()
        self._links = []

    # --- state: survives a hub restart ------------------------------------------------------
    def load_state(self, state: dict) -> None:
        super().load_state(state)
        if state.get("target"):
            self._make_child(
                state["target"], state.get("child_overrides") or {}, state.get("child_state")
            )
        elif state:
            # a server started before TWINHUB_SLURM=1, by the hub-wide spawner: its own state
            self._make_child(self.default_target, {}, state)

    def get_state(self) -> dict:
        state = super().get_state()
        if self.child is not None:
            state["target"] = self.target
            state["child_overrides"] = self.child_overrides
            state["child_state"] = self.child.get_state()
        return state

    def clear_state(self) -> None:
        super().clear_state()
        if self.child is not None:
            self.child.clear_state()
        self._unlink()
        self.child, self.target, self.child_overrides = None, "", {}

    # --- lifecycle: the child's ------------------------------------------------------------
    async def start(self):
        if self.child is None:  # no profile hook ran (e.g. hooks not configured)
            self._make_child(self.default_target, {})
        # a batch job reports its port later; a stale one must not pass for it
        self.port = 0
        return await self.child.start()

    async def poll(self):
        if self.child is None:
            return 1  # nothing was started: not running (JupyterHub: an exit status)
        return await self.child.poll()

    async def stop(self, now: bool = False) -> None:
        if self.child is not None:
            await self.child.stop(now=now)

    async def progress(self):
        if self.child is None:
            yield {"progress": 50, "message": "Choosing where the server runs..."}
            return
        async with aclosing(self.child.progress()) as events:
            async for event in events:
                yield event
