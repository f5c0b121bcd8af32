"""The HBV rainfall-runoff model (HBV-light variant, Seibert & Vis 2012) as a numpy time loop.

Every state and flux is an array over ensemble members, so one loop over days advances a whole
ensemble (or a whole calibration population) at once: the loop costs the same for 1 or 500
members. Only +, -, *, /, min, max and one power are used, all IEEE-exact elementwise operations,
so a member's result does not depend on which other members share its block.

Units: mm and mm/day throughout, degC for temperature. Water is conserved exactly up to rounding:
precipitation = actual evapotranspiration + runoff + change of (snow + snow water + soil moisture
+ upper zone + lower zone + routing buffer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CFR = 0.05
"""Refreezing coefficient (fixed, as is usual: it is not identifiable from discharge)."""
CWH = 0.1
"""Water holding capacity of the snow pack, fraction of its water equivalent (fixed)."""


@dataclass(frozen=True)
class Bound:
    low: float
    high: float
    units: str
    long_name: str


PARAMETERS: dict[str, Bound] = {
    "TT": Bound(-2.5, 2.5, "degC", "threshold temperature of snowfall and melt"),
    "CFMAX": Bound(0.5, 10.0, "mm degC-1 day-1", "degree-day melt factor"),
    "FC": Bound(50.0, 600.0, "mm", "field capacity of the soil box"),
    "LP": Bound(0.3, 1.0, "1", "fraction of FC above which evapotranspiration is potential"),
    "BETA": Bound(1.0, 6.0, "1", "shape of the soil recharge curve"),
    "K0": Bound(0.05, 0.5, "day-1", "quick flow recession above UZL"),
    "K1": Bound(0.01, 0.3, "day-1", "upper zone recession"),
    "K2": Bound(0.0005, 0.15, "day-1", "lower zone (baseflow) recession"),
    "UZL": Bound(0.0, 100.0, "mm", "upper zone threshold of quick flow"),
    "PERC": Bound(0.0, 6.0, "mm day-1", "percolation to the lower zone"),
    "MAXBAS": Bound(1.0, 6.0, "day", "base of the triangular routing function"),
}
"""Calibrated parameters, with the bounds used by HBV-light's default calibration."""

STATES = ("snow", "snow_water", "soil", "upper", "lower")


def routing_weights(maxbas: np.ndarray) -> np.ndarray:
    """Triangular unit hydrograph of base ``maxbas`` days, integrated per day; rows sum to 1."""
    maxbas = np.asarray(maxbas, dtype="float64")
    length = int(np.ceil(maxbas.max()))
    edges = np.arange(length + 1, dtype="float64")[None, :]
    half = maxbas[:, None] / 2.0

    def area(t: np.ndarray) -> np.ndarray:
        """Area under the triangle (height 1/half) from 0 to t."""
        t = np.minimum(t, 2 * half)
        rising = np.minimum(t, half) ** 2 / (2 * half * half)
        falling_t = np.maximum(t - half, 0.0)
        falling = (falling_t * (2 * half - falling_t) / 2 + 0.0) / (half * half)
        return rising + falling

    weights = np.diff(area(edges), axis=1)
    return weights / weights.sum(axis=1, keepdims=True)


def simulate(
    precip: np.ndarray,
    temp: np.ndarray,
    pet: np.ndarray,
    params: dict[str, np.ndarray],
    initial: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Run HBV for ``members x days`` forcing; returns fluxes (mm/day) and storages (mm).

    ``precip``, ``temp`` and ``pet`` broadcast to ``(members, days)``; each parameter is a scalar
    or a ``(members,)`` array. Storages are reported at the end of each day, and ``storage0`` is
    the total storage before the first day, so the water balance can be checked by anyone.
    """
    sizes = [np.size(params[k]) for k in PARAMETERS]
    forcing = [np.atleast_2d(np.asarray(a, dtype="float64")) for a in (precip, temp, pet)]
    days = forcing[0].shape[1]
    members = int(np.broadcast_shapes(*(a.shape[0:1] for a in forcing), *((n,) for n in sizes))[0])
    precip, temp, pet = (np.broadcast_to(a, (members, days)) for a in forcing)
    p = {k: np.broadcast_to(np.asarray(params[k], dtype="float64"), (members,)) for k in PARAMETERS}
    fc = p["FC"]
    state = {name: np.zeros(members) for name in STATES}
    state["soil"] = 0.5 * fc
    state["lower"] = np.full(members, 10.0)
    for name, value in (initial or {}).items():
        state[name] = np.broadcast_to(np.asarray(value, dtype="float64"), (members,)).copy()
    weights = routing_weights(p["MAXBAS"])
    buffer = np.zeros_like(weights)

    out = {
        name: np.empty((members, days))
        for name in ("runoff", "aet", "recharge", "swe", "soil_moisture", "storage")
    }
    storage0 = sum(state[name] for name in STATES) + buffer.sum(axis=1)
    sp, wc, sm, suz, slz = (state[name] for name in STATES)
    for t in range(days):
        p_t, temp_t = precip[:, t], temp[:, t]
        # snow routine (degree-day)
        cold = temp_t < p["TT"]
        snowfall = np.where(cold, p_t, 0.0)
        rain = p_t - snowfall
        melt = np.minimum(np.maximum(p["CFMAX"] * (temp_t - p["TT"]), 0.0), sp)
        refreeze = np.minimum(np.maximum(CFR * p["CFMAX"] * (p["TT"] - temp_t), 0.0), wc)
        sp = sp + snowfall + refreeze - melt
        wc = wc + rain + melt - refreeze
        infiltration = np.maximum(wc - CWH * sp, 0.0)
        wc = wc - infiltration
        # soil routine
        recharge = infiltration * np.minimum(sm / fc, 1.0) ** p["BETA"]
        sm = sm + infiltration - recharge
        excess = np.maximum(sm - fc, 0.0)
        sm = sm - excess
        recharge = recharge + excess
        aet = np.minimum(pet[:, t] * np.minimum(sm / (p["LP"] * fc), 1.0), sm)
        sm = sm - aet
        # response routine
        suz = suz + recharge
        perc = np.minimum(p["PERC"], suz)
        suz = suz - perc
        slz = slz + perc
        q0 = p["K0"] * np.maximum(suz - p["UZL"], 0.0)
        q1 = p["K1"] * suz
        suz = suz - q0 - q1
        q2 = p["K2"] * slz
        slz = slz - q2
        # routing: spread today's runoff over the next MAXBAS days
        buffer = buffer + weights * (q0 + q1 + q2)[:, None]
        runoff = buffer[:, 0].copy()
        buffer[:, :-1] = buffer[:, 1:]
        buffer[:, -1] = 0.0

        out["runoff"][:, t] = runoff
        out["aet"][:, t] = aet
        out["recharge"][:, t] = recharge
        out["swe"][:, t] = sp + wc
        out["soil_moisture"][:, t] = sm
        out["storage"][:, t] = sp + wc + sm + suz + slz + buffer.sum(axis=1)
    out["precip"] = precip.copy()
    out["storage0"] = storage0
    return out
