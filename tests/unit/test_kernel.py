"""The "twinhub (Python 3)" kernel: a real ipykernel started from the installed kernelspec."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from twinhub.extensions.spawn_options import server_environment
from twinhub.kernels.install import DISPLAY_NAME, KERNEL_NAME, install
from twinhub.twins.twin import load_twin

from tests.support.data import ensure_built


class KernelFailed(AssertionError):
    pass


def run(client, code: str, timeout: float = 120) -> str:
    """Execute ``code``; returns stdout plus the text of results; raises with the traceback."""
    chunks: list[str] = []
    errors: list[str] = []

    def collect(msg) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            chunks.append(content["text"])
        elif kind in ("execute_result", "display_data"):
            chunks.append(content["data"].get("text/plain", ""))
        elif kind == "error":
            errors.append("\n".join(content["traceback"]))

    reply = client.execute_interactive(code, timeout=timeout, output_hook=collect)
    if errors or reply["content"]["status"] != "ok":
        raise KernelFailed("\n".join(errors) or str(reply["content"]))
    return "".join(chunks)


def start(env: dict[str, str]) -> tuple[KernelManager, object]:
    manager = KernelManager(kernel_name=KERNEL_NAME)
    manager.start_kernel(env=env)
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    return manager, client


@pytest.fixture(scope="module")
def kernelspec() -> str:
    ensure_built()
    install(prefix=sys.prefix)
    return KERNEL_NAME


@pytest.fixture
def kernel(kernelspec, monkeypatch, tmp_path) -> Iterator[object]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_GATEWAY")}
    env.update(TWINHUB_TWIN="flood", JUPYTERHUB_USER="kernel-tester")
    manager, client = start(env)
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=False)


def test_kernelspec_is_installed_with_its_display_name(kernelspec) -> None:
    spec = KernelSpecManager().get_kernel_spec(kernelspec)
    assert spec.display_name == DISPLAY_NAME
    assert spec.argv[0] == sys.executable and "twinhub.kernels.extension" in spec.argv


def test_kernel_session_has_twin_catalog_and_local_cluster(kernel) -> None:
    out = run(kernel, "print(twin.name, twin.manifest.version)")
    assert out.strip() == "flood 0.1.0"
    out = run(
        kernel,
        "ds = catalog['fulda_daily'].read(); print(ds.sizes['time'], ds.precip.chunks)",
    )
    assert out.strip() == "3653 ((1827, 1826),)"
    out = run(
        kernel,
        "c = cluster(); client = c.get_client()\n"
        "res, rec = twin.run({'ensemble_size': 4, 'block': 2}, client=client)\n"
        "workers = len(client.scheduler_info()['workers'])\n"
        "print(type(c).__name__, workers, res.sizes['member'], rec.agent)",
    )
    assert out.split() == ["LocalCluster", "2", "4", "kernel-tester"]


def test_cluster_keeps_to_the_workers_the_spawn_allowed(kernelspec) -> None:
    """A profile of one worker and the flood twin (which wants 2): the spawn clamps the twin
    to the profile, and the kernel's ``cluster()`` keeps to that clamp, not the twin's own."""
    import os

    profile = {"slug": "one-worker", "dask_gateway": {"max_workers": 1}}
    twin = load_twin("flood").manifest.model_dump(mode="json")
    assert twin["dask"]["max_workers"] > 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_GATEWAY")}
    env.update(
        server_environment(
            profile, twin, api_url="http://127.0.0.1:9/api", user="kernel-tester", server="flood"
        ),
        JUPYTERHUB_USER="kernel-tester",
    )
    manager, client = start(env)
    try:
        out = run(client, "c = cluster(); print(type(c).__name__, len(c.workers)); c.close()")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=False)
    assert out.split() == ["LocalCluster", "1"]


def test_twin_magic_switches_and_names_unknown_twins(kernel) -> None:
    assert "flood" in run(kernel, "%twin flood")
    with pytest.raises(KernelFailed, match="no twin named 'rhine'"):
        run(kernel, "%twin rhine")


def test_long_local_computations_show_a_progress_bar(kernel) -> None:
    out = run(kernel, "import dask, time\ndask.delayed(time.sleep)(1.5).compute()")
    assert "100% Completed" in out
