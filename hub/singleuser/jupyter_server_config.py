# Jupyter server settings of every user server (this folder is on JUPYTER_CONFIG_PATH).
#
# "Twin dashboards" in JupyterLab's launcher: jupyter-server-proxy starts the preview of the
# twins' Panel apps on first use and serves it at <server>/panel/<twin>, reloading a page when
# the twin's code changes (twinhub.extensions.server.preview).
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - provided by Jupyter when it loads this file

c.ServerProxy.servers = {
    "panel": {
        "command": [
            sys.executable, "-m", "twinhub.extensions.server.preview",
            "--port", "{port}", "--prefix", "{base_url}panel",
        ],
        # the app sees the full path, so its pages and websockets carry the right prefix
        "absolute_url": True,
        "timeout": 120,
        "launcher_entry": {"title": "Twin dashboards", "path_info": "panel/"},
    }
}  # fmt: skip

# a twin's server (TWINHUB_TWIN, set by the spawn hook) starts with the twin's notebook in it,
# at <twin>/<notebook>: "Open in JupyterLab" on the Twins page opens it there. Imported only
# then: the settings and manifest modules cost every other server ~0.35 s of CPU at start
if os.environ.get("TWINHUB_TWIN"):
    from twinhub.extensions.server.notebook import provide_twin_notebook

    # the spawner starts the server in its root folder
    provide_twin_notebook(Path.cwd(), os.environ["TWINHUB_TWIN"])
