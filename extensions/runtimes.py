"""Twin runtime environments: which Python runs a twin's code, and how one is built.

The platform's services never import a twin: a twin's code runs with the interpreter
:func:`runtime_python` names, in a process of its own (the registry's entry-point check
:func:`entry_point_errors`, the dashboards, published twins). The five shipped twins share one
environment, the project's own venv, into which ``make install`` installs their packages
(``twins/<name>/pyproject.toml``); a twin with requirements of its own gets an environment from
:func:`build_environment`: the platform's base plus its requirements, built with ``uv`` from the
package indexes pip is configured with, and cached by content. docs/twin-runtimes.md says why and
what each costs.

``settings`` is any object with the attributes ``state_dir``, ``twin_python``,
``twin_envs_dir`` and ``entry_point_check_timeout`` (the hub's ``Settings`` or the registry's
``RegistryConfig``, both read from the same ``TWINHUB_*`` variables).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

READY = ".twinhub-ready"
"""Written last into a built environment: one without it is half-built and is built again."""
BASE_PTH = "_twinhub_base.pth"
"""The line that puts the platform's base environment behind the twin's own packages."""
MAX_CHECK_OUTPUT = 256 * 1024
"""Characters of the entry-point checker's answer that are read; more is a broken checker."""
CHILD_ENV = ("PATH", "PYTHONPATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TWINHUB_STATE_DIR")
"""What a twin's checker process inherits: no token, password or database URL."""
PIP_OPTIONS = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
}


PUBLISHED = "published"
"""The state directory's folder of twins users published (``<state>/published/<twin>/<n>``)."""
SERVED = "served"
"""The link, in a published twin's folder, to the version it serves."""


def published_dir(state_dir: Path, twin: str) -> Path:
    return Path(state_dir) / PUBLISHED / twin


class EnvironmentBuildError(RuntimeError):
    """``uv`` could not build a twin's environment; the message holds the end of its output."""


def envs_dir(settings: Any) -> Path:
    return Path(settings.twin_envs_dir or Path(settings.state_dir) / "twin-envs")


PLATFORM_SUFFIX = "-platform"
"""The platform's environment lies next to the twin runtime's venv, named after it with this
suffix (``make install``: ``.venv-platform`` next to ``.venv``)."""


def platform_python(twin_prefix: Path | str = sys.prefix) -> Path:
    """The interpreter of the platform's environment (its services: hub, registry, dashboard
    router, run executor, Dask Gateway), which holds no twin's science stack: the one ``make
    install`` builds next to the twin runtime ``twin_prefix`` (this venv), else, where none was
    built (a plain ``pip install``), this interpreter: one environment for both."""
    prefix = Path(twin_prefix)
    python = prefix.with_name(prefix.name + PLATFORM_SUFFIX) / "bin" / "python"
    return python if python.is_file() else Path(sys.executable)


def shared_python(settings: Any) -> Path:
    """The shared twin environment's interpreter (``TWINHUB_TWIN_PYTHON``, else this one)."""
    return Path(settings.twin_python) if settings.twin_python else Path(sys.executable)


def runtime_python(twin: str, settings: Any) -> Path:
    """The interpreter of ``twin``'s environment: the served version's for a published twin,
    its own if one was built, else the shared one."""
    served = published_dir(settings.state_dir, twin) / SERVED / "env" / "bin" / "python"
    if served.exists():
        return served
    own = envs_dir(settings) / twin
    if (own / READY).is_file():
        return own / "bin" / "python"
    return shared_python(settings)


# --- building --------------------------------------------------------------------------------


def pip_index_options(python: Path | str = sys.executable) -> list[str]:
    """pip's configured indexes, find-links and constraints as ``uv pip`` options.

    ``uv`` ignores pip.conf and ``PIP_*``; reading them from ``pip config list`` (files and
    environment) lets an offline machine's local indexes reach uv without naming any path here.
    """
    try:
        out = subprocess.run(
            [str(python), "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    values: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, sep, raw = line.partition("=")
        option = key.rpartition(".")[2]
        if not sep or option not in PIP_OPTIONS:
            continue
        for value in raw.strip().strip("'\"").split():
            if option == "index-url":
                values[option] = [value]  # later sources (environment) win
            elif value not in values.setdefault(option, []):
                values[option].append(value)
    return [arg for opt, vals in values.items() for v in vals for arg in (PIP_OPTIONS[opt], v)]


def pinned_install(
    uv: str, python: Path, pins: Path, base_python: Path | str = sys.executable
) -> list[str]:
    """``uv pip install`` into ``python``'s environment at the versions ``pins`` names (the twin
    runtime's, which pip chose), from pip's indexes, compiled to bytecode as pip does (uv does
    not by default: the services and users' processes would compile every module at each start,
    unable or not allowed to write ``__pycache__``). pip takes the best version across all its
    indexes; uv by default only looks at the first index that has a package, which may lack the
    pinned version, so it is told to consider every index, as pip does."""
    return [
        uv, "pip", "install", "--quiet", "--python", str(python), "--constraint", str(pins),
        "--compile-bytecode", *pip_index_options(base_python),
        "--index-strategy", "unsafe-best-match",
    ]  # fmt: skip


def uv_executable() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not found:
        raise EnvironmentBuildError("uv is not installed (it is a dependency of twinhub)")
    return found


def _base_site_packages(base_python: Path) -> str:
    if Path(base_python) == Path(sys.executable):
        return sysconfig.get_paths()["purelib"]
    return subprocess.run(
        [str(base_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def _base_pins(base_python: Path) -> list[str]:
    """The base environment's installed versions (editable and local ones left out)."""
    out = subprocess.run(
        [uv_executable(), "pip", "freeze", "--python", str(base_python)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [line for line in out.splitlines() if "==" in line and " @ " not in line]


def _run(args: list[str], timeout: float) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise EnvironmentBuildError(f"{args[1:3]} took longer than {timeout:.0f} s") from None
    if done.returncode != 0:
        raise EnvironmentBuildError((done.stderr or done.stdout)[-4000:])


def build_environment(
    twin: str,
    requirements: Sequence[str],
    settings: Any,
    *,
    editable: Iterable[Path] = (),
    base_python: Path | None = None,
    timeout: float = 900,
) -> Path:
    """Build (or reuse) ``twin``'s environment and return its interpreter.

    The environment is a venv whose own packages (``requirements``, then ``editable`` folders,
    held to the base's installed versions) come first and the base environment's (the platform:
    twinhub's framework, numpy, Panel, Dask...) after them. It lives under a name made of its
    inputs' hash, so the same inputs reuse it (and uv's cache makes a new one cheap); the twin's
    name points at it only once it is complete, so a failed build leaves the previous one served.
    """
    base_python = Path(base_python or shared_python(settings))
    editable = [Path(p).resolve() for p in editable]
    inputs = [str(base_python), sorted(requirements), [str(p) for p in editable]]
    key = hashlib.sha256(json.dumps(inputs).encode()).hexdigest()[:16]
    root = envs_dir(settings)
    env = root / "by-hash" / key
    env.parent.mkdir(parents=True, exist_ok=True)
    with open(root / "by-hash" / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder per environment; the others reuse it
        if not (env / READY).is_file():
            shutil.rmtree(env, ignore_errors=True)
            _build(env, base_python, list(requirements), editable, timeout)
    link = root / twin
    if link.is_symlink() or not link.exists():
        tmp = root / f".{twin}.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(Path("by-hash") / key)
        os.replace(tmp, link)
    return link / "bin" / "python"


def _build(
    env: Path, base_python: Path, requirements: list[str], editable: list[Path], timeout: float
) -> None:
    uv = uv_executable()
    _run([uv, "venv", "--quiet", "--python", str(base_python), str(env)], timeout)
    python = env / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    base = _base_site_packages(base_python)
    # addsitedir (not a bare path) so the base's own .pth files (editable installs) apply too
    Path(site, BASE_PTH).write_text(f"import site; site.addsitedir({base!r})\n")
    if requirements or editable:
        pins = env / "base-constraints.txt"
        pins.write_text("\n".join(_base_pins(base_python)) + "\n")
        args = pinned_install(uv, python, pins, base_python) + list(requirements)
        for folder in editable:
            args += ["--editable", str(folder)]
        _run(args, timeout)
    (env / READY).write_text("")


def build_platform_environment(env_dir: Path, project: Path, *, timeout: float = 1800) -> Path:
    """Build the platform's environment ``env_dir``: a ``uv`` venv of this interpreter's
    Python holding only ``project`` (the root package, editable) and its dependencies, none of
    the twins' packages, each at the version this environment (the twin runtime) has, so that
    both sides of every connection (hub and servers, gateway and schedulers, registry and
    twins' processes) run the same code; from the indexes pip is configured with. Returns its
    interpreter."""
    uv = uv_executable()
    env_dir = Path(env_dir)
    _run([uv, "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(env_dir)],
         timeout)  # fmt: skip
    python = env_dir / "bin" / "python"
    pins = env_dir / "twin-runtime-constraints.txt"
    pins.write_text("\n".join(_base_pins(Path(sys.executable))) + "\n")
    _run([*pinned_install(uv, python, pins), "--editable", str(project)], timeout)
    return python


# --- checking a twin's entry points in its own environment ------------------------------------


class _PassedChecks:
    """Entry points that imported, with the stat of each file the answer depends on (the
    checker's fingerprint): the same entry points in the same environment are not imported
    again while none of those files changed. A check costs a process importing the twin's
    code (a second or more of CPU); registering or updating the same twin again is common. Only
    passes are kept: a failing check runs again, so a fix is seen at once. Bounded (LRU)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._passed: dict[tuple[str, ...], tuple[tuple[str, int, int], ...]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _stat(files: Iterable[str]) -> tuple[tuple[str, int, int], ...] | None:
        try:
            return tuple((f, (st := os.stat(f)).st_mtime_ns, st.st_size) for f in files)
        except OSError:
            return None

    def passed(self, key: tuple[str, ...]) -> bool:
        with self._lock:
            seen = self._passed.get(key)
        if seen is None or self._stat(f for f, _, _ in seen) != seen:
            return False
        with self._lock:  # most recently used last
            self._passed[key] = self._passed.pop(key, seen)
        return True

    def remember(self, key: tuple[str, ...], files: Sequence[str]) -> None:
        stats = self._stat(files)
        if stats is None:
            return
        with self._lock:
            self._passed.pop(key, None)
            self._passed[key] = stats
            while len(self._passed) > self.size:
                self._passed.pop(next(iter(self._passed)))


_passed_checks = _PassedChecks()


def entry_point_errors(manifest: Any, settings: Any) -> list[tuple[str, str]]:
    """Import the manifest's ``model``/``app``/``showcase`` in a process of the twin's
    environment (``python -m twinhub.twins.entrycheck``), within
    ``TWINHUB_ENTRY_POINT_CHECK_TIMEOUT`` seconds; the caller never imports twin code. The
    same entry points in the same environment pass again without a process while the files
    the first pass depended on are unchanged (:class:`_PassedChecks`)."""
    specs = {
        field: getattr(manifest, field)
        for field in ("model", "app", "showcase")
        if getattr(manifest, field, None)
    }
    if not specs:
        return []
    timeout = float(settings.entry_point_check_timeout)
    python = runtime_python(manifest.name, settings)
    env = {k: os.environ[k] for k in CHILD_ENV if k in os.environ}
    key = (str(python), json.dumps(specs, sort_keys=True), json.dumps(env, sort_keys=True))
    if _passed_checks.passed(key):
        return []
    try:
        done = subprocess.run(
            [str(python), "-m", "twinhub.twins.entrycheck"],
            input=json.dumps(specs),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return [
            (field, f"{spec!r} did not import within {timeout:g} s")
            for field, spec in specs.items()
        ]
    except OSError as e:
        return [("model", f"the twin's environment cannot run: {e.strerror or e}")]
    try:
        answer = json.loads(done.stdout[-MAX_CHECK_OUTPUT:].strip().splitlines()[-1])
        errors = [(str(f), str(m)[:500]) for f, m in answer["errors"]]
        files = answer.get("files")
        if not errors and isinstance(files, list) and all(isinstance(f, str) for f in files):
            _passed_checks.remember(key, files)
        return errors
    except (ValueError, IndexError, TypeError, KeyError, AttributeError):
        tail = (done.stderr or done.stdout or "no output").strip()[-300:]
        return [
            (
                next(iter(specs)),
                f"importing the entry points ended the process (exit {done.returncode}): {tail}",
            )
        ]


WRITE_BASE_PTH = f"""
import os, sys, sysconfig
path = os.path.join(sysconfig.get_paths()["purelib"], {BASE_PTH!r})
with open(path, "w") as f:
    f.writelines(f"import site; site.addsitedir({{p!r}})\\n" for p in sys.argv[1:])
os.chmod(path, 0o644)  # read by whoever runs the twin (the step may run with umask 077)
"""
"""A published environment's base ``.pth``, written by its interpreter: the base's site
directories are its arguments."""


def build_published_environment(
    source: Path, env_dir: Path, *, run: Callable[[list[str]], None]
) -> Path:
    """Build ``env_dir`` for a published twin's package in ``source``; return its interpreter.

    Unlike :func:`build_environment` (the platform builds, as itself, cached by inputs), each
    step here is ``run(argv)`` by the caller: as the twin's owner, with a minimal environment
    and a time limit (the registry's publishing), which raises when a step fails.
    """
    uv = uv_executable()
    run([uv, "venv", "--quiet", "--python", sys.executable, str(env_dir)])
    python = env_dir / "bin" / "python"
    # the platform's packages as a site directory (its own .pth files, editable installs
    # included, are processed), after the twin's own. Written by the new environment's own
    # interpreter as a step (as the owner): the folder is theirs, so the caller (root) neither
    # runs its interpreter nor writes a path in it they could have made a link meanwhile
    paths = sysconfig.get_paths()
    run([str(python), "-c", WRITE_BASE_PTH, *dict.fromkeys([paths["purelib"], paths["platlib"]])])
    run([uv, "pip", "install", "--python", str(python), *pip_index_options(), str(source)])
    return python


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m twinhub.extensions.runtimes platform DIR PROJECT`` (``make install``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3 or args[0] != "platform":
        print("usage: python -m twinhub.extensions.runtimes platform DIR PROJECT", file=sys.stderr)
        return 2
    try:
        build_platform_environment(Path(args[1]), Path(args[2]))
    except EnvironmentBuildError as e:
        print(f"twinhub: the platform's environment could not be built: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
