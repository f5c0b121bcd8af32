"""The benchmark table (Markdown, so the README can show it as printed) and the goals."""

from __future__ import annotations

from .startup import TWIN as TWIN_OF_STARTUP
from .stats import ratio

Row = tuple[str, str, str, str, str]
"""benchmark, baseline, twinhub, ratio, goal"""

GOALS = {
    "spawn": "twinhub <= 1.1x bare hub (median and p95, with the 95 % interval)",
    "clusters": "< 3 s to a usable scheduler",
    "registry": ">= 2000 reads/s, p95 < 50 ms; token checks cached",
    "proxies": "the proxy costs <= 10 % of direct reads (ratio >= 0.90)",
    "users": "0 failed requests at 100 users",
    "hostile": "linear: 1 MiB hostile body < 1 s; others wait < 0.1 s (p95)",
    "fairness": "<= 1.5x alone",
    "runs": "measured (no goal yet)",
    "scaling": ">= 1.7x speed-up with 2 workers",
    "startup": "measured, before and after (issue 17)",
}


def _s(stat: dict) -> str:
    return f"{stat['median_s']:.2f} / {stat['p95_s']:.2f}"


def _spread(stat: dict) -> str:
    return f"{_s(stat)} ({stat['p5_s']:.1f}-{stat['p95_s']:.1f})"


def _ci(interval: list[float]) -> str:
    """A 95 % confidence interval as printed beside a ratio."""
    return f"{interval[0]:.2f}-{interval[1]:.2f}"


def _spawn_rows(r: dict) -> list[Row]:
    rows: list[Row] = []
    load = r["load_average"]
    for mode in ("sequential", "concurrent"):
        c = r["ratio"][mode]
        tight = "" if mode == "concurrent" or r["interval_tight"] else ", interval not tight"
        rows.append(
            (
                f"spawn to answering, {r['twinhub'][mode]['n']} {mode} (median / p95 s;"
                f" p5-p95 spread; load {load['min']:.1f}-{load['max']:.1f})",
                _spread(r["baseline"][mode]),
                _spread(r["twinhub"][mode]),
                f"{c['median']} [{_ci(c['median_ci95'])}] / {c['p95']}"
                f" [{_ci(c['p95_ci95'])}]{tight}",
                GOALS["spawn"],
            )
        )
    return rows


def _clusters_rows(r: dict) -> list[Row]:
    rows: list[Row] = []
    labels = {
        "scheduler": "Dask: usable scheduler (s)",
        "two_workers": "Dask: 2 workers connected (s)",
        "scale_to_four": "Dask: scale 2 -> 4 (s)",
    }
    for key, label in labels.items():
        rows.append(
            (
                f"{label}, LocalCluster vs Gateway (median / p95)",
                _s(r["baseline"][key]),
                _s(r["twinhub"][key]),
                str(r["ratio"][key]),
                GOALS["clusters"] if key == "scheduler" else "",
            )
        )
    return rows


def _registry_rows(r: dict) -> list[Row]:
    rows: list[Row] = []
    base = {k.rsplit(" x", 1)[1]: v for k, v in r["reads"].items() if "baseline" in k}
    for key, v in r["reads"].items():
        if "baseline" in key:
            continue
        n = key.rsplit(" x", 1)[1]
        b = base[n]
        rows.append(
            (
                f"registry {key} clients (req/s, p95 ms)",
                f"{b['req_per_s']:.0f}, {b['p95_ms']:.0f}",
                f"{v['req_per_s']:.0f}, {v['p95_ms']:.0f}",
                f"{v['req_per_s'] / b['req_per_s']:.2f}",
                GOALS["registry"],
            )
        )
    for key, v in r["writes"].items():
        rows.append(
            (
                f"registry {key} writers (writes/s, p95 ms)",
                "-",
                f"{v['writes_per_s']:.0f}, {v['p95_ms']:.0f}",
                "-",
                f"{v['errors']} errors",
            )
        )
    if "server_side" in r:
        side = r["server_side"]
        rows.append(
            (
                "registry: time inside the registry per read (ms; reads/s it allows)",
                "-",
                f"{side['ms_per_read']} ms; {side['reads_per_s_one_core']}/s",
                "-",
                "p95 < 50 ms",
            )
        )
    c = r["token_checks"]
    rows.append(
        (
            "hub token checks during registry reads",
            "-",
            f"{c['hub_token_checks']} for {c['registry_requests']} requests",
            "-",
            "cached",
        )
    )
    return rows


def _hostile_rows(r: dict) -> list[Row]:
    rows: list[Row] = []
    rows.append(
        (
            f"registry: largest hostile body ({r['hostile_bytes'] // 1024} KiB, "
            f"{r['worst']}) vs small body ({r['small_bytes']} B), forged token "
            "(median / p95 s)",
            _s(r["baseline"]),
            _s(r["shapes"][r["worst"]]),
            str(r["ratio"]),
            GOALS["hostile"],
        )
    )
    rows.append(
        (
            "registry: another user's /api/health during hostile bodies (median / p95 s)",
            "-",
            _s(r["health_wait"]),
            "-",
            "",
        )
    )
    return rows


def _many_users_rows(r: dict) -> list[Row]:
    rows: list[Row] = []
    for label in ("twinhub", "twinhub-traefik"):
        for n, t in r.get(label, {}).items():
            rows += _users_rows(f"{n} users, {'chp' if label == 'twinhub' else 'traefik'}",
                                r["baseline"].get(n), t)  # fmt: skip
    return rows


def _fairness_rows(r: dict) -> list[Row]:
    rows: list[Row] = []
    load, c = r["load_average"], r["ratio"]
    rows.append(
        (
            f"small dashboard run beside another user's large runs vs alone, {c['n'][0]}"
            f" each (median / p95 s; p5-p95 spread; load {load['min']:.1f}-{load['max']:.1f})",
            _spread(r["alone"]),
            _spread(r["beside"]),
            f"{c['median']} [{_ci(c['median_ci95'])}] / {c['p95']} [{_ci(c['p95_ci95'])}]",
            GOALS["fairness"],
        )
    )
    return rows


def _runs_rows(r: dict) -> list[Row]:
    rows: list[Row] = []
    direct, wall = r["direct_run"], r["job_wall"]
    rows += [
        (
            f"run executor: job wall time vs a direct Twin.run ({r['jobs']} lattice jobs; "
            "median / p95 s)",
            _s(direct),
            _s(wall),
            str(ratio(wall["median_s"], direct["median_s"])),
            GOALS["runs"],
        ),
        (
            "run executor: submit to running (median / p95 s) and jobs/s sustained",
            "-",
            f"{_s(r['submit_to_running'])}; {r['jobs_per_s']} jobs/s",
            "-",
            GOALS["runs"],
        ),
    ]
    return rows


def _scaling_rows(r: dict) -> list[Row]:
    rows: list[Row] = []
    load = r["load_average"]
    for workload, w in r.items():
        if not isinstance(w, dict) or "speedup" not in w:
            continue
        rows.append(
            (
                f"{workload}: 1 vs 2 Dask workers (median / p95 s, n={w['one_worker']['n']}; "
                f"load {load['min']:.1f}-{load['max']:.1f}; columns: 1 worker, 2 workers, "
                "speed-up)",
                _s(w["one_worker"]),
                _s(w["two_workers"]),
                f"{w['speedup']} [{_ci(w['speedup_ci95'])}]",
                GOALS["scaling"],
            )
        )
    return rows


def _startup_rows(results: dict) -> list[Row]:
    rows: list[Row] = []
    reg, dash = results["registry"], results["dashboard"]
    for label, r, base, now, cols in (
        (
            "registry start to first answer (median / p95 s, p5-p95)",
            reg,
            "before",
            "now",
            f"importing the twins' code ({reg['modules_imported_before']} modules), "
            "without it (platform env)",
        ),
        (
            f"{TWIN_OF_STARTUP} dashboard page through the router (median / p95 s, p5-p95)",
            dash,
            "warm",
            "cold",
            "its process running, its process started on demand",
        ),
    ):
        load, c = r["load_average"], r["ratio"]
        rows.append(
            (
                f"{label}, n={r[now]['n']}; load {load['min']:.1f}-{load['max']:.1f}; "
                f"columns: {cols}",
                _spread(r[base]),
                _spread(r[now]),
                f"{c['median']} [{_ci(c['median_ci95'])}]",
                GOALS["startup"],
            )
        )
    return rows


def _with_load(rows: list[Row], r: dict) -> list[Row]:
    """The load the benchmark ran at (sampled by ``python -m tests.bench``), on each of its
    rows that does not show a load of its own."""
    la = r.get("load_1min")
    if not la:
        return rows
    at = f"load {la['min']:.1f}-{la['max']:.1f}"
    return [(row[0] if "load" in row[0] else f"{row[0]} ({at})", *row[1:]) for row in rows]


def _ratio_ci(c: dict) -> str:
    return f"{c['median']} [{_ci(c['median_ci95'])}]"


def _n(c: dict) -> int:
    """Pairs of a paired ratio, or the first sample's size of an unpaired one."""
    return c["n"] if isinstance(c["n"], int) else c["n"][0]


def _proxy_rows(r: dict) -> list[Row]:
    """Each proxy against the server's own port, then traefik against CHP (through each)."""
    load = r["load_average"]
    at = f"load {load['min_1min']:.1f}-{load['max_1min']:.1f}"
    rows = []
    for p in ("chp", "traefik"):
        res = r["results"][p]
        for key, v in res["reads"].items():
            rows.append(
                (
                    f"{p}: registry reads {key} clients, through the proxy vs the registry's "
                    f"port (req/s, p95 ms; ratio of req/s, n={_n(v['ratio'])} pairs; {at})",
                    f"{v['direct_req_per_s']:.0f}, {v['direct_p95_ms']:.0f}",
                    f"{v['through_req_per_s']:.0f}, {v['through_p95_ms']:.0f}",
                    _ratio_ci(v["ratio"]),
                    f"{GOALS['proxies']}; errors {v['errors_through']} through, "
                    f"{v['errors_direct']} direct",
                )
            )
        h = res["hub_api"]
        rows.append(
            (
                f"{p}: hub API GET /hub/api/user x10, through the proxy vs the hub's port "
                f"(req/s, p95 ms; {at})",
                f"{h['direct_req_per_s']:.0f}, {h['direct_p95_ms']:.0f}",
                f"{h['through_req_per_s']:.0f}, {h['through_p95_ms']:.0f}",
                _ratio_ci(h["ratio"]),
                "",
            )
        )
        w = res["websocket"]
        rows.append(
            (
                f"{p}: dashboard websocket PULL-DOC round trip, through the proxy vs the "
                f"service's port (median / p95 ms, n={_n(w['ratio'])}; {at})",
                f"{w['direct_median_ms']:.1f} / {w['direct_p95_ms']:.1f}",
                f"{w['through_median_ms']:.1f} / {w['through_p95_ms']:.1f}",
                _ratio_ci(w["ratio"]),
                "",
            )
        )
    for key, c in r["results"]["traefik_vs_chp"].items():
        what = "round-trip time" if key == "websocket" else "req/s"
        rows.append(
            (f"traefik vs chp: {key} through the proxy ({what}; {at})", "chp", "traefik",
             _ratio_ci(c), "")
        )  # fmt: skip
    for p, c in r["crowd"].items():
        rows.append(
            (
                f"{p}: {c['users']} users at once: login / spawn / registry call / stop "
                f"(median / p95 s; load {c['load_average'][0]:.1f})",
                "-",
                ", ".join(_s(c["steps"][step]) for step in ("login", "spawn", "api", "stop")),
                "-",
                f"{c['failed']} failed, {c['retries_429']} 429 retries, {c['wall_s']} s",
            )
        )
    return rows


def _users_rows(what: str, b: dict | None, t: dict) -> list[Row]:
    """One many-users round of twinhub beside the bare hub's of the same size (if run)."""
    rows = []
    for step in ("login", "spawn", "api", "dashboard", "stop"):
        bs, ts = (b or {}).get("steps", {}).get(step), t["steps"].get(step)
        if not ts:
            continue
        both = bs and bs["n"] and ts["n"]
        rows.append(
            (
                f"{what}: {step} (median / p95 s)",
                _s(bs) if bs and bs["n"] else ("none" if b else "not run"),
                _s(ts) if ts["n"] else "-",
                f"{ts['median_s'] / bs['median_s']:.2f}" if both else "-",
                "",
            )
        )

    def started(x: dict) -> str:
        h = x.get("hub_start_times") or {}
        return f"{h['median_s']:.1f} / {h['p95_s']:.1f} / {h['max_s']:.1f}" if h.get("n") else "-"

    rows.append(
        (
            f"{what}: server start as the hub logged it, no queue (median / p95 / max s)",
            started(b) if b else "not run",
            started(t),
            "-",
            "",
        )
    )

    def totals(x: dict) -> str:
        la = x.get("load_average_1min") or {}
        return (
            f"{x['failed']} / {x['retries_429']} / {x['wall_s']} / "
            f"{la.get('median', float('nan')):.1f} ({la.get('max', float('nan')):.1f})"
        )

    rows.append(
        (
            f"{what}: failed users / 429 retries / wall s / load median (max)",
            totals(b) if b else "not run",
            totals(t),
            "-",
            GOALS["users"],
        )
    )
    return rows


ROWS = {
    "spawn": _spawn_rows,
    "clusters": _clusters_rows,
    "registry": _registry_rows,
    "proxies": _proxy_rows,
    "hostile": _hostile_rows,
    "users": _many_users_rows,
    "fairness": _fairness_rows,
    "runs": _runs_rows,
    "scaling": _scaling_rows,
    "startup": _startup_rows,
}
"""Each benchmark's rows, in the table's order."""


def _rows(results: dict) -> list[Row]:
    rows = []
    for name, rows_of in ROWS.items():
        if name in results:
            rows += _with_load(rows_of(results[name]), results[name])
    return rows


COLUMNS = {
    "spawn": ("bare JupyterHub", "twinhub"),
    "clusters": ("LocalCluster", "Dask Gateway through the hub"),
    "registry": ("bare JupyterHub's GET /hub/api/user", "twinhub's registry"),
    "proxies": ("directly (the server's port)", "through the proxy"),
    "hostile": ("small body", "hostile body"),
    "users": ("bare JupyterHub", "twinhub"),
    "fairness": ("alone", "beside"),
    "runs": ("direct Twin.run", "run executor"),
    "scaling": ("1 worker", "2 workers"),
    "startup": ("before / warm", "now / cold"),
}
"""What the two measured columns hold, per benchmark (the one table says it in each row)."""


def _markdown_table(head: tuple[str, ...], rows: list[Row]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def table(results: dict) -> str:
    """Every row in one table, as ``make bench`` prints it."""
    return _markdown_table(("benchmark", "bare JupyterHub", "twinhub", "ratio", "goal"),
                           _rows(results))  # fmt: skip


def sections(results: dict) -> str:
    """A table per benchmark with its own column names, time and load, for the README:
    ``python -m tests.bench.report bench-results.json`` prints them from one run's file."""
    machine = results.get("machine", {})
    parts = [
        f"One run of `make bench`, started {machine.get('when', '?')}, "
        f"{machine.get('cpus', '?')} cores, Python {machine.get('python', '?')}."
    ]
    for name, rows_of in ROWS.items():
        if name not in results:
            continue
        r = results[name]
        la = r.get("load_1min", {})
        load = (
            f"; load {la['min']:.1f}-{la['median']:.1f}-{la['max']:.1f} (min-median-max)"
            if la
            else ""
        )
        parts.append(f"`{name}` ({r.get('elapsed_s', 0):.0f} s{load})")
        head = ("benchmark", *COLUMNS[name], "ratio", "goal")
        parts.append(_markdown_table(head, _with_load(rows_of(r), r)))
    return "\n\n".join(parts)


if __name__ == "__main__":
    import json
    import sys

    path = sys.argv[1] if len(sys.argv) > 1 else "bench-results.json"
    with open(path) as f:
        print(sections(json.load(f)))
