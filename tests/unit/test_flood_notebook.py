"""The flood notebook runs top to bottom in the twinhub kernel (nbclient), as a user would."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from twinhub.kernels.install import KERNEL_NAME, install

from tests.support.data import ensure_built

NOTEBOOK = Path(__file__).resolve().parents[2] / "twins" / "flood" / "flood.ipynb"


def test_notebook_executes_and_keeps_provenance(tmp_path: Path, monkeypatch) -> None:
    ensure_built()
    install(prefix=sys.prefix)
    for var in [v for v in os.environ if v.startswith("DASK_GATEWAY") or v == "TWINHUB_API_URL"]:
        monkeypatch.delenv(var)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
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
    records = list((tmp_path / "twinhub-runs").glob("flood-*.prov.json"))
    assert len(records) == 1
