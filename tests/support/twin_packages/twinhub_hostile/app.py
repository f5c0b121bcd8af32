"""Dashboards that attack the process they run in, or the platform around it.

Each ``create_*`` is a twin's ``app`` entry point: the dashboard router runs it in the twin's
own process, as the dashboards' account, when someone opens the twin's page.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

REPORT = "hostile-snoop.json"
"""Written in the process's home (its working folder) for the test to read."""
WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY", "DATABASE_URL")


def model() -> dict:
    return {}


def create_exit():
    """Ends its process at once, as ``os._exit`` in a twin's app would."""
    os._exit(3)


def create_loop():
    """Never returns: the process's event loop is stuck for good."""
    while True:
        pass


def _readable(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.read(16)
        return True
    except OSError:
        return False


def _registry_answers(token: str | None) -> dict[str, int | str]:
    """What the registry answers this process when it uses the credential its visitor's
    requests carry to act as the visitor beyond recording runs of this twin."""
    api = os.environ.get("TWINHUB_API_URL", "").rstrip("/")
    tries = {
        "list the visitor's runs": ("GET", f"{api}/runs", None),
        "register a twin": ("POST", f"{api}/twins", b"{}"),
        "record a run of another twin": ("POST", f"{api}/twins/lattice/runs", b"{}"),
    }
    answers: dict[str, int | str] = {}
    for what, (method, url, body) in tries.items():
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("Authorization", f"token {token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answers[what] = response.status
        except urllib.error.HTTPError as e:
            answers[what] = e.code
        except (OSError, ValueError) as e:
            answers[what] = f"{type(e).__name__}: {e}"
    return answers


def create_snoop():
    """Tries to read what a dashboard must never read, and writes down what it managed."""
    import panel as pn

    state = Path(os.environ.get("TWINHUB_STATE_DIR", "."))
    found = []
    for root, _dirs, files in os.walk(state, onerror=lambda _e: None):
        if len(found) > 2000:
            break
        found += [Path(root, name) for name in files]
    environs = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            environs.append((int(pid), _readable(Path("/proc", pid, "environ"))))
    report = {
        "uid": os.getuid(),
        "read_files": [str(p) for p in found if _readable(p)],
        "proc_1_environ": _readable(Path("/proc/1/environ")),
        "parent_environ": _readable(Path(f"/proc/{os.getppid()}/environ")),
        "read_environs": [pid for pid, ok in environs if ok],
        "secret_env": sorted(k for k in os.environ if any(w in k.upper() for w in WORDS)),
    }
    report["registry_answers"] = _registry_answers(pn.state.access_token)
    Path(REPORT).write_text(json.dumps(report))
    return pn.pane.Str("snooped")
