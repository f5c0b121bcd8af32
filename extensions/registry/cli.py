"""``twinhub``: validate a twin manifest locally, and list/register twins and profiles on a hub.

``twinhub validate PATH`` needs no hub: it checks the manifest exactly as the registry does
(model, entry points, catalog entries) except the profile, which only the hub knows.
``twinhub new NAME`` writes a working twin folder. The other commands talk to a running hub at
``$TWINHUB_URL`` (in a user server: the registry at ``$TWINHUB_API_URL``) with
``$JUPYTERHUB_API_TOKEN``: ``twinhub publish [PATH]`` uploads a twin
folder as a new version and waits until it is served (or failed; the same folder again is then
built again as a new version), ``twinhub versions NAME``
lists its versions and ``twinhub rollback NAME`` serves the previous one that passed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx
import yaml
from twinhub.catalogs import entry_ids
from twinhub.contracts.manifest import ManifestError
from twinhub.contracts.names import REGISTRY_API, VERSION_PENDING
from twinhub.twins.manifest import entry_point_errors, load_manifest, safe_yaml

API = REGISTRY_API
WAIT_SECONDS = 1800
"""How long ``twinhub publish`` follows a build (the registry bounds each step itself)."""

RETRY_HINT = (
    "fix what the log shows and publish again; if the failure was not your twin's (a timeout, "
    "a restart), publish the same folder again: a failed build's archive is accepted again"
)
"""What a user may do after a failed build (``twinhub publish`` and the Publish button)."""


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
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        """The registry's HTTP status when it answered (None: not asked, or no answer)."""


def _hub_url() -> str:
    """The hub's public URL: in a user server the hub's API URL gives it (``.../hub/api``)."""
    api = os.environ.get("JUPYTERHUB_API_URL", "")
    if api.endswith("/hub/api"):
        return api.removesuffix("/hub/api")
    return "http://127.0.0.1:8000"


def new(name: str, parent: Path) -> int:
    from .scaffold import ScaffoldError, new_twin

    try:
        folder = new_twin(name, parent)
    except ScaffoldError as e:
        print(f"twinhub: {e}", file=sys.stderr)
        return 1
    print(f"{folder}: a new twin; test it with 'cd {folder} && python -m pytest',")
    print("publish it with 'twinhub publish' in that folder")
    return 0


def check_folder(folder: Path) -> str:
    """Local checks before anything is sent: the manifest (no twin code is imported: the
    registry imports it in the twin's own environment) and the package files."""
    manifest = load_manifest(folder / "twin.yaml")
    missing = [f for f in ("pyproject.toml",) if not (folder / f).is_file()]
    for field in ("model", "app"):
        spec = getattr(manifest, field)
        if spec:
            module = spec.partition(":")[0].split(".")[1:]
            if module and not (folder.joinpath(*module).with_suffix(".py")).is_file():
                missing.append(f"{'/'.join(module)}.py (the {field} entry point)")
    if missing:
        raise HubError(f"{folder}: missing {', '.join(missing)}")
    return manifest.name


def upload(folder: Path) -> dict:
    """Check the twin folder here, pack it and upload it as a new version: the version as the
    registry answered (state ``building``). What ``twinhub publish`` and the preview's Publish
    button do; :class:`ManifestError`, :class:`ArchiveError` or :class:`HubError` say why not."""
    from .archive import pack

    folder = folder.resolve()
    name = check_folder(folder)
    data = pack(folder)
    with _client() as client:
        return _check(
            client.post(
                f"/twins/{name}/versions",
                content=data,
                headers={"Content-Type": "application/gzip"},
                timeout=120,
            )
        )


def version_state(name: str, number: int) -> dict:
    """A published version as the registry has it now (state, log...)."""
    with _client() as client:
        return _check(client.get(f"/twins/{name}/versions/{number}"))


def publish(folder: Path, wait: bool = True) -> int:
    from .archive import ArchiveError

    try:
        version = upload(folder)
    except ManifestError as e:
        print(e, file=sys.stderr)
        return 1
    except ArchiveError as e:
        print(f"twinhub: cannot publish {folder.resolve()}: {e}", file=sys.stderr)
        return 1
    name = version["twin"]
    print(f"uploaded {name} version {version['version']} ({version['size']} bytes, "
          f"sha256 {version['sha256'][:12]}): {version['state']}")  # fmt: skip
    if version.get("rebuild_of"):
        print(f"  the same archive as version {version['rebuild_of']}, whose build failed: "
              "built again as this version")  # fmt: skip
    if not wait:
        return 0
    deadline = time.monotonic() + WAIT_SECONDS
    state = version["state"]
    while state in VERSION_PENDING and time.monotonic() < deadline:
        time.sleep(2)
        version = version_state(name, version["version"])
        if version["state"] != state:
            state = version["state"]
            print(f"  {state}")
    if state == "served":
        print(f"{name} version {version['version']} is served: open "
              f"/services/twinhub-apps/{name}")  # fmt: skip
        return 0
    print(version.get("log", "")[-4000:], file=sys.stderr)
    print(f"{name} version {version['version']} {state}: the served version is unchanged",
          file=sys.stderr)  # fmt: skip
    if state == "failed":
        print(RETRY_HINT, file=sys.stderr)
    return 1


def versions(name: str, as_json: bool) -> int:
    with _client() as client:
        items = _check(client.get(f"/twins/{name}/versions"))
    if as_json:
        print(json.dumps(items, indent=2))
        return 0
    for v in items:
        print(f"{v['version']:>4}  {v['state']:<9} {v['twin_version'] or '':<10} "
              f"{v['sha256'][:12]}  {v['size']:>9}  {v['created_at']}")  # fmt: skip
    return 0


def rollback(name: str, number: int | None) -> int:
    with _client() as client:
        items = _check(client.get(f"/twins/{name}/versions"))
        if number is None:
            served = [v["version"] for v in items if v["state"] == "served"]
            earlier = [
                v["version"]
                for v in items
                if v["state"] == "ready" and (not served or v["version"] < served[0])
            ]
            if not earlier:
                raise HubError(f"{name} has no earlier version that passed to return to")
            number = earlier[-1]
        version = _check(client.post(f"/twins/{name}/versions/{number}/serve"))
    print(f"{name} version {version['version']} is served")
    return 0


def _api_url() -> str:
    """The registry's API: ``$TWINHUB_URL`` + its path when given; in a user server the URL its
    spawner set (``$TWINHUB_API_URL``: the hub's own API URL is the hub's internal port, which
    does not route to services); else the hub's public URL."""
    if os.environ.get("TWINHUB_URL"):
        return os.environ["TWINHUB_URL"].rstrip("/") + API
    return os.environ.get("TWINHUB_API_URL", "").rstrip("/") or _hub_url() + API


def _client() -> httpx.Client:
    token = os.environ.get("JUPYTERHUB_API_TOKEN")
    if not token:
        raise HubError("set JUPYTERHUB_API_TOKEN to a hub API token (create one at /hub/token)")
    headers = {"Authorization": f"token {token}"}
    return httpx.Client(base_url=_api_url(), headers=headers, timeout=30)


def _check(response: httpx.Response) -> dict:
    if response.is_success:
        return response.json()
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text
    if isinstance(detail, list):
        detail = "\n".join(f"  {d['field']}: {d['message']}" for d in detail)
    raise HubError(f"the registry answered {response.status_code}:\n{detail}", response.status_code)


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
    n = sub.add_parser("new", help="write a working twin folder NAME (manifest, model, app...)")
    n.add_argument("name")
    n.add_argument("--dir", type=Path, default=Path("."), help="where (default: here)")
    pb = sub.add_parser("publish", help="upload a twin folder as a new version and wait")
    pb.add_argument("path", type=Path, nargs="?", default=Path("."))
    pb.add_argument("--no-wait", action="store_true", help="return once uploaded")
    vs = sub.add_parser("versions", help="published versions of a twin")
    vs.add_argument("name")
    vs.add_argument("--json", action="store_true")
    rb = sub.add_parser("rollback", help="serve the previous version that passed (or --to N)")
    rb.add_argument("name")
    rb.add_argument("--to", type=int, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "validate":
            return validate(args.path)
        if args.command == "new":
            return new(args.name, args.dir)
        if args.command == "publish":
            return publish(args.path, wait=not args.no_wait)
        if args.command == "versions":
            return versions(args.name, args.json)
        if args.command == "rollback":
            return rollback(args.name, args.to)
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
