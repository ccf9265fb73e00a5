"""Compiled loops of the analysis: bootstrap resample counts (numba; imported only where counts are made)."""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def count_rows(idx, out):  # pragma: no cover - compiled
    """``out[b, idx[b, m]] += 1`` for every ``b, m`` (``out`` ``(B, M)``, zeroed); an index outside ``[0, M)``
    raises."""
    B, K = idx.shape
    M = out.shape[1]
    for b in range(B):
        for m in range(K):
            i = idx[b, m]
            if i < 0 or i >= M:
                raise IndexError("resample index out of range")
            out[b, i] += 1.0


__all__ = ["count_rows"]
