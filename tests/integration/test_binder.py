"""The Binder launch without Docker: repo2docker's own build plan, then its steps in a fresh venv.

repo2docker itself (its ``--no-build`` plan and the build pack it picks) must choose a Python that
``pyproject.toml``'s ``requires-python`` accepts: a fresh venv of the local Python cannot see that.
Then a new virtual environment from ``binder/requirements.txt`` (installed with uv, in seconds
rather than pip's minutes),
``binder/postBuild`` (kernel and demo data), a twin notebook executed with nbclient on the
twinhub kernel (a LocalCluster, no gateway) and every twin imported, and
``binder/start jupyter server`` serving a twin dashboard through its server-proxy entry at
``/panel/<twin>``.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from packaging.specifiers import SpecifierSet
from repo2docker.app import Repo2Docker
from repo2docker.buildpacks.base import BuildPack
from twinhub.extensions.runtimes import pip_index_options, uv_executable

from tests.support.gateway import free_ports
from tests.support.waiting import wait_for

pytestmark = pytest.mark.binder

REPO = Path(__file__).resolve().parents[2]
RUN_NOTEBOOK = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
resources = {"metadata": {"path": sys.argv[2]}}
NotebookClient(nb, timeout=600, kernel_name="twinhub", resources=resources).execute()
print("executed", sys.argv[1])
"""


def repo2docker_build_pack() -> BuildPack:
    """The build pack repo2docker picks for this repository, as its ``build()`` picks it."""
    app = Repo2Docker()
    with contextlib.chdir(REPO):
        for build_pack_class in app.buildpacks:
            build_pack = build_pack_class(base_image=app.base_image)
            if build_pack.detect():
                return build_pack
        return app.default_buildpack(base_image=app.base_image)


def test_repo2docker_plans_a_python_that_the_project_accepts() -> None:
    requires_python = SpecifierSet(
        tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    )
    build_pack = repo2docker_build_pack()
    with contextlib.chdir(REPO):  # the build pack reads binder/ relative to the checkout
        python = build_pack.python_version
    assert python in requires_python, (
        f"repo2docker would build Python {python} ({type(build_pack).__name__}); "
        f"pyproject.toml requires {requires_python}: pin it in binder/runtime.txt"
    )
    # the command line's plan (no Docker needed with --no-build) builds that same Python and
    # installs binder/requirements.txt into it, without falling back to a default version
    plan = subprocess.run(
        [sys.executable, "-m", "repo2docker", "--no-build", "--debug", "."],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = plan.stdout + plan.stderr
    assert plan.returncode == 0, output[-3000:]
    assert "Python version unspecified" not in output
    assert re.findall(r"conda environment for python=(\d+\.\d+)", output) == [python]
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in output


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("binder")
    venv = root / "venv"
    # uv builds the same environment from the same requirements file as pip does in
    # repo2docker (the plan above checks that command), in a fraction of pip's time (CI time)
    uv = uv_executable()
    subprocess.run([uv, "venv", "--quiet", "--seed", "--python", sys.executable, str(venv)],
                   check=True)  # fmt: skip
    install = [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python")]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TWINHUB_", "DASK_GATEWAY"))},
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "VIRTUAL_ENV": str(venv),
        "TWINHUB_STATE_DIR": str(root / "state"),
        "HOME": os.environ.get("HOME", str(root)),
    }
    # every index, as pip does (uv takes a package from the first index that has it)
    requirements = ["-r", "binder/requirements.txt", *pip_index_options()]
    requirements += ["--index-strategy", "unsafe-best-match"]
    subprocess.run([*install, *requirements], cwd=REPO, env=env, check=True)
    subprocess.run(["binder/postBuild"], cwd=REPO, env=env, check=True, timeout=600)
    env["TWINHUB_BINDER_ROOT"] = str(root)
    yield env


def test_postbuild_installs_the_kernel_and_builds_the_data(binder_env: dict[str, str]) -> None:
    venv = Path(binder_env["VIRTUAL_ENV"])
    assert (venv / "share" / "jupyter" / "kernels" / "twinhub" / "kernel.json").is_file()
    assert (Path(binder_env["TWINHUB_STATE_DIR"]) / "data" / "fulda_daily.zarr").is_dir()


def test_a_twin_notebook_runs_on_binder_and_every_twin_imports(binder_env: dict[str, str]) -> None:
    """The flood notebook top to bottom on the Binder kernel (a LocalCluster, no gateway), and
    every twin's model and app import in the Binder environment.

    One notebook is enough for the Binder environment itself: every notebook runs top to bottom
    with its science checked in tests/unit (test_twin_notebooks.py, twins/), on the same code.
    """
    python = Path(binder_env["VIRTUAL_ENV"]) / "bin" / "python"
    notebook = REPO / "twins" / "flood" / "flood.ipynb"
    work = Path(binder_env["TWINHUB_BINDER_ROOT"]) / "run-flood"
    work.mkdir(exist_ok=True)
    result = subprocess.run(
        [str(python), "-c", RUN_NOTEBOOK, str(notebook), str(work)],
        cwd=work, env=binder_env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((work / "twinhub-runs").glob("flood-*.prov.json"))) == 1
    twins = sorted(p.parent.name for p in REPO.glob("twins/*/twin.yaml"))
    assert len(twins) >= 5
    imports = "; ".join(f"import twinhub.twins.{t}.model, twinhub.twins.{t}.app" for t in twins)
    result = subprocess.run(
        [str(python), "-c", imports], env=binder_env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_dashboard_through_the_server_proxy_entry(binder_env: dict[str, str]) -> None:
    (port,) = free_ports(1)
    token = "binder-test-token"
    jupyter = Path(binder_env["VIRTUAL_ENV"]) / "bin" / "jupyter"
    log = open(Path(binder_env["TWINHUB_BINDER_ROOT"]) / "jupyter.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        ["binder/start", str(jupyter), "server", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", "--allow-root"],
        cwd=REPO, env=binder_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/panel/flood?token={token}"
        r = wait_for(
            lambda: httpx.get(url, timeout=60),
            until=lambda r: r.status_code == 200 and "bokeh" in r.text.lower(),
            timeout=240,
            interval=2,
            ignore=(httpx.HTTPError,),
            message="the flood dashboard through jupyter-panel-proxy",
        )
        assert r is not None and r.status_code == 200, getattr(r, "text", "")[-2000:]
        assert "Bokeh" in r.text or "bokeh" in r.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
