"""One job's run, in the twin's environment, as the job's user: ``python -m ...runner DIR``.

The executor starts this in the job's folder (``<state>/jobs/<id>/``, owned by the user's
account) with ``job.json`` in it: the twin's manifest as the registry holds it, the checked
inputs and the owner. The run goes through the twin framework (:meth:`Twin.run`, which
records PROV; for a pipeline :func:`run_pipeline`, one graph and one PROV document) on a Dask
cluster of this process's own, whose scheduler and workers are children of this process:
stopping this process group stops every Dask task of the job. What it leaves:

- ``cluster.json``: the scheduler's address and the workers' process ids (written before the run);
- ``result.nc`` (the output, netCDF) and ``provenance.json`` (W3C PROV-JSON) when it succeeds;
- ``result.json``: ``{"status": "successful" | "failed", "reason", "outputs", "checksums"}``.

A replay job (the Runs page's "Replay") has the PROV record of the run it repeats in
``job.json`` (``replay``): it reruns through :func:`twinhub.twins.runs.rerun`, which fails
unless the output is bit for bit the recorded one; its PROV is the replay's own record, which
names the run it reproduced.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

RESULT = "result.nc"
PROVENANCE = "provenance.json"


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)  # readers see the whole file or none


def run(folder: Path) -> int:
    job = json.loads((folder / "job.json").read_text())
    try:
        from dask.distributed import Client, LocalCluster
        from twinhub.contracts.manifest import parse_manifest
        from twinhub.twins.twin import Twin

        pipeline = job["manifest"].get("kind") == "pipeline"
        if not pipeline:
            twin = Twin(parse_manifest(job["manifest"], f"twin {job['process']!r}"), folder)
        with (
            LocalCluster(
                n_workers=job["workers"],
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                scheduler_port=0,
            ) as cluster,
            Client(cluster) as client,
        ):
            client.twinhub_user = job["owner"]  # the PROV agent: the person the job ran for
            pids = client.run(os.getpid)
            _write(
                folder / "cluster.json",
                {"scheduler": cluster.scheduler_address, "workers": sorted(pids.values())},
            )
            if job.get("replay"):
                output, provenance, checksums = _replay(job, client, pipeline)
            elif pipeline:
                output, provenance, checksums = _run_pipeline(job, client)
            else:
                output, record = twin.run(job["inputs"], client=client)
                provenance, checksums = record.provenance(), record.outputs
        from twinhub.twins.pipeline import select_output

        # a twin's declared outputs (twin.yaml `outputs`): what schedules' conditions read, as
        # numbers, without opening the netCDF file (a pipeline's result holds its own)
        values = (
            {}
            if pipeline
            else {
                name: {"value": select_output(twin.manifest, name, output)}
                for name in twin.manifest.outputs
            }
        )
        output.to_netcdf(folder / RESULT)
        _write(folder / PROVENANCE, provenance)
        _write(
            folder / "result.json",
            {
                "status": "successful",
                "reason": None,
                "outputs": {"result": RESULT, "provenance": PROVENANCE},
                "values": values,
                "checksums": checksums,
            },
        )
        return 0
    except Exception as e:
        traceback.print_exc()
        reason = f"{type(e).__name__}: {e}"
        _write(folder / "result.json", {"status": "failed", "reason": reason[:2000]})
        return 1


def _replay(job: dict[str, Any], client: Any, pipeline: bool) -> tuple[Any, dict, dict]:
    """Rerun the recorded run bit for bit (``ReplayError``, the job's reason, if not); the
    job's PROV is the replay's own, naming the run it reproduced."""
    from twinhub.twins.runs import rerun

    output, provenance = rerun(job["replay"], client)
    if pipeline:
        output = _pipeline_dataset(job["process"], output)
    return output, provenance, {}


def _pipeline_dataset(name: str, outputs: Any) -> Any:
    import xarray as xr

    result = xr.Dataset({key: ((), value) for key, value in outputs.items()})
    result.attrs["pipeline"] = name
    return result


def _run_pipeline(job: dict[str, Any], client: Any) -> tuple[Any, dict, dict]:
    """A pipeline job: all its steps as one Dask graph on the job's cluster, one PROV document
    (:func:`twinhub.twins.pipeline.run_pipeline`); the result holds its declared outputs."""
    from twinhub.twins.pipeline import run_pipeline

    outputs, document = run_pipeline(job["manifest"], job["inputs"], client=client)
    result = _pipeline_dataset(job["process"], outputs)
    return result, json.loads(document.serialize(format="json")), {}


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
