"""Calibrate a model's parameters against observations, and sample parameter sets from the result.

Differential evolution (scipy, Storn & Price 1997) with a fixed seed and a bounded budget: each
generation is one vectorized call that simulates the whole population, optionally split into
blocks computed on a Dask cluster. Every evaluated parameter set is kept, so an ensemble can draw
its members from the behavioural sets (those scoring close to the best), GLUE-style.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import differential_evolution
from twinhub.twins import metrics

Simulator = Callable[[dict[str, np.ndarray]], np.ndarray]
"""Maps parameter arrays (one value per candidate) to simulated series, shape (candidates, time)."""

OBJECTIVES = {"nse": metrics.nse, "kge": metrics.kge}


@dataclass
class Calibration:
    """The best parameter set, its score, and every evaluated set with its score."""

    objective: str
    best: dict[str, float]
    score: float
    samples: dict[str, np.ndarray] = field(repr=False)
    scores: np.ndarray = field(repr=False)
    evaluations: int = 0
    generations: int = 0

    def behavioural(self, tolerance: float = 0.05) -> np.ndarray:
        """Indices of the sets scoring within ``tolerance`` of the best."""
        return np.flatnonzero(self.scores >= self.score - tolerance)

    def sample(self, n: int, seed: int = 0, tolerance: float = 0.05) -> dict[str, np.ndarray]:
        """``n`` parameter sets drawn (with replacement) from the behavioural sets; member 0 is
        the best set, so the ensemble always contains the calibrated model."""
        if n < 1:
            raise ValueError("n must be >= 1")
        pool = self.behavioural(tolerance)
        picks = np.random.default_rng(seed).choice(pool, size=n - 1, replace=True)
        out = {}
        for name, values in self.samples.items():
            out[name] = np.concatenate([[self.best[name]], values[picks]])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "best": self.best,
            "score": self.score,
            "evaluations": self.evaluations,
            "generations": self.generations,
        }


def _split(population: np.ndarray, names: list[str], blocks: int) -> list[dict[str, np.ndarray]]:
    parts = np.array_split(population, max(1, min(blocks, population.shape[1])), axis=1)
    return [dict(zip(names, part, strict=True)) for part in parts if part.shape[1]]


def calibrate(
    simulate: Simulator,
    observed: np.ndarray,
    bounds: Mapping[str, tuple[float, float]],
    *,
    objective: str = "nse",
    generations: int = 40,
    popsize: int = 8,
    seed: int = 42,
    client: Any = None,
    blocks: int = 2,
    progress: bool | Callable[[int, float], None] = True,
) -> Calibration:
    """Maximise ``objective`` of ``simulate(params)`` against ``observed`` within ``bounds``.

    The budget is ``generations x popsize x len(bounds)`` simulations. Each generation is split
    into ``blocks`` vectorized calls, computed on the Dask ``client`` when given (the same blocks
    either way, so the cluster finds exactly the in-process optimum). ``progress`` shows a tqdm
    bar, or calls ``progress(generation, best_score)``.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {sorted(OBJECTIVES)}, got {objective!r}")
    score_fn = OBJECTIVES[objective]
    names = list(bounds)
    observed = np.asarray(observed, dtype="float64")
    seen_x: list[np.ndarray] = []
    seen_f: list[np.ndarray] = []

    def evaluate(population: np.ndarray) -> np.ndarray:
        parts = _split(np.atleast_2d(population), names, blocks)
        if client is not None:
            futures = client.map(simulate, parts, pure=False)
            sims = client.gather(futures)
        else:
            sims = [simulate(part) for part in parts]
        scores = np.concatenate([score_fn(sim, observed) for sim in sims])
        scores = np.where(np.isfinite(scores), scores, -np.inf)
        seen_x.append(np.atleast_2d(population).T.copy())
        seen_f.append(scores)
        return -scores

    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=generations, desc=f"calibration ({objective.upper()})", unit="gen")

    def on_generation(intermediate_result) -> None:
        if bar is not None:
            bar.update(1)
            bar.set_postfix({objective: f"{-intermediate_result.fun:.3f}"})
        elif callable(progress):
            progress(bar_count[0], -float(intermediate_result.fun))
        bar_count[0] += 1

    bar_count = [0]
    try:
        result = differential_evolution(
            evaluate,
            bounds=[bounds[n] for n in names],
            maxiter=generations,
            popsize=popsize,
            seed=seed,
            polish=False,
            vectorized=True,
            updating="deferred",
            tol=0,
            callback=on_generation,
        )
    finally:
        if bar is not None:
            bar.close()
    xs = np.concatenate(seen_x)
    fs = np.concatenate(seen_f)
    return Calibration(
        objective=objective,
        best={n: float(v) for n, v in zip(names, result.x, strict=True)},
        score=float(-result.fun),
        samples={n: xs[:, i] for i, n in enumerate(names)},
        scores=fs,
        evaluations=int(xs.shape[0]),
        generations=bar_count[0],
    )
