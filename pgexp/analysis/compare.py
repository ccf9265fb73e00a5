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
``mse_diff``    ``mean_m e^A_m - mean_m e^B_m``; ``< 0``: ``A`` is more accurate
``correlation`` Pearson correlation of ``e^A_m`` and ``e^B_m`` across replicates
=============== =================================================================================

Each gets a BCa interval from :func:`scipy.stats.bootstrap` that resamples the replicate *indices*
once per draw and applies the same resample to ``A`` and ``B`` (a resample is a vector of counts,
and both traces and mean errors are linear in per-replicate statistics, as in :mod:`pgexp.analysis.metrics`).

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
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
from scipy.stats import bootstrap

from pgexp.analysis.metrics import _counts, bootstrap_seed
from pgexp.errors import UserError
from pgexp.estimators import BASELINES, ESTIMATORS

if TYPE_CHECKING:
    import pandas as pd

CELL_KEY = ("env_name", "theta_name", "horizon", "batch_size", "seed")
STATS = ("var_ratio", "mse_diff")
COLUMNS = (*CELL_KEY, "estimator_a", "baseline_a", "estimator_b", "baseline_b", "paired",
           "var_ratio", "var_ratio_lo", "var_ratio_hi", "mse_diff", "mse_diff_lo", "mse_diff_hi",
           "var_significant", "mse_significant", "correlation", "replicates")


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

    def __init__(self, G: np.ndarray, g_true: np.ndarray):
        self.k = G.shape[0]
        self.Gc = G - G.mean(axis=0)                       # centred: the trace is shift-invariant
        self.qc = np.einsum("md,md->m", self.Gc, self.Gc)
        diff = G - g_true
        self.err = np.einsum("md,md->m", diff, diff)        # ||g_m - grad J||^2


def _trace(counts: np.ndarray, k: np.ndarray, mean_c: np.ndarray, qc: np.ndarray) -> np.ndarray:
    """``tr Cov`` of a resample: ``(sum counts q - k ||mean||^2) / (k - 1)`` (``mean_c`` already ``/ k``)."""
    return ((counts @ qc) / k - np.einsum("...d,...d->...", mean_c, mean_c)) * k / (k - 1)


def _evaluate(a: _Replicates, b: _Replicates, ca: np.ndarray, cb: np.ndarray | None = None) -> np.ndarray:
    """``(var_ratio, mse_diff)`` for resample counts ``ca`` of ``A`` and ``cb`` of ``B`` (``None``: the same)."""
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
    return np.stack([ratio, diff])


def pair_statistics(G_a: np.ndarray, G_b: np.ndarray, g_true_a: np.ndarray, g_true_b: np.ndarray | None = None, *,
                    confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                    resampling: str = "paired") -> dict[str, float]:
    """Point values and BCa intervals of ``var_ratio`` and ``mse_diff``, plus ``correlation``.

    ``G_a[m]`` and ``G_b[m]`` are matched replicates.  ``resampling = "paired"`` (the default) draws one
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
    a, b = _Replicates(G_a, g_true_a), _Replicates(G_b, g_true_b)
    ones = np.ones(k)
    point = _evaluate(a, b, ones)
    lo = hi = np.full(len(STATS), np.nan)
    if k >= 3:
        if resampling == "paired":
            data: tuple = (np.arange(k),)

            def stat(idx, axis=-1):
                return _evaluate(a, b, _counts(np.moveaxis(idx, axis, -1), k))
        else:
            data = (np.arange(k), np.arange(k))

            def stat(ia, ib, axis=-1):
                return _evaluate(a, b, _counts(np.moveaxis(ia, axis, -1), k), _counts(np.moveaxis(ib, axis, -1), k))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate (constant) statistics give NaN intervals, handled below
            with np.errstate(all="ignore"):
                res = bootstrap(data, stat, vectorized=True, paired=False, method="BCa", n_resamples=n_resamples,
                                confidence_level=confidence, rng=np.random.default_rng(seed))
        lo, hi = res.confidence_interval.low, res.confidence_interval.high
    out: dict[str, float] = {}
    for name, p, l, h in zip(STATS, point, lo, hi):
        if not np.isfinite(l) or not np.isfinite(h):  # a constant statistic: the interval is the point
            l = h = p if np.isfinite(p) else np.nan
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = float(p), float(min(l, p)), float(max(h, p))
    out["var_significant"] = bool(out["var_ratio_lo"] > 1.0 or out["var_ratio_hi"] < 1.0)
    out["mse_significant"] = bool(out["mse_diff_lo"] > 0.0 or out["mse_diff_hi"] < 0.0)
    sa, sb = a.err.std(), b.err.std()
    out["correlation"] = float(np.corrcoef(a.err, b.err)[0, 1]) if k >= 2 and sa > 0 and sb > 0 else float("nan")
    return out


def _plain(v: Any) -> Any:
    """numpy scalars -> Python scalars (stable ``repr`` for the bootstrap seed, clean columns)."""
    return v.item() if isinstance(v, np.generic) else v


def _horizon(h: Any) -> int:
    if h is None or (isinstance(h, str) and h.strip().lower() == "inf"):
        return -1
    return int(h)


def _tidy(frames: Iterable["pd.DataFrame"]) -> "pd.DataFrame":
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
        missing = [c for c in (*CELL_KEY, "estimator", "baseline", "replicate", "grad", "grad_exact") if c not in df.columns]
        if missing:
            raise UserError(f"paired comparison: an estimate frame lacks column(s) {', '.join(missing)}")
        parts.append(df[[*CELL_KEY, "estimator", "baseline", "replicate", "grad", "grad_exact"]])
    if not parts:
        return pd.DataFrame(columns=[*CELL_KEY, "estimator", "baseline", "replicate", "grad", "grad_exact"])
    return pd.concat(parts, ignore_index=True)


def paired_comparisons(frames: "list[pd.DataFrame]", *, cells: Sequence[tuple[int, int]] | None = None,
                       confidence: float = 0.95, n_resamples: int = 2000,
                       resampling: str = "paired") -> "pd.DataFrame":
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
        keep = [(int(h), int(n)) in wanted for h, n in zip(df["horizon"], df["batch_size"])]
        df = df[np.asarray(keep, dtype=bool)]
    rows = []
    for key, cell in df.groupby(list(CELL_KEY), sort=True):
        key = tuple(_plain(v) for v in key)
        data = {}
        for (est, base), grp in cell.groupby(["estimator", "baseline"], sort=False):
            if grp["replicate"].duplicated().any():
                raise UserError(f"paired comparison: cell {dict(zip(CELL_KEY, key))} has {est}~{base} twice "
                                "(two estimate files for one estimator x baseline, e.g. two gae lambdas)")
            grp = grp.sort_values("replicate")
            data[(str(est), str(base))] = (grp["replicate"].to_numpy(np.int64), np.stack(grp["grad"].to_numpy()).astype(np.float64),
                                           np.asarray(grp["grad_exact"].iloc[0], dtype=np.float64))
        combos = sorted(data, key=combo_order)
        for i, ca in enumerate(combos):
            for cb in combos[i + 1:]:
                ra, Ga, ga = data[ca]
                rb, Gb, gb = data[cb]
                common, ia, ib = np.intersect1d(ra, rb, assume_unique=True, return_indices=True)
                seed = bootstrap_seed((key, ca, cb))
                stats = pair_statistics(Ga[ia], Gb[ib], ga, gb, confidence=confidence, n_resamples=n_resamples,
                                        seed=seed, resampling=resampling)
                rows.append({**dict(zip(CELL_KEY, key)), "estimator_a": ca[0], "baseline_a": ca[1],
                             "estimator_b": cb[0], "baseline_b": cb[1], "paired": shares_trajectories(ca[0], cb[0]),
                             **stats, "replicates": int(common.size)})
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    return out
