r"""Exact mean and covariance of a batch estimate with normalised advantages, by enumerating batches.

The normalised batch estimate (:mod:`pgexp.estimators.practice`: batch standardisation, as PPO code does) of
``N`` trajectories is

    ĝ = (1/N) (sum_i G_i - m̂ sum_i U_i) / (ŝ + ε),    G_i = sum_h w_ih score_ih,   U_i = sum_h score_ih,

with ``m̂ = S1 / K``, ``ŝ² = (S2 - S1² / K) / (K - 1)``, ``K = sum_i len_i``, ``S1 = sum_ih w_ih``, ``S2 = sum_ih w_ih²``
(``K < 2``: ``ĝ = (1/N) sum_i G_i``).  Every ingredient is a sum over the batch's trajectories of a
per-trajectory statistic ``(len, W1, W2, G, U)``, so ``ĝ`` is a symmetric function of the batch: its exact
distribution is that of the multiset of trajectories drawn, and listing the ``C(n + N - 1, N)`` multisets of
the ``n`` enumerated trajectories with their multinomial probabilities
(:func:`pgexp.exact.batch.batch_multisets`) gives ``E ĝ`` and ``Cov ĝ`` exactly.  Feasible for bandits
(``n`` = the number of arms: ``N`` in the hundreds) and short horizons (``N <= 4``).

As ``N -> inf``, ``E ĝ`` tends to ``E g / (s + ε)`` (``E g``: the estimator's unnormalised mean; ``s``: the step
weights' population standard deviation, :func:`pgexp.exact.practice.normalization_scale`) -- the *limit*.  At
finite ``N``, ``E ĝ - limit`` is the ratio estimator's bias (``m̂`` and ``ŝ`` depend on the trajectory's own
actions); it is judged relative to the limit (a length and a direction: ``E ĝ`` and the limit differ by more
than a scalar only through it).  :func:`bias_rate` fits how fast its relative norm shrinks with ``N`` (a
least-squares slope of ``log ||bias||`` on ``log N``; a constant factor moves the intercept only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pgexp.errors import UserError
from pgexp.estimators.practice import NORMALIZE_EPS, Practice, check_normalizable
from pgexp.exact import enumeration as en
from pgexp.exact.batch import batch_multisets, count_multisets
from pgexp.exact.catalogue import parse_baseline
from pgexp.exact.model import ExactSetup, make_setup
from pgexp.exact.practice import normalization_scale
from pgexp.problems.problem import Problem

MAX_BATCHES = 2_000_000
MAX_MEMBERS = 20_000_000  # batches x N trajectory indices held at once (160 MB)
CHUNK = 2_000_000  # gathered (batch, member, coordinate) values per block


@dataclass(frozen=True, eq=False)
class PathStatistics:
    """Per enumerated trajectory: ``probs`` ``(n,)``, ``length``, ``W1 = sum_h w_h``, ``W2 = sum_h w_h²`` ``(n,)``,
    ``G = sum_h w_h score_h`` and ``U = sum_h score_h`` ``(n, d)``."""

    probs: np.ndarray
    length: np.ndarray
    W1: np.ndarray
    W2: np.ndarray
    G: np.ndarray
    U: np.ndarray


def path_statistics(st: ExactSetup, estimator: str, baseline: str, lam: float = 0.95,
                    max_trajectories: int = en.MAX_TRAJECTORIES) -> PathStatistics:
    """The statistics of every trajectory, with the estimator's literal step weights (no truncation)."""
    from pgexp.exact.moments import literal_args

    b = parse_baseline(baseline)
    paths = en.enumerate_paths(st, max_trajectories)
    args = literal_args(st, estimator, b, None) if b.kind != "none" else {}  # GAE's fixed:c: the constant V = c
    w = en.literal_weights(st, paths, estimator, **args, lam=lam)
    ones = paths.mask.astype(np.float64)
    return PathStatistics(paths.probs, paths.lengths.astype(np.float64), w.sum(axis=1), (w * w).sum(axis=1),
                          en.gradients(st, paths, w), en.gradients(st, paths, ones))


def normalized_estimates(ps: PathStatistics, members: np.ndarray, N: int, factor: float = 1.0) -> np.ndarray:
    """``factor`` times ``ĝ`` ``(B, d)`` of each batch given by its ``members`` ``(B, N)`` (trajectory indices; module
    docstring); the estimate itself is ``factor = 1`` (a batch with ``K < 2`` is never multiplied).

    The loop over batches runs compiled (:func:`pgexp.exact.kernels.normalized_batch_estimates`) in numpy's
    order: the numbers of :func:`normalized_estimates_reference` without its ``(B, N, d)`` gathers."""
    from pgexp.exact.kernels import normalized_batch_estimates

    c = np.ascontiguousarray
    return normalized_batch_estimates(c(members, dtype=np.int64), c(ps.length, dtype=np.float64),
                                      c(ps.W1, dtype=np.float64), c(ps.W2, dtype=np.float64),
                                      c(ps.G, dtype=np.float64), c(ps.U, dtype=np.float64), int(N), float(factor),
                                      NORMALIZE_EPS)


def normalized_estimates_reference(ps: PathStatistics, members: np.ndarray, N: int,
                                   factor: float = 1.0) -> np.ndarray:
    """:func:`normalized_estimates` in numpy."""
    K = ps.length[members].sum(axis=1)
    S1, S2 = ps.W1[members].sum(axis=1), ps.W2[members].sum(axis=1)
    Gs, Us = ps.G[members].sum(axis=1), ps.U[members].sum(axis=1)
    ok = K >= 2
    Kc = np.where(ok, K, 2.0)
    m = S1 / np.where(K > 0, K, 1.0)
    sd = np.sqrt(np.maximum(S2 - S1 * S1 / np.where(K > 0, K, 1.0), 0.0) / (Kc - 1.0))
    norm = (Gs - m[:, None] * Us) * (factor / (sd + NORMALIZE_EPS))[:, None]
    return np.where(ok[:, None], norm, Gs) / N


def normalized_batch_moments(ps: PathStatistics, N: int, factor: float = 1.0, max_batches: int = MAX_BATCHES, *,
                             centre: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(E ĝ, Cov ĝ)`` of the normalised batch estimate of ``N`` trajectories (times ``factor``).
    ``centre`` ``(d,)``: a point near ``E ĝ`` (default: the unnormalised mean ``E g``), subtracted before the
    second moment is summed so that it does not cancel; it changes nothing else."""
    members, probs = batch_multisets(ps.probs, N, max_batches)
    d = ps.G.shape[1]
    shift = ps.probs @ ps.G if centre is None else np.asarray(centre, dtype=np.float64)
    first, second = np.zeros(d), np.zeros((d, d))
    rows = max(1, CHUNK // max(N * d, 1))  # batches per block: (rows, N, d) gathers stay small
    for i in range(0, probs.size, rows):
        x = normalized_estimates(ps, members[i:i + rows], N, factor) - shift
        p = probs[i:i + rows]
        first += p @ x
        second += (x * p[:, None]).T @ x
    return shift + first, second - np.outer(first, first)


def feasible_batch_sizes(st: ExactSetup, batch_sizes: Sequence[int], max_batches: int = MAX_BATCHES) -> list[int]:
    """The batch sizes whose multisets of trajectories can be listed (at most ``max_batches`` of them, and at most
    :data:`MAX_MEMBERS` trajectory indices in all)."""
    n = en.count_trajectories(st, en.MAX_TRAJECTORIES)
    if n > en.MAX_TRAJECTORIES:
        return []
    def fits(N: int) -> bool:
        B = count_multisets(int(n), N)
        return B <= max_batches and B * N <= MAX_MEMBERS

    return [int(N) for N in batch_sizes if fits(int(N))]


def exact_normalized(problem: Problem, estimator: str, baseline: str, batch_sizes: Sequence[int], *,
                     lam: float = 0.95, max_batches: int = MAX_BATCHES) -> list[dict]:
    """One dict per feasible batch size: ``batch_size``, ``mean``, ``cov`` (the normalised batch estimate's, as
    the code computes it: no rescaling), ``limit`` (``E g / (s + ε)``, its ``N -> inf`` mean), ``plain``
    (``E g``), ``grad`` (``grad J``), ``bias`` (``mean - limit``) and ``scale`` (``s + ε``).  Batch sizes with too
    many batches to list are left out."""
    check_normalizable(estimator, baseline)
    if parse_baseline(baseline).kind == "value_table":
        raise UserError("exact normalisation: a value table is not covered")
    st = make_setup(problem)
    if st.kind != "finite":
        raise UserError("exact normalisation: enumerating batches needs a finite horizon (short, on a small problem)")
    scale = normalization_scale(st, estimator, baseline, Practice(normalize_advantages=True), lam)
    ps = path_statistics(st, estimator, baseline, lam)
    plain = ps.probs @ ps.G
    limit = plain / scale.factor
    rows = []
    for N in feasible_batch_sizes(st, batch_sizes, max_batches):
        mean, cov = normalized_batch_moments(ps, N, 1.0, max_batches, centre=limit)
        rows.append({"batch_size": N, "mean": mean, "cov": cov, "limit": limit, "plain": plain, "grad": st.grad,
                     "bias": mean - limit, "scale": scale.factor})
    return rows


@dataclass(frozen=True)
class Rate:
    """``||bias_N|| ≈ c N^slope``: the least-squares fit on log-log axes, its standard error and the fit's range."""

    slope: float
    slope_se: float
    intercept: float
    n_min: int
    n_max: int
    points: int


def bias_rate(batch_sizes: Sequence[int], bias_norms: Sequence[float]) -> Rate:
    """Fit ``log ||bias_N|| = a + slope log N`` (exact values: the standard error measures the departure
    from a power law, not noise)."""
    from scipy.stats import linregress

    N = np.asarray(batch_sizes, dtype=np.float64)
    b = np.asarray(bias_norms, dtype=np.float64)
    keep = (N > 0) & (b > 0) & np.isfinite(b)
    if keep.sum() < 3:
        raise ValueError("a rate needs three batch sizes with a nonzero bias")
    fit = linregress(np.log(N[keep]), np.log(b[keep]))
    return Rate(float(fit.slope), float(fit.stderr), float(fit.intercept), int(N[keep].min()), int(N[keep].max()),
                int(keep.sum()))


__all__ = ["PathStatistics", "Rate", "bias_rate", "exact_normalized", "feasible_batch_sizes",
           "normalized_batch_moments", "normalized_estimates", "normalized_estimates_reference", "path_statistics"]
