"""Preview of the twins' dashboards inside a user's server, for twin developers (PaaS).

jupyter-server-proxy starts this on demand (``hub/singleuser/jupyter_server_config.py``, the
"Twin dashboards" launcher entry) and proxies ``<server>/panel/`` to it: ``panel/<twin>`` is
``twins/<twin>/app.py``'s ``create_app()``, reloaded in the browser whenever its code changes
(Panel's autoreload watches the modules the apps import). No login of its own: the proxy only
lets the server's owner in. Runs keep the server's own settings (a LocalCluster or the
gateway the notebook uses), and records go where the notebook's go.

The index also lists the twin folders of the server's root (``twinhub new NAME`` there) with a
**Publish** button each (``publish_button.py``: ``twinhub publish`` from the browser).
"""

from __future__ import annotations

import argparse
import html
import inspect
import json
import logging
from pathlib import Path
from typing import Any

import panel as pn
from panel.io.reload import record_modules
from tornado.web import RequestHandler
from twinhub.contracts.names import VERSION_PENDING
from twinhub.twins.manifest import load_manifest, resolve_entry_point
from twinhub.twins.twin import available_twins

from .publish_button import publish_handlers, twin_folders, xsrf_token

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


PUBLISH_SCRIPT = """
const prefix = document.body.dataset.prefix, token = document.body.dataset.xsrf;
const pending = JSON.parse(document.body.dataset.pending);
const pause = (ms) => new Promise((done) => setTimeout(done, ms));
async function answer(response) {
  try { return await response.json(); }
  catch (e) { return {error: `the server answered ${response.status}`}; }
}
function show(out, state, text) {
  out.dataset.state = state;
  out.replaceChildren(text);
}
function link(text, href) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}
async function publish(button) {
  const folder = button.dataset.folder;
  const out = document.getElementById(`publish-status-${folder}`);
  button.disabled = true;
  show(out, "uploading", "checking and uploading…");
  try {
    let response = await fetch(`${prefix}/-/publish/${encodeURIComponent(folder)}`,
      {method: "POST", headers: {"X-XSRFToken": token}, credentials: "same-origin"});
    let body = await answer(response);
    const again = response.ok && body.rebuild_of
      ? ` (the same folder as version ${body.rebuild_of}, whose build failed: built again)` : "";
    while (response.ok && pending.includes(body.state)) {
      show(out, body.state, `version ${body.version}: ${body.state}…${again}`);
      await pause(2000);
      response = await fetch(`${prefix}/-/versions/${body.twin}/${body.version}`,
        {credentials: "same-origin"});
      body = await answer(response);
    }
    if (!response.ok) {
      show(out, "refused", "refused: ");
      const why = document.createElement("pre");
      why.textContent = body.error || `the server answered ${response.status}`;
      out.append(why);
    } else if (body.state === "served") {
      show(out, "served", `version ${body.version}: served. `);
      out.append(link("Open dashboard", body.dashboard), " · ",
                 link("Twins page", body.twins_page));
    } else {
      show(out, body.state,
           `version ${body.version}: ${body.state}; the served version is unchanged`);
      const log = document.createElement("pre");
      log.textContent = body.log || "";
      const hint = document.createElement("p");
      hint.className = "publish-hint";
      hint.textContent = body.hint || "";
      out.append(log, hint);
    }
  } catch (e) {
    show(out, "refused", `refused: ${e}`);
  } finally {
    button.disabled = false;
  }
}
for (const button of document.querySelectorAll("button.publish")) {
  button.addEventListener("click", () => publish(button));
}
"""


def index_handler(prefix: str, root: Path) -> type[RequestHandler]:
    class Index(RequestHandler):
        def get(self) -> None:
            items = "".join(
                f'<li><a href="{prefix}/{name}">{html.escape(name)}</a> ({html.escape(spec)})</li>'
                for name, spec in app_specs().items()
            )
            folders = (
                "".join(
                    f'<li class="twin-folder" data-folder="{name}">{name} '
                    f'<button class="publish" data-folder="{name}">Publish</button> '
                    f'<span class="publish-status" id="publish-status-{name}"></span></li>'
                    for name in twin_folders(root)  # slugs: nothing to escape
                )
                or "<li>none: <code>twinhub new NAME</code> in a terminal writes one</li>"
            )
            token = xsrf_token(self, prefix)
            self.set_header("Cache-Control", "no-store")
            self.write(
                "<!DOCTYPE html><title>Twin dashboards</title>"
                f'<body data-prefix="{html.escape(prefix)}" data-xsrf="{token}" '
                f'data-pending="{html.escape(json.dumps(VERSION_PENDING))}">'
                f"<h1>Twin dashboards</h1><ul>{items}</ul>"
                "<h2>Your twin folders</h2><p>Publish uploads a folder as a new version of its "
                "twin (as <code>twinhub publish</code> does): the platform builds and tests it, "
                "then serves it to those its <code>visibility</code> names.</p>"
                f'<ul id="twin-folders">{folders}</ul><script>{PUBLISH_SCRIPT}</script></body>'
            )

    return Index


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", default="", help="URL prefix the proxy forwards, e.g. /panel")
    parser.add_argument("--no-autoreload", action="store_true")
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="the server's root: its twin folders get Publish")  # fmt: skip
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
        extra_patterns=[(r"/?", index_handler(prefix, args.root.resolve())),
                        *publish_handlers(args.root.resolve())],
        title="Twin dashboards",
    )  # fmt: skip


if __name__ == "__main__":
    main()
