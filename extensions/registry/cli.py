"""``twinhub``: validate a twin manifest locally, and list/register twins and profiles on a hub.

``twinhub validate PATH`` needs no hub: it checks the manifest exactly as the registry does
(model, entry points, catalog entries) except the profile, which only the hub knows. The other
commands talk to a running hub at ``$TWINHUB_URL`` with ``$JUPYTERHUB_API_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import httpx
import yaml
from twinhub.catalogs import entry_ids
from twinhub.contracts.names import REGISTRY_API
from twinhub.twins.manifest import ManifestError, entry_point_errors, load_manifest, safe_yaml

API = REGISTRY_API


def validate(path: Path) -> int:
    if path.is_dir():
        path = path / "twin.yaml"
    try:
        manifest = load_manifest(path)
    except ManifestError as e:
        print(e, file=sys.stderr)
        return 1
    errors = entry_point_errors(manifest)
    known = entry_ids()
    errors += [
        (f"catalog.{i}", f"{entry!r} is not an entry of the shipped catalogs")
        for i, entry in enumerate(manifest.catalog)
        if entry not in known
    ]
    if errors:
        print(ManifestError(str(path), errors), file=sys.stderr)
        return 1
    print(f"{path}: twin {manifest.name!r} {manifest.version} is valid")
    return 0


class HubError(RuntimeError):
    pass


def _client() -> httpx.Client:
    url = os.environ.get("TWINHUB_URL", "http://127.0.0.1:8000").rstrip("/")
    token = os.environ.get("JUPYTERHUB_API_TOKEN")
    if not token:
        raise HubError("set JUPYTERHUB_API_TOKEN to a hub API token (create one at /hub/token)")
    return httpx.Client(base_url=url + API, headers={"Authorization": f"token {token}"}, timeout=30)


def _check(response: httpx.Response) -> dict:
    if response.is_success:
        return response.json()
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text
    if isinstance(detail, list):
        detail = "\n".join(f"  {d['field']}: {d['message']}" for d in detail)
    raise HubError(f"the registry answered {response.status_code}:\n{detail}")


def _all(client: httpx.Client, path: str) -> list[dict]:
    items, offset = [], 0
    while True:
        page = _check(client.get(path, params={"limit": 200, "offset": offset}))
        items += page["items"]
        offset += page["limit"]
        if offset >= page["total"]:
            return items


def twins_list(as_json: bool) -> int:
    with _client() as client:
        twins = _all(client, "/twins")
    if as_json:
        print(json.dumps(twins, indent=2, default=str))
    for t in twins if not as_json else []:
        print(f"{t['name']:<24} {t['version']:<10} {t['domain']:<12} {t['title']}")
    return 0


def twins_register(path: Path) -> int:
    data = safe_yaml(path.read_text())
    with _client() as client:
        response = client.post("/twins", json=data)
        if response.status_code == 409:
            response = client.put(f"/twins/{data['name']}", json=data)
        twin = _check(response)
    print(f"registered twin {twin['name']!r} {twin['version']}")
    return 0


def profiles_list(as_json: bool) -> int:
    with _client() as client:
        profiles = _all(client, "/profiles")
    if as_json:
        print(json.dumps(profiles, indent=2, default=str))
    for p in profiles if not as_json else []:
        spec = p["profile"]
        flags = " (default)" if spec.get("default") else ""
        flags += " [Kubernetes only]" if spec.get("kubernetes_only") else ""
        resources = f"{spec['cpu']:>5g} CPU {spec['memory']:>6}"
        print(f"{p['slug']:<16} {resources}  {spec['display_name']}{flags}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="twinhub", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check a twin.yaml (or a twin folder)")
    v.add_argument("path", type=Path)
    twins = sub.add_parser("twins", help="twins on the hub").add_subparsers(
        dest="action", required=True
    )
    tl = twins.add_parser("list")
    tl.add_argument("--json", action="store_true")
    tr = twins.add_parser("register", help="register (or update) a twin from its twin.yaml")
    tr.add_argument("file", type=Path)
    profiles = sub.add_parser("profiles", help="infrastructure profiles").add_subparsers(
        dest="action", required=True
    )
    pl = profiles.add_parser("list")
    pl.add_argument("--json", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "validate":
            return validate(args.path)
        if args.command == "twins" and args.action == "list":
            return twins_list(args.json)
        if args.command == "twins" and args.action == "register":
            return twins_register(args.file)
        return profiles_list(args.json)
    except (HubError, httpx.HTTPError, OSError, yaml.YAMLError) as e:
        print(f"twinhub: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
