"""Paired comparisons of gradient estimators that share their random numbers.

Within one cell -- ``(env_name, theta_name, horizon, batch_size, seed)`` -- every estimator x baseline
``A`` is compared with every later one ``B`` (registry order of estimators, then baselines ``none,
constant, value_exact, value_learned, optimal``).  Replicate ``m`` of ``A`` is matched with replicate
``m`` of ``B``: by :mod:`pgexp.sampling.rng` they drew their batches from the same random stream, and two
estimators that consume plain trajectories (``sampling == "trajectories"``) were computed from the
*same* trajectories (column ``paired``).

Statistics (``k`` matched replicates, ``g_m`` a batch estimate, ``e_m = ||g_m - grad J||^2``):

=============== =================================================================================
``var_ratio``   ``tr Cov(g^A) / tr Cov(g^B)`` (unbiased sample covariances); ``< 1``: ``A`` is less noisy
``work_ratio``  ``(tr Cov(g^A) mean s^A) / (tr Cov(g^B) mean s^B)``, ``s`` the environment steps of an
                estimate (fitting batches included): the ratio of work-normalised variances; ``< 1``:
                ``A`` is more efficient at an equal budget of environment steps
``mse_diff``    ``mean_m e^A_m - mean_m e^B_m``; ``< 0``: ``A`` is more accurate
``correlation`` Pearson correlation of ``e^A_m`` and ``e^B_m`` across replicates
=============== =================================================================================

Multiple comparisons
--------------------
A cell with ``K`` estimator~baselines has ``K (K - 1) / 2`` pairs (190 for 20): the *family*.  Each
statistic gets a two-sided p-value from the bootstrap standard error (``z = log ratio / sd*(log
ratio*)``, ``z = diff / sd*(diff*)``; normal approximation) and Holm's step-down adjustment within the
family (``*_p_holm``), which holds the family-wise error rate at ``1 - confidence`` for any dependence
between the pairs.  ``*_significant_holm`` requires both the Holm-adjusted p below ``1 - confidence``
and the pair's own interval excluding "no difference", so a claim never rests on an interval that
includes it.  ``*_significant`` (unadjusted) is kept for single pre-specified comparisons.

Each gets the BCa interval of :func:`scipy.stats.bootstrap` (computed by :func:`pgexp.analysis.resampling.bca`:
the same draws and numbers, faster) that resamples the replicate *indices* once per draw and applies the same
resample to ``A`` and ``B`` (a resample is a vector of counts, and both traces and mean errors are linear in
per-replicate statistics, as in :mod:`pgexp.analysis.metrics`).

Why paired intervals are narrower
---------------------------------
``Var(mean(e^A) - mean(e^B)) = (Var e^A + Var e^B - 2 Cov(e^A, e^B)) / k``.  Independent resampling
of ``A`` and ``B`` reproduces the first two terms only -- it treats the two columns as unrelated.
On shared trajectories the errors are positively correlated (a trajectory with a large return makes
*every* return-weighted estimator large), so ``Cov > 0`` and the paired interval is narrower by about
``sqrt(1 - 2 Cov / (Var e^A + Var e^B))``; the same holds for ``log var_ratio``, whose numerator and
denominator move together under a paired resample.  With independent streams (``Cov = 0``) the two
coincide; pairing never costs validity, only the gain varies.  ``correlation`` shows that gain.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import ndtr

from pgexp.analysis.resampling import bca, bca_limits, bootstrap_seed, resample_counts
from pgexp.errors import UserError
from pgexp.estimators import BASELINES, ESTIMATORS
from pgexp.tables import PAIR_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

CELL_KEY = ("env_name", "theta_name", "horizon", "batch_size", "seed")
STATS = ("var_ratio", "mse_diff", "work_ratio")
TESTS = {"var_ratio": "var", "mse_diff": "mse", "work_ratio": "work"}  # statistic -> column prefix of its test
NULL = {"var_ratio": 1.0, "mse_diff": 0.0, "work_ratio": 1.0}          # "no difference"
COLUMNS = (*CELL_KEY, "estimator_a", "baseline_a", "estimator_b", "baseline_b", "paired",
           "var_ratio", "var_ratio_lo", "var_ratio_hi", "mse_diff", "mse_diff_lo", "mse_diff_hi",
           "work_ratio", "work_ratio_lo", "work_ratio_hi",
           "var_significant", "mse_significant", "work_significant", "var_p", "mse_p", "work_p",
           "family_size", "var_p_holm", "mse_p_holm", "work_p_holm",
           "var_significant_holm", "mse_significant_holm", "work_significant_holm",
           "correlation", "replicates", "confidence")


def combo_order(combo: tuple[str, str]) -> tuple:
    """Sort key of an ``(estimator, baseline)``: registry order, then baseline order (unknown names last)."""
    est, base = combo
    names, bases = list(ESTIMATORS), list(BASELINES)
    ei = names.index(est) if est in names else len(names)
    bi = bases.index(base.partition(":")[0]) if base.partition(":")[0] in bases else len(bases)
    return (ei, est if ei == len(names) else "", bi, base)


def shares_trajectories(est_a: str, est_b: str) -> bool:
    """Both estimators consume the job's common trajectories (not their own sampling scheme)."""
    return all(e in ESTIMATORS and ESTIMATORS[e].sampling == "trajectories" for e in (est_a, est_b))


class _Replicates:
    """Per-replicate statistics of one estimator's ``G`` ``(k, d)`` against ``g_true`` ``(d,)``."""

    def __init__(self, G: np.ndarray, g_true: np.ndarray, steps: np.ndarray | None = None):
        self.k = G.shape[0]
        self.steps = np.full(self.k, np.nan) if steps is None else np.asarray(steps, dtype=np.float64)
        self.Gc = G - G.mean(axis=0)                       # centred: the trace is shift-invariant
        self.qc = np.einsum("md,md->m", self.Gc, self.Gc)
        diff = G - g_true
        self.err = np.einsum("md,md->m", diff, diff)        # ||g_m - grad J||^2


def _trace(counts: np.ndarray, k: np.ndarray, mean_c: np.ndarray, qc: np.ndarray) -> np.ndarray:
    """``tr Cov`` of a resample: ``(sum counts q - k ||mean||^2) / (k - 1)`` (``mean_c`` already ``/ k``)."""
    return ((counts @ qc) / k - np.einsum("...d,...d->...", mean_c, mean_c)) * k / (k - 1)


def _evaluate(a: _Replicates, b: _Replicates, ca: np.ndarray, cb: np.ndarray | None = None) -> np.ndarray:
    """:data:`STATS` for resample counts ``ca`` of ``A`` and ``cb`` of ``B`` (``None``: the same)."""
    d = a.Gc.shape[1]
    ka = ca.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if cb is None:  # paired: one product for both
            means = (ca @ np.concatenate([a.Gc, b.Gc], axis=1)) / ka[..., None]
            ma, mb, cb, kb = means[..., :d], means[..., d:], ca, ka
        else:
            kb = cb.sum(axis=-1)
            ma, mb = (ca @ a.Gc) / ka[..., None], (cb @ b.Gc) / kb[..., None]
        ratio = _trace(ca, ka, ma, a.qc) / _trace(cb, kb, mb, b.qc)
        diff = (ca @ a.err) / ka - (cb @ b.err) / kb
        work = ratio * ((ca @ a.steps) / ka) / ((cb @ b.steps) / kb)
    return np.stack([ratio, diff, work])


def _p_value(name: str, point: float, boot: np.ndarray) -> float:
    """Two-sided p of "no difference" from the bootstrap SE (log scale for ratios); NaN if undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if NULL[name] == 1.0:
            est, draws = np.log(point), np.log(boot)
        else:
            est, draws = point, boot
    draws = draws[np.isfinite(draws)]
    if not np.isfinite(est) or draws.size < 2:
        return float("nan")
    sd = float(np.std(draws, ddof=1))
    if sd == 0:
        return 0.0 if est != 0 else 1.0
    return float(2 * ndtr(-(abs(est) / sd)))  # 2 norm.sf(|z|), as scipy computes it


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count in the family)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order]) if m else np.array([])
    out[order] = np.minimum(adj, 1.0)
    return out


def pair_statistics(G_a: np.ndarray, G_b: np.ndarray, g_true_a: np.ndarray, g_true_b: np.ndarray | None = None, *,
                    confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                    resampling: str = "paired", steps_a: np.ndarray | None = None,
                    steps_b: np.ndarray | None = None) -> dict[str, float]:
    """Point values, BCa intervals and p-values of :data:`STATS`, plus ``correlation``.

    ``G_a[m]`` and ``G_b[m]`` are matched replicates; ``steps_*`` ``(k,)`` their environment steps
    (``None``: ``work_ratio`` is NaN).  ``resampling = "paired"`` (the default) draws one
    index resample for both; ``"independent"`` draws one for each, ignoring the pairing (for comparison
    only: it is what the interval would be if ``A`` and ``B`` had used independent random numbers with
    the same marginal spread).
    """
    if resampling not in ("paired", "independent"):
        raise UserError(f"resampling: {resampling!r}; allowed: paired, independent")
    G_a = np.asarray(G_a, dtype=np.float64)
    G_b = np.asarray(G_b, dtype=np.float64)
    if G_a.shape != G_b.shape:
        raise UserError(f"paired comparison: replicate arrays differ in shape, {G_a.shape} vs {G_b.shape}")
    g_true_a = np.asarray(g_true_a, dtype=np.float64)
    g_true_b = g_true_a if g_true_b is None else np.asarray(g_true_b, dtype=np.float64)
    k = G_a.shape[0]
    a, b = _Replicates(G_a, g_true_a, steps_a), _Replicates(G_b, g_true_b, steps_b)
    ones = np.ones(k)
    point = _evaluate(a, b, ones)
    lo = hi = np.full(len(STATS), np.nan)
    dist = np.full((len(STATS), 0), np.nan)
    if k >= 3:
        res: Any
        with np.errstate(all="ignore"):  # degenerate (constant) statistics give NaN intervals, handled below
            if resampling == "paired":  # one resample of the replicate indices for both: counts (B, k)
                res = bca(lambda counts: _evaluate(a, b, counts), k, n_resamples=n_resamples, confidence=confidence,
                          rng=np.random.default_rng(seed))
            else:
                res = _independent_bootstrap(a, b, k, n_resamples, confidence, seed)
        lo, hi = bca_limits(res, np.asarray(point), confidence)  # percentile where BCa is undefined
        dist = np.asarray(res.bootstrap_distribution)
    out: dict[str, float] = {}
    for i, (name, p, a_lo, a_hi) in enumerate(zip(STATS, point, lo, hi)):
        if not np.isfinite(a_lo) or not np.isfinite(a_hi):  # no finite resample (NaN point): no interval
            a_lo = a_hi = p if np.isfinite(p) else np.nan
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = float(p), float(min(a_lo, p)), float(max(a_hi, p))
        null, test = NULL[name], TESTS[name]
        out[f"{test}_significant"] = bool(out[f"{name}_lo"] > null or out[f"{name}_hi"] < null)
        out[f"{test}_p"] = _p_value(name, float(p), dist[i]) if dist.shape[1] else float("nan")
    sa, sb = a.err.std(), b.err.std()
    out["correlation"] = float(np.corrcoef(a.err, b.err)[0, 1]) if k >= 2 and sa > 0 and sb > 0 else float("nan")
    return out


def _independent_bootstrap(a: _Replicates, b: _Replicates, k: int, n_resamples: int, confidence: float,
                           seed: int) -> Any:
    """The BCa bootstrap of :data:`STATS` resampling ``A`` and ``B`` independently (:func:`scipy.stats.bootstrap`
    with two samples; a comparison only, so scipy.stats is imported here and not by the paired default)."""
    from scipy.stats import bootstrap

    def independent_stat(ia: np.ndarray, ib: np.ndarray, axis: int = -1) -> np.ndarray:
        return _evaluate(a, b, resample_counts(np.moveaxis(ia, axis, -1), k),
                         resample_counts(np.moveaxis(ib, axis, -1), k))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate (constant) statistics give NaN intervals
        return bootstrap((np.arange(k), np.arange(k)), independent_stat, vectorized=True, paired=False,
                         method="BCa", n_resamples=n_resamples, confidence_level=confidence,
                         rng=np.random.default_rng(seed))


def _plain(v: Any) -> Any:
    """numpy scalars -> Python scalars (stable ``repr`` for the bootstrap seed, clean columns)."""
    return v.item() if isinstance(v, np.generic) else v


def _horizon(h: Any) -> int:
    if h is None or (isinstance(h, str) and h.strip().lower() == "inf"):
        return -1
    return int(h)


def adjust_families(df: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Add ``family_size``, ``*_p_holm`` and ``*_significant_holm`` (Holm within each cell's family)."""
    df = df.copy()
    alpha = 1.0 - confidence
    df["family_size"] = df.groupby(list(CELL_KEY), sort=False)["estimator_a"].transform("size").astype(np.int64)
    for test in TESTS.values():
        adj = df.groupby(list(CELL_KEY), sort=False)[f"{test}_p"].transform(lambda p: holm(p.to_numpy()))
        df[f"{test}_p_holm"] = adj.astype(np.float64)
        df[f"{test}_significant_holm"] = (df[f"{test}_p_holm"] < alpha) & df[f"{test}_significant"].astype(bool)
    return df


def _tidy(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The columns a comparison needs, from every estimate frame (``env_name``/``theta_name``
    default to ``env``/``theta`` when a file carries no study tags)."""
    import pandas as pd

    parts = []
    for df in frames:
        if len(df) == 0:
            continue
        df = df.copy()
        for tag, src in (("env_name", "env"), ("theta_name", "theta")):
            if tag not in df.columns:
                if src not in df.columns:
                    raise UserError(f"paired comparison: an estimate frame has neither {tag!r} nor {src!r}")
                df[tag] = df[src].astype(str)
        needed = (*CELL_KEY, "estimator", "baseline", "replicate", "grad", "grad_exact")
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise UserError(f"paired comparison: an estimate frame lacks column(s) {', '.join(missing)}")
        if "env_steps" not in df.columns:
            df["env_steps"] = np.nan
        extra = [c for c in PAIR_COLUMNS if c in df.columns and c not in ("estimator", "baseline")]
        parts.append(df[[*CELL_KEY, "estimator", "baseline", *extra, "replicate", "grad", "grad_exact", "env_steps"]])
    if not parts:
        return pd.DataFrame(columns=[*CELL_KEY, "estimator", "baseline", "replicate", "grad", "grad_exact",
                                     "env_steps"])
    return pd.concat(parts, ignore_index=True)


def paired_comparisons(frames: list[pd.DataFrame], *, cells: Sequence[tuple[int, int]] | None = None,
                       confidence: float = 0.95, n_resamples: int = 2000,
                       resampling: str = "paired") -> pd.DataFrame:
    """One row per cell and pair ``(A, B)`` of estimator~baselines, ``A`` before ``B``.

    ``frames``: estimate files as DataFrames (one row per replicate; a file may hold a grid of cells).
    ``cells``: the ``(horizon, batch_size)`` points to compare (``horizon = -1``/``None``/``"inf"`` for
    an infinite horizon); ``None`` compares every cell.  Replicates are matched by ``replicate``;
    only indices present for both enter (``replicates`` counts them).  Columns: :data:`COLUMNS`.
    Intervals are seeded by the cell and the pair, so the same input gives the same table.
    ``resampling = "independent"`` ignores the pairing (see :func:`pair_statistics`; for comparison).
    """
    import pandas as pd

    df = _tidy(frames)
    if cells is not None:
        wanted = {(_horizon(h), int(n)) for h, n in cells}
        h_n = df[["horizon", "batch_size"]].to_numpy(np.int64)
        df = df[np.isin(h_n[:, 0] * (1 << 32) + h_n[:, 1], [h * (1 << 32) + n for h, n in wanted])]
    pair_keys = [c for c in PAIR_COLUMNS if c in df.columns]
    rows = []
    for key, cell in df.groupby(list(CELL_KEY), sort=True):
        key = tuple(_plain(v) for v in key)
        data = {}
        for pair, grp in cell.groupby(pair_keys, sort=False, dropna=False):  # a pair: estimator~baseline, options
            est, base = str(pair[0]), str(pair[1])
            if (est, base) in data or grp["replicate"].duplicated().any():
                raise UserError(f"paired comparison: cell {dict(zip(CELL_KEY, key))} has {est}~{base} twice "
                                "(two estimate pairs for one estimator x baseline, e.g. two gae lambdas; "
                                "compare them in separate runs)")
            order = np.argsort(grp["replicate"].to_numpy(), kind="stable")
            data[(est, base)] = (grp["replicate"].to_numpy(np.int64)[order],
                                 np.stack(grp["grad"].to_numpy()[order]).astype(np.float64),
                                 np.asarray(grp["grad_exact"].iloc[order[0]], dtype=np.float64),
                                 grp["env_steps"].to_numpy(np.float64)[order])
        combos = sorted(data, key=combo_order)
        for i, ca in enumerate(combos):
            for cb in combos[i + 1:]:
                ra, Ga, ga, sa = data[ca]
                rb, Gb, gb, sb = data[cb]
                common, ia, ib = np.intersect1d(ra, rb, assume_unique=True, return_indices=True)
                seed = bootstrap_seed((key, ca, cb))
                stats = pair_statistics(Ga[ia], Gb[ib], ga, gb, confidence=confidence, n_resamples=n_resamples,
                                        seed=seed, resampling=resampling, steps_a=sa[ia], steps_b=sb[ib])
                rows.append({**dict(zip(CELL_KEY, key)), "estimator_a": ca[0], "baseline_a": ca[1],
                             "estimator_b": cb[0], "baseline_b": cb[1], "paired": shares_trajectories(ca[0], cb[0]),
                             **stats, "replicates": int(common.size), "confidence": confidence})
    if not rows:
        return pd.DataFrame(columns=list(COLUMNS))
    return adjust_families(pd.DataFrame(rows), confidence)[list(COLUMNS)]
