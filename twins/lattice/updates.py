"""Monte Carlo updates of the 2-D lattice phi^4 theory and its Ising limit (numba kernels).

The lattice action, with beta = 1/T the hopping coupling (beta = 2 kappa in the usual
hopping-parameter form), is

    S[phi] = sum_x [ -beta * sum_mu phi_x phi_{x+mu} + phi_x^2 + lam (phi_x^2 - 1)^2 ].

As lam -> infinity the field is pinned to phi = +-1 and S = -beta sum_<xy> s_x s_y: the Ising
model at temperature T (J = k_B = 1), which is what makes Onsager's exact solution a reference.

Two updates, both exact (detailed balance) for either theory:
* checkerboard Metropolis: sites of one colour have no neighbours of that colour, so a whole
  sub-lattice is updated at once without changing the Markov chain's correctness;
* Wolff single-cluster update on the embedded Ising signs (Brower-Tamayo): bonds between
  equal-sign neighbours are activated with p = 1 - exp(-2 beta phi_x phi_y) and the cluster's
  signs are flipped; it beats critical slowing down, which Metropolis alone cannot.

The kernels draw from numba's generator, seeded explicitly at the start of each call, so a
chunk of sweeps is a pure function of (state, seed): replicas give the same numbers whether
they run in-process or on Dask workers (numba's generator state is per thread).
"""

from __future__ import annotations

import numpy as np
from numba import _helperlib, njit

ISING = -1.0  # lam value that selects the Ising limit inside the kernels


@njit(cache=True, nogil=True)
def _neighbour_sum(phi: np.ndarray, i: int, j: int) -> float:
    n, m = phi.shape
    return phi[(i + 1) % n, j] + phi[(i - 1) % n, j] + phi[i, (j + 1) % m] + phi[i, (j - 1) % m]


@njit(cache=True, nogil=True)
def _metropolis_sweep(phi: np.ndarray, beta: float, lam: float, step: float) -> int:
    """One checkerboard sweep (even sites, then odd); returns the number of accepted moves."""
    n, m = phi.shape
    accepted = 0
    for colour in range(2):
        for i in range(n):
            for j in range((i + colour) % 2, m, 2):
                h = _neighbour_sum(phi, i, j)
                old = phi[i, j]
                if lam < 0.0:  # Ising limit: the only move is a spin flip
                    new = -old
                    delta = -beta * (new - old) * h
                else:
                    new = old + step * (2.0 * np.random.random() - 1.0)
                    delta = (
                        -beta * (new - old) * h
                        + new * new
                        - old * old
                        + lam * ((new * new - 1.0) ** 2 - (old * old - 1.0) ** 2)
                    )
                if delta <= 0.0 or np.random.random() < np.exp(-delta):
                    phi[i, j] = new
                    accepted += 1
    return accepted


@njit(cache=True, nogil=True)
def _wolff_cluster(phi: np.ndarray, beta: float, stack: np.ndarray) -> int:
    """Grow one cluster from a random seed site and flip its signs; returns its size."""
    n, m = phi.shape
    seed = np.random.randint(n * m)
    si, sj = seed // m, seed % m
    sign = 1.0 if phi[si, sj] > 0 else -1.0
    phi[si, sj] = -phi[si, sj]  # flipped on entry: a flipped site is never added twice
    stack[0] = seed
    top = 1
    size = 1
    while top > 0:
        top -= 1
        site = stack[top]
        i, j = site // m, site % m
        for k in range(4):
            if k == 0:
                ni, nj = (i + 1) % n, j
            elif k == 1:
                ni, nj = (i - 1) % n, j
            elif k == 2:
                ni, nj = i, (j + 1) % m
            else:
                ni, nj = i, (j - 1) % m
            other = phi[ni, nj]
            if other * sign <= 0.0:
                continue  # opposite sign (or already flipped): no bond
            # -phi[i, j] is the site's value before its flip
            p_bond = 1.0 - np.exp(-2.0 * beta * (-phi[i, j]) * other)
            if np.random.random() < p_bond:
                phi[ni, nj] = -other
                stack[top] = ni * m + nj
                top += 1
                size += 1
    return size


@njit(cache=True, nogil=True)
def _measure(phi: np.ndarray) -> tuple[float, float, float]:
    """Magnetisation, bond energy -sum_<xy> phi phi per site, and mean phi^2."""
    n, m = phi.shape
    total = 0.0
    bonds = 0.0
    square = 0.0
    for i in range(n):
        for j in range(m):
            v = phi[i, j]
            total += v
            square += v * v
            bonds += v * (phi[(i + 1) % n, j] + phi[i, (j + 1) % m])
    size = n * m
    return total / size, -bonds / size, square / size


@njit(cache=True, nogil=True)
def advance(
    phi: np.ndarray,
    beta: float,
    lam: float,
    n_sweeps: int,
    step: float,
    n_clusters: int,
) -> tuple[np.ndarray, int, int]:
    """Advance ``phi`` in place by ``n_sweeps`` sweeps, measuring after each, drawing from the
    calling thread's generator as it stands (no seeding: see :func:`run_chunk`, :class:`Stream`).

    A sweep is one checkerboard Metropolis pass followed by ``n_clusters`` Wolff clusters
    (0: Metropolis only). Returns the (n_sweeps, 3) measurements (m, e, phi^2), the number of
    accepted Metropolis moves and the number of sites flipped by clusters: integers, so the
    totals of a chain advanced piece by piece are those of one call.
    """
    out = np.empty((n_sweeps, 3))
    stack = np.empty(phi.size, dtype=np.int64)
    accepted = 0
    flipped = 0
    for t in range(n_sweeps):
        accepted += _metropolis_sweep(phi, beta, lam, step)
        for _ in range(n_clusters):
            flipped += _wolff_cluster(phi, beta, stack)
        m, e, p2 = _measure(phi)
        out[t, 0] = m
        out[t, 1] = e
        out[t, 2] = p2
    return out, accepted, flipped


@njit(cache=True, nogil=True)
def _seed(seed: int) -> None:
    np.random.seed(seed)


@njit(cache=True, nogil=True)
def run_chunk(
    phi: np.ndarray,
    beta: float,
    lam: float,
    n_sweeps: int,
    seed: int,
    step: float,
    n_clusters: int,
) -> tuple[np.ndarray, float, float]:
    """Advance ``phi`` in place by ``n_sweeps`` sweeps from a freshly seeded generator.

    The count of clusters per sweep must be fixed in advance: stopping "once N sites have been
    flipped" makes the measurement time depend on the clusters just built and biases the
    ensemble (towards order); callers pick n_clusters ~ N / <cluster size> from thermalisation.
    Returns the (n_sweeps, 3) measurements, the Metropolis acceptance rate and the mean
    cluster size.
    """
    np.random.seed(seed)
    out, accepted, flipped = advance(phi, beta, lam, n_sweeps, step, n_clusters)
    clusters = n_sweeps * n_clusters
    mean_cluster = flipped / clusters if clusters > 0 else 0.0
    return out, accepted / (n_sweeps * phi.size), mean_cluster


class Stream:
    """A numba generator stream that outlives the task advancing it: its Mersenne Twister
    state is saved after each piece of a chain and restored before the next, so a chain cut
    into pieces (short Dask tasks, possibly on other threads or workers) draws exactly the
    numbers of one uncut call. numba keeps one generator per thread, reached through
    ``numba._helperlib`` (the interface numba's own tests use); tests/unit/test_lattice
    checks that a chain in pieces is bit-for-bit the chain in one call.
    """

    def __init__(self, seed: int):
        _seed(int(seed))
        self.state = _helperlib.rnd_get_state(_helperlib.rnd_get_np_state_ptr())

    def advance(
        self, phi: np.ndarray, beta: float, lam: float, n_sweeps: int, step: float, n_clusters: int
    ) -> tuple[np.ndarray, int, int]:
        """:func:`advance` continuing this stream (in the calling thread)."""
        pointer = _helperlib.rnd_get_np_state_ptr()
        _helperlib.rnd_set_state(pointer, self.state)
        result = advance(phi, beta, lam, n_sweeps, step, n_clusters)
        self.state = _helperlib.rnd_get_state(pointer)
        return result
