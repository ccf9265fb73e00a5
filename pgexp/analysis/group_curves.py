r"""Response lengths along training with group estimators: bands over seeds, and paired differences between arms.

Input: ``pgexp group-train`` tables (:mod:`pgexp.runs.group_train`), one per *arm* (the ``arm`` column, else
the estimator), each with sampled runs (one per seed) and one mean-field run.  Every recorded statistic
(:data:`~pgexp.runs.group_train.STATS`: ``J``, ``p_correct`` and the mean length of all, correct and
incorrect responses) is exact at the run's ``theta``, so the spread over seeds is the spread of the training
paths only.

**Curves** (:func:`length_curves`): per arm and iteration, the mean over the sampled seeds with a
percentile-bootstrap band (whole seeds resampled, one resampling for every iteration of an arm:
:func:`pgexp.analysis.curves.band`), and the mean-field value (``<stat>_mean_field``).

**Summary** (:func:`length_summary`): per arm at chosen iterations (``checkpoints``) and at each run's *peak*
(the largest ``length_wrong`` along the run, ``iteration = -1``), each statistic's mean and interval, and --
for every other arm -- the paired difference to the ``reference`` arm: seed ``s`` of both arms starts from the
same ``theta_0`` and draws its first batch from the same stream (common random numbers), so
``d_s = x_s(arm) - x_s(reference)`` is a paired sample and its mean gets a percentile-bootstrap interval over
seeds (``<stat>_diff``, ``_diff_lo``, ``_diff_hi``).  An interval that excludes 0 is a difference the seeds
resolve.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pgexp.analysis.curves import band

STATS = ("J", "p_correct", "length_mean", "length_correct", "length_wrong")
PEAK = -1  # the summary's iteration code for each run's peak length_wrong


def arms(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with an ``arm`` (default: the estimator) and ``label`` (default: the arm) column."""
    df = runs.copy()
    if "arm" not in df:
        df["arm"] = df["estimator"]
    if "label" not in df:
        df["label"] = df["arm"]
    return df


def _matrix(rows: pd.DataFrame, stat: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(seeds, iterations, X (seeds x iterations))`` of one arm's sampled runs (NaN where a run has no row)."""
    wide = rows.pivot_table(index="seed", columns="iteration", values=stat, aggfunc="first")
    return wide.index.to_numpy(), wide.columns.to_numpy(), wide.to_numpy(dtype=np.float64)


def length_curves(runs: pd.DataFrame, *, confidence: float = 0.95, n_resamples: int = 2000) -> pd.DataFrame:
    """Per arm and iteration: ``seeds``, each statistic's mean over seeds with ``_lo``/``_hi`` and its
    ``_mean_field`` value (module docstring)."""
    df = arms(runs)
    out = []
    for arm, g in df.groupby("arm", sort=False):
        sampled, mf = g[g["run"] == "sampled"], g[g["run"] == "mean_field"].set_index("iteration")
        cols: dict[str, object] = {}
        iters = None
        for stat in STATS:
            _seeds, iters, X = _matrix(sampled, stat)
            m, lo, hi = band(X, ("group_curves", arm, stat), confidence, n_resamples)
            cols.update({stat: m, f"{stat}_lo": lo, f"{stat}_hi": hi,
                         f"{stat}_mean_field": mf[stat].reindex(iters).to_numpy() if len(mf) else np.nan})
        assert iters is not None
        first = g.iloc[0]
        frame = pd.DataFrame({"arm": arm, "label": first["label"], "estimator": first["estimator"],
                              "group_size": int(first["group_size"]), "batch_size": int(first["batch_size"]),
                              "optimizer": first["optimizer"], "step_size": float(first["step_size"]),
                              "iteration": iters, "seeds": int(sampled["seed"].nunique()), **cols})
        out.append(frame)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def _values(rows: pd.DataFrame, stat: str, iteration: int) -> pd.Series:
    """Per seed, the statistic at ``iteration`` (:data:`PEAK`: at the iteration of the run's largest
    ``length_wrong``)."""
    if iteration == PEAK:
        idx = rows.groupby("seed")["length_wrong"].idxmax()
        return rows.loc[idx].set_index("seed")[stat if stat != "iteration" else "iteration"]
    return rows[rows["iteration"] == iteration].set_index("seed")[stat]


def length_summary(runs: pd.DataFrame, *, reference: str | None = None, checkpoints: Sequence[int] = (),
                   confidence: float = 0.95, n_resamples: int = 2000) -> pd.DataFrame:
    """Per arm and checkpoint (default: the quarters of training and the last iteration; plus :data:`PEAK`):
    every statistic's mean over seeds with its interval, and the paired difference to ``reference``'s."""
    df = arms(runs)
    sampled = df[df["run"] == "sampled"]
    last = int(sampled["iteration"].max())
    recorded = sorted(sampled["iteration"].unique())
    points = list(checkpoints) or sorted({min(recorded, key=lambda t: abs(t - q * last)) for q in (0.25, 0.5, 1.0)})
    points.append(PEAK)
    ref = sampled[sampled["arm"] == reference] if reference is not None else None
    out = []
    for arm, g in sampled.groupby("arm", sort=False):
        for it in points:
            row: dict[str, object] = {"arm": arm, "label": g["label"].iloc[0], "estimator": g["estimator"].iloc[0],
                                      "iteration": int(it), "seeds": int(g["seed"].nunique()),
                                      "reference": reference or ""}
            for stat in (*STATS, "iteration") if it == PEAK else STATS:
                x = _values(g, stat, it).astype(np.float64)
                m, lo, hi = band(x.to_numpy()[:, None], ("group_summary", arm, it, stat), confidence, n_resamples)
                name = "peak_iteration" if stat == "iteration" else stat
                row.update({name: float(m[0]), f"{name}_lo": float(lo[0]), f"{name}_hi": float(hi[0])})
                if ref is not None and arm != reference and not ref.empty:
                    y = _values(ref, stat, it).astype(np.float64)
                    d = (x - y).dropna()
                    if len(d):
                        m, lo, hi = band(d.to_numpy()[:, None], ("group_diff", arm, it, stat), confidence,
                                         n_resamples)
                        row.update({f"{name}_diff": float(m[0]), f"{name}_diff_lo": float(lo[0]),
                                    f"{name}_diff_hi": float(hi[0])})
            out.append(row)
    return pd.DataFrame(out)
