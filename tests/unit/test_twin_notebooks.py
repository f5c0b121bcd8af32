"""The environmental twins' notebooks run top to bottom in the twinhub kernel, as a user would.

Each notebook ends by replaying its recorded run; the test checks it said so and left exactly
one PROV record in the notebook's folder. Gateway variables are removed so the kernel's
``cluster()`` takes its documented fallback (a LocalCluster) outside the hub.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from twinhub.kernels.install import KERNEL_NAME, install

from tests.support.data import ensure_built

TWINS = Path(__file__).resolve().parents[2] / "twins"


@pytest.mark.parametrize("name", ["flood", "drought", "extremes"])
def test_notebook_executes_and_keeps_provenance(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_built()
    install(prefix=sys.prefix)
    for var in [v for v in os.environ if v.startswith("DASK_GATEWAY") or v == "TWINHUB_API_URL"]:
        monkeypatch.delenv(var)
    notebook = nbformat.read(TWINS / name / f"{name}.ipynb", as_version=4)
    assert notebook.metadata.kernelspec.name == KERNEL_NAME
    client = NotebookClient(
        notebook, kernel_name=KERNEL_NAME, timeout=300, resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    outputs = "\n".join(
        out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )
    assert "replayed bit for bit" in outputs
    assert len(list((tmp_path / "twinhub-runs").glob(f"{name}-*.prov.json"))) == 1
