"""Exact laws of the others' statistic in a group (:mod:`pgexp.exact.groups`, module docstring): the counts of
each reward value among ``n`` i.i.d. responses and their total length, built one response at a time
(:func:`others`), and the convolutions that combine independent groups (:func:`power`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pgexp.errors import UserError

MAX_STATES = 5_000_000  # support points of one count distribution

# ------------------------------------------------------------------------------------------ count laws

@dataclass(frozen=True, eq=False)
class Dist:
    """The law of the others' statistic on its support: ``counts`` ``(S, m)``, ``lens`` ``(S,)``, ``prob`` ``(S,)``;
    ``grid``: the dense array it came from (counts of values ``0 .. m-2`` on the first axes, the total length
    on the last; the last value's count is ``n`` minus the others)."""

    counts: np.ndarray
    lens: np.ndarray
    prob: np.ndarray
    grid: np.ndarray
    n: int


def support(grid: np.ndarray, n: int, m: int) -> Dist:
    idx = np.nonzero(grid > 0)
    prob = grid[idx]
    cnt = np.zeros((prob.size, m))
    for j in range(m - 1):
        cnt[:, j] = idx[j]
    cnt[:, m - 1] = n - cnt[:, : m - 1].sum(axis=1)
    return Dist(cnt, idx[m - 1].astype(np.float64), prob, grid, n)


def others(q: np.ndarray, n: int, lengths: bool) -> Dist:
    """The law of ``sum_{j <= n} (e_{r_j}, l_j)`` over ``n`` i.i.d. responses of type law ``q`` ``(m, L+1)``
    (``q[v, l] = P(r = v_v, |o| = l)``), by adding one response at a time; without ``lengths`` the total length
    is not tracked (one length cell)."""
    m, Lp = q.shape
    if not lengths:
        q = q.sum(axis=1, keepdims=True)
        Lp = 1
    width = n * (Lp - 1) + 1
    shape = (n + 1,) * (m - 1) + (width,)
    if math.prod(shape) > MAX_STATES:
        raise UserError(f"exact group moments: {math.prod(shape):.3g} count states (m = {m} reward values, n = {n}); "
                        "give a smaller --group-size or a problem with fewer reward values")
    grid = np.zeros(shape)
    grid[(0,) * m] = 1.0
    cells = [(v, ell, float(q[v, ell])) for v in range(m) for ell in range(Lp) if q[v, ell] > 0]
    for step in range(n):
        new = np.zeros(shape)
        top = (step + 1) * (Lp - 1) + 1
        for v, ell, p in cells:
            dst: list[slice] = [slice(1, None) if j == v else slice(None) for j in range(m - 1)]
            src: list[slice] = [slice(None, -1) if j == v else slice(None) for j in range(m - 1)]
            dst.append(slice(ell, top))
            src.append(slice(0, top - ell))
            new[tuple(dst)] += p * grid[tuple(src)]
        grid = new
    return support(grid, n, m)


def convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The law of a sum of independent counts (grids without a length axis: ``(n+1,)*(m-1)``)."""
    from scipy.signal import convolve as conv

    if a.ndim == 0:
        return a * b
    out = conv(a, b, method="direct" if a.size * b.size < 4_000_000 else "fft")
    return np.clip(out, 0.0, None)


def power(a: np.ndarray, k: int, m: int) -> np.ndarray:
    """``a`` convolved with itself ``k`` times (``k = 0``: the point mass at zero counts)."""
    out = np.ones((1,) * (m - 1)) if m > 1 else np.ones(())
    base = a
    while k:
        if k & 1:
            out = convolve(out, base)
        k >>= 1
        if k:
            base = convolve(base, base)
    return out


def counts_of(grid: np.ndarray, n: int, m: int) -> Dist:
    """A counts-only grid ``(n+1,)*(m-1)`` as a :class:`Dist` (zero lengths)."""
    return support(grid[..., None] if m > 1 else np.asarray(grid).reshape(1), n, m)
