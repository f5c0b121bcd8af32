"""Benchmark: the two public proxies side by side (``TWINHUB_PROXY=chp`` and ``traefik``).

Both gateways run at once (each the full launcher with its registry and one test twin), and
every measurement alternates between them and, within each gateway, between the path through
its proxy and the same server's own port, repetition by repetition: a machine whose load
drifts during the run shifts both sides of each ratio alike. Rows:

* registry reads (``GET /services/twinhub/api/twins`` with a user's token; ``wrk``, 10 and 50
  clients): through the proxy vs the registry's own port. The proxy's cost is
  ``1 - through/direct`` of the reads/s (goal: <= 10 %);
* the hub's API under load (``GET /hub/api/user``, 10 clients): through the proxy vs the hub's
  port;
* a dashboard's websocket: the test twin's Bokeh session (``<twin>/ws``, with the page's
  session token), a ``PULL-DOC-REQ`` answered by ``PULL-DOC-REPLY``, repeated on one socket:
  through the proxy vs the dashboard service's port;
* a crowd: N users arrive at once, log in, spawn, call the registry and stop (:mod:`.users`),
  through each proxy in turn.

Every ratio comes with n, a bootstrap 95 % interval (:mod:`.stats`) and the load average.
Through/direct ratios (and traefik/CHP ones) are paired: the median of the repetitions' own
ratios, each measured back to back (:func:`.stats.paired`); the raw samples are kept in
``bench-results.json``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.support.gateway import Gateway

from . import users, wrk
from .hubs import running, start_twinhub
from .stats import compare, load_average, paired, percentile

PROXIES = ("chp", "traefik")
READ_CLIENTS = (10, 50)
HUB_CLIENTS = 10
API = "/services/twinhub/api/twins"
APPS = "/services/twinhub-apps"
TWIN = "growth"
"""The benches' test twin (:func:`.hubs.start_twinhub`): an empty Panel page."""


def _dashboard_session(gw: Gateway, name: str) -> tuple[str, str]:
    """Log ``name`` in, open the twin's dashboard (the service's OAuth round trip) and return
    the Cookie header and the Bokeh session token of the page."""
    with gw.client(follow_redirects=True) as c:
        c.get("/hub/login")
        c.post(
            f"/hub/login?next={APPS}/{TWIN}",
            data={"username": name, "password": gw.user_password, "_xsrf": c.cookies.get("_xsrf")},
        )
        page = c.get(f"{APPS}/{TWIN}")
        page.raise_for_status()
        found = re.search(r'token\\?"\s*:\s*\\?"([A-Za-z0-9_.\-]+)', page.text)
        if not found:
            raise RuntimeError(f"no Bokeh session token in the dashboard page: {page.text[:300]}")
        # what a browser sends to <twin>/ws: the cookies whose path covers it, longest first
        ws_path = f"{APPS}/{TWIN}/ws"
        jar = sorted(
            (ck for ck in c.cookies.jar if ws_path.startswith(ck.path.rstrip("/") + "/")),
            key=lambda ck: -len(ck.path),
        )
        cookie = "; ".join(f"{ck.name}={ck.value}" for ck in jar)
        return cookie, found.group(1)


def _frames(msgtype: str) -> list[str]:
    header = {"msgid": uuid.uuid4().hex, "msgtype": msgtype}
    return [json.dumps(header), "{}", "{}"]


async def _read_message(ws) -> dict:
    """One Bokeh message: header, metadata, content (and as many buffers as the header says)."""
    header = json.loads(await ws.read_message())
    await ws.read_message()
    await ws.read_message()
    for _ in range(header.get("num_buffers", 0)):
        await ws.read_message()
    return header


async def _ws_round_trips(url: str, origin: str, cookie: str, token: str, n: int) -> list[float]:
    """Seconds from each ``PULL-DOC-REQ`` to its ``PULL-DOC-REPLY`` on one websocket."""
    # the public Host, as both proxies pass it on (the service checks Origin against it)
    public = origin.split("://", 1)[1]
    request = HTTPRequest(url, headers={"Cookie": cookie, "Origin": origin, "Host": public})
    ws = await websocket_connect(request, subprotocols=["bokeh", token])
    try:
        ack = await asyncio.wait_for(_read_message(ws), 30)
        assert ack["msgtype"] == "ACK", ack
        times = []
        for _ in range(n):
            t = time.monotonic()
            for frame in _frames("PULL-DOC-REQ"):
                await ws.write_message(frame)
            reply = await asyncio.wait_for(_read_message(ws), 30)
            times.append(time.monotonic() - t)
            assert reply["msgtype"] == "PULL-DOC-REPLY", reply
        return times
    finally:
        ws.close()


def _rps(samples: list[dict]) -> list[float]:
    return [s["req_per_s"] for s in samples]


def _ratio(through: list[float], direct: list[float]) -> dict:
    """Through the proxy against directly, pair by pair (measured back to back)."""
    return paired(through, direct)


def run(
    root: Path, reps: int = 8, seconds: float = 3.0, ws_trips: int = 24, crowd: int = 20
) -> dict:
    out: dict = {"load_average": {"start": load_average()}, "reps": reps, "seconds": seconds}
    samples: dict = {
        p: {"reads": {}, "hub": {"through": [], "direct": []}, "ws": {"through": [], "direct": []}}
        for p in PROXIES
    }
    loads: list[list[float]] = []
    with ExitStack() as stack:
        gws = {
            p: stack.enter_context(running(start_twinhub(root / p, {"TWINHUB_PROXY": p})))
            for p in PROXIES
        }
        sessions = {}
        for p, gw in gws.items():
            reader = gw.login("reader")
            httpx.get(f"{gw.url}{API}", headers=reader.headers, timeout=30).raise_for_status()
            sessions[p] = reader
        for rep in range(reps):
            # alternate which proxy goes first, so neither always follows the other's load
            order = PROXIES if rep % 2 == 0 else PROXIES[::-1]
            for p in order:
                gw, reader = gws[p], sessions[p]
                s = samples[p]
                direct_registry = f"http://127.0.0.1:{gw.settings.registry_port}"
                for n in READ_CLIENTS:
                    pair = s["reads"].setdefault(f"x{n}", {"through": [], "direct": []})
                    pair["through"].append(wrk.load(gw.url + API, n, seconds, reader.headers))
                    pair["direct"].append(
                        wrk.load(direct_registry + API, n, seconds, reader.headers)
                    )
                hub_direct = f"http://127.0.0.1:{gw.settings.hub_port}"
                for side, base in (("through", gw.url), ("direct", hub_direct)):
                    s["hub"][side].append(
                        wrk.load(base + "/hub/api/user", HUB_CLIENTS, seconds, reader.headers)
                    )
                # a page of its own each time: Bokeh's session token expires after 5 minutes
                cookie, token = _dashboard_session(gw, "watcher")
                origin = gw.url
                apps_direct = f"ws://127.0.0.1:{gw.settings.dashboards_port}"
                for side, base in (
                    ("through", gw.url.replace("http://", "ws://")),
                    ("direct", apps_direct),
                ):
                    s["ws"][side] += asyncio.run(
                        _ws_round_trips(
                            f"{base}{APPS}/{TWIN}/ws", origin, cookie, token, ws_trips // reps
                        )
                    )
                loads.append(load_average())
        # the crowd rounds last (they spawn servers): each proxy's in turn
        out["crowd"] = {}
        for p in PROXIES:
            gw = gws[p]
            out["crowd"][p] = asyncio.run(users._round(gw.url, gw.user_password, crowd, API))
            out["crowd"][p]["load_average"] = load_average()
    out["load_average"]["end"] = load_average()
    out["load_average"]["max_1min"] = max((la[0] for la in loads), default=float("nan"))
    out["load_average"]["min_1min"] = min((la[0] for la in loads), default=float("nan"))
    out["results"] = _summarise(samples)
    return out


def _summarise(samples: dict) -> dict:
    result: dict = {}
    for p, s in samples.items():
        r: dict = {"reads": {}}
        for key, pair in s["reads"].items():
            through, direct = _rps(pair["through"]), _rps(pair["direct"])
            r["reads"][key] = {
                "through_req_per_s": round(sorted(through)[len(through) // 2], 1),
                "direct_req_per_s": round(sorted(direct)[len(direct) // 2], 1),
                "through_p95_ms": max(x["p95_ms"] for x in pair["through"]),
                "direct_p95_ms": max(x["p95_ms"] for x in pair["direct"]),
                "errors_through": sum(x["errors"] for x in pair["through"]),
                "errors_direct": sum(x["errors"] for x in pair["direct"]),
                "non_2xx_3xx": sum(x["non_2xx_3xx"] for x in pair["through"] + pair["direct"]),
                "ratio": _ratio(through, direct),
            }
        through, direct = _rps(s["hub"]["through"]), _rps(s["hub"]["direct"])
        r["hub_api"] = {
            "through_req_per_s": round(sorted(through)[len(through) // 2], 1),
            "direct_req_per_s": round(sorted(direct)[len(direct) // 2], 1),
            "through_p95_ms": max(x["p95_ms"] for x in s["hub"]["through"]),
            "direct_p95_ms": max(x["p95_ms"] for x in s["hub"]["direct"]),
            "ratio": _ratio(through, direct),
        }
        ws_through, ws_direct = s["ws"]["through"], s["ws"]["direct"]
        r["websocket"] = {
            "through_median_ms": round(percentile(ws_through, 50) * 1000, 2),
            "through_p95_ms": round(percentile(ws_through, 95) * 1000, 2),
            "direct_median_ms": round(percentile(ws_direct, 50) * 1000, 2),
            "direct_p95_ms": round(percentile(ws_direct, 95) * 1000, 2),
            "ratio": compare(ws_through, ws_direct),
        }
        result[p] = r
    # traefik against CHP, through each proxy
    a, b = samples["traefik"], samples["chp"]
    # the two gateways' repetitions alternate too, so these are paired as well
    result["traefik_vs_chp"] = {
        **{
            f"reads {key}": _ratio(_rps(pair["through"]), _rps(b["reads"][key]["through"]))
            for key, pair in a["reads"].items()
        },
        "hub_api": _ratio(_rps(a["hub"]["through"]), _rps(b["hub"]["through"])),
        "websocket": compare(a["ws"]["through"], b["ws"]["through"]),
    }
    result["samples"] = samples
    return result
