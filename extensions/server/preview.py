"""Preview of the twins' dashboards inside a user's server, for twin developers (PaaS).

jupyter-server-proxy starts this on demand (``hub/singleuser/jupyter_server_config.py``, the
"Twin dashboards" launcher entry) and proxies ``<server>/panel/`` to it: ``panel/<twin>`` is
``twins/<twin>/app.py``'s ``create_app()``, reloaded in the browser whenever its code changes
(Panel's autoreload watches the modules the apps import). No login of its own: the proxy only
lets the server's owner in. Runs keep the server's own settings (a LocalCluster or the
gateway the notebook uses), and records go where the notebook's go.
"""

from __future__ import annotations

import argparse
import html
import inspect
import logging
from typing import Any

import panel as pn
from panel.io.reload import record_modules
from tornado.web import RequestHandler
from twinhub.twins.manifest import load_manifest, resolve_entry_point
from twinhub.twins.twin import available_twins

log = logging.getLogger(__name__)


def app_specs() -> dict[str, str]:
    """Every twin folder's ``app`` entry point, read from its manifest now (new folders too)."""
    specs = {}
    for name, path in sorted(available_twins().items()):
        try:
            manifest = load_manifest(path)
        except Exception as e:  # a broken manifest must not hide the other twins
            log.warning("twin %s: manifest does not load: %s", name, e)
            continue
        if manifest.app:
            specs[name] = manifest.app
    return specs


def preview_page() -> Any:
    name = pn.state.route_params.get("twin", "")
    spec = app_specs().get(name)
    if spec is None:
        known = ", ".join(app_specs()) or "none"
        return pn.pane.Markdown(f"## No twin folder named “{html.escape(name)}”\n\nKnown: {known}")
    factory = resolve_entry_point(spec)
    return factory(client=None) if "client" in inspect.signature(factory).parameters else factory()


def index_handler(prefix: str) -> type[RequestHandler]:
    class Index(RequestHandler):
        def get(self) -> None:
            items = "".join(
                f'<li><a href="{prefix}/{name}">{html.escape(name)}</a> ({html.escape(spec)})</li>'
                for name, spec in app_specs().items()
            )
            self.write(f"<!DOCTYPE html><title>Twin dashboards</title><h1>Twin dashboards</h1>"
                       f"<ul>{items}</ul>")  # fmt: skip

    return Index


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", default="", help="URL prefix the proxy forwards, e.g. /panel")
    parser.add_argument("--no-autoreload", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    prefix = "/" + args.prefix.strip("/") if args.prefix.strip("/") else ""
    pn.config.autoreload = not args.no_autoreload
    # import every twin's app once, recorded: a change to their code reloads open pages
    with record_modules():
        for name, spec in app_specs().items():
            try:
                resolve_entry_point(spec)
            except Exception as e:
                log.warning("twin %s: app %s does not import: %s", name, spec, e)
    pn.serve(
        {r"/(?P<twin>[^/]+)": preview_page},
        port=args.port, address="127.0.0.1", prefix=prefix, show=False,
        websocket_origin="*", autoreload=not args.no_autoreload,
        extra_patterns=[(r"/?", index_handler(prefix))], title="Twin dashboards",
    )  # fmt: skip


if __name__ == "__main__":
    main()
