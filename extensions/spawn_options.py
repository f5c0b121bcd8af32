"""Pure functions from registry data to spawner settings (KubeSpawner's ``profile_list`` shape).

Kept apart from the async hooks in ``spawn.py`` (as kubespawner keeps ``objects.py`` apart from
its spawner): given the profiles and twins a user may use, they build the profile list, the
options form, and the limits and environment of one server, with no I/O.
"""

from __future__ import annotations

import html
import json
from typing import Any

NO_TWIN = "none"
"""The ``twin`` choice of a plain development server."""


def cluster_tag(user: str, server: str) -> str:
    """The value of ``TWINHUB_SERVER`` in the Dask clusters a server starts (see post_stop)."""
    return f"{user}/{server}"


def usable_profiles(profiles: list[dict], kubernetes: bool, slurm: bool = False) -> list[dict]:
    """Profiles this deployment can run: Kubernetes-only ones need KubeSpawner, Slurm ones
    (with ``slurm`` resources) a hub that enables Slurm."""
    return [
        p
        for p in profiles
        if (kubernetes or not p.get("kubernetes_only")) and (slurm or not p.get("slurm"))
    ]


def kubespawner_override(profile: dict[str, Any]) -> dict[str, Any]:
    """What a profile changes in KubeSpawner (resources, image, placement)."""
    override: dict[str, Any] = {
        "cpu_limit": float(profile["cpu"]),
        "mem_limit": profile["memory"],
    }
    if profile.get("image"):
        override["image"] = profile["image"]
    if profile.get("node_selector"):
        override["node_selector"] = dict(profile["node_selector"])
    if profile.get("tolerations"):
        override["tolerations"] = [
            {k: v for k, v in t.items() if v is not None} for t in profile["tolerations"]
        ]
    if profile.get("gpu"):
        override["extra_resource_limits"] = {"nvidia.com/gpu": str(profile["gpu"])}
    return override


def build_profile_list(
    profiles: list[dict], twins: list[dict], kubernetes: bool = True, slurm: bool = False
) -> list[dict[str, Any]]:
    """KubeSpawner's ``profile_list``: one entry per profile, the twin as a profile option."""
    choices: dict[str, Any] = {
        NO_TWIN: {"display_name": "No twin (development environment)", "default": True}
    }
    for twin in twins:
        choices[twin["name"]] = {"display_name": f"{twin['title']} ({twin['version']})"}
    entries = []
    for profile in usable_profiles(profiles, kubernetes, slurm):
        entries.append(
            {
                "display_name": profile["display_name"],
                "slug": profile["slug"],
                "description": profile.get("description", ""),
                "default": bool(profile.get("default")),
                "kubespawner_override": kubespawner_override(profile),
                "profile_options": {"twin": {"display_name": "Twin", "choices": choices}},
            }
        )
    return entries


def chosen_twin(user_options: dict[str, Any]) -> str | None:
    """The twin in ``user_options`` (our form, the REST API, or KubeSpawner's form, which
    stores the profile option ``twin`` under that same key)."""
    value = user_options.get("twin")
    return None if value in (None, "", NO_TWIN) else str(value)


def server_environment(
    profile: dict[str, Any],
    twin: dict[str, Any] | None,
    *,
    api_url: str,
    user: str,
    server: str,
) -> dict[str, str]:
    """Environment of the server: which twin, its catalog, the registry, Dask defaults."""
    dask = dict(profile.get("dask_gateway") or {})
    cores = int(dask.get("worker_cores", 1))
    memory = float(dask.get("worker_memory_gib", 1.0))
    max_workers = int(dask.get("max_workers", 2))
    if twin:
        # a twin asks for what its runs need, within what the profile allows
        spec = twin.get("dask") or {}
        cores = min(cores, int(spec.get("worker_cores", cores)))
        memory = min(memory, float(spec.get("worker_memory_gib", memory)))
        max_workers = min(max_workers, int(spec.get("max_workers", max_workers)))
    env = {
        "TWINHUB_API_URL": api_url,
        "TWINHUB_PROFILE": profile["slug"],
        "TWINHUB_TWIN": twin["name"] if twin else "",
        "TWINHUB_CATALOG": ",".join(twin.get("catalog") or []) if twin else "",
        "TWINHUB_DASK_MAX_WORKERS": str(max_workers),
        "DASK_GATEWAY__CLUSTER__OPTIONS__WORKER_CORES": str(cores),
        "DASK_GATEWAY__CLUSTER__OPTIONS__WORKER_MEMORY": repr(memory),
        # tags every cluster the server starts, so stopping the server stops those clusters
        "DASK_GATEWAY__CLUSTER__OPTIONS__ENVIRONMENT": json.dumps(
            {"TWINHUB_SERVER": cluster_tag(user, server)}
        ),
    }
    return env


def options_form(profiles: list[dict], twins: list[dict], server: str = "") -> str:
    """The spawn page's form for spawners without KubeSpawner's own (the local default)."""

    def option(value: str, label: str, selected: bool) -> str:
        mark = " selected" if selected else ""
        return f'<option value="{html.escape(value)}"{mark}>{html.escape(label)}</option>'

    profile_options = "".join(
        option(p["slug"], f"{p['display_name']}: {p.get('description', '')}", p.get("default"))
        for p in profiles
    )
    twin_options = option(NO_TWIN, "No twin (development environment)", not server) + "".join(
        option(t["name"], f"{t['title']} ({t['version']})", t["name"] == server) for t in twins
    )
    return (
        '<div class="mb-3"><label class="form-label" for="twinhub-profile">'
        "Infrastructure profile</label>"
        f'<select class="form-select" name="profile" id="twinhub-profile">{profile_options}'
        "</select></div>"
        '<div class="mb-3"><label class="form-label" for="twinhub-twin">Twin</label>'
        f'<select class="form-select" name="twin" id="twinhub-twin">{twin_options}</select></div>'
    )


def options_from_form(formdata: dict[str, list[str]]) -> dict[str, str]:
    """The form's fields as ``user_options`` (the same keys the REST API takes)."""
    options = {}
    for key in ("profile", "twin"):
        value = (formdata.get(key) or [""])[0].strip()
        if value and value != NO_TWIN:
            options[key] = value
    return options
