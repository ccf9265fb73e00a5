"""Learning curves from training runs: CI bands over seeds, steps-to-threshold, final J/J*, step-size choice.

Progress is normalised per run, ``progress = (J - J_0) / (J* - J_0)`` (0 at the start, 1 at the optimum
over all policies), so problems with rewards of any sign read the same way.  Bands and intervals are
percentile bootstraps over seeds (seeded, so reruns are identical).

**Step-size rule.** For each environment x estimator x baseline the selected step size is the one
with the highest mean progress over the last 10 % of iterations among those whose seeds all
finished without diverging (ties: the smaller step).  If every step size diverged somewhere, the
smallest is selected and flagged ``all_diverged``.  A fair comparison gives each estimator its best step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pgexp.analysis.metrics import bootstrap_seed

RUN = ("env_name", "estimator", "baseline", "step_size", "seed")
PAIR = ("env_name", "estimator", "baseline")
CONFIG = PAIR + ("step_size",)


def _boot_mean_ci(x: np.ndarray, key, confidence: float, n_resamples: int) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap interval of the mean of ``x`` (seeds)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan, np.nan
    if x.size == 1 or np.all(x == x[0]):
        return float(x.mean()), float(x.mean()), float(x.mean())
    rng = np.random.default_rng(bootstrap_seed(key))
    means = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
    a = (1 - confidence) / 2
    return float(x.mean()), float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def add_progress(runs: pd.DataFrame) -> pd.DataFrame:
    """``progress`` and ``J_ratio = J / J*`` columns (``J_ratio`` is NaN when ``J* = 0``)."""
    df = runs.copy()
    gap = df["J_star"] - df["J_0"]
    df["progress"] = np.where(gap != 0, (df["J"] - df["J_0"]) / gap.where(gap != 0, 1.0), np.nan)
    df["J_ratio"] = np.where(df["J_star"] != 0, df["J"] / df["J_star"].where(df["J_star"] != 0, 1.0), np.nan)
    return df


def learning_curves(runs: pd.DataFrame, *, confidence: float = 0.95, n_resamples: int = 2000) -> pd.DataFrame:
    """Per configuration and iteration: mean progress and ``J`` with bootstrap bands over the seeds that
    have not diverged by then, mean env steps, and how many seeds are still running."""
    df = add_progress(runs)
    rows = []
    for key, g in df.groupby(list(CONFIG) + ["iteration"], sort=True):
        live = g[~g["diverged"]]
        p, plo, phi = _boot_mean_ci(live["progress"].to_numpy(), key, confidence, n_resamples)
        j, jlo, jhi = _boot_mean_ci(live["J"].to_numpy(), (key, "J"), confidence, n_resamples)
        rows.append(dict(zip(list(CONFIG) + ["iteration"], key), progress=p, progress_lo=plo, progress_hi=phi,
                         J=j, J_lo=jlo, J_hi=jhi, env_steps=float(live["env_steps"].mean()) if len(live) else np.nan,
                         seeds=int(len(live)), diverged_seeds=int(g["diverged"].sum())))
    return pd.DataFrame(rows)


def run_summary(runs: pd.DataFrame, *, threshold: float = 0.9) -> pd.DataFrame:
    """One row per run: final progress (mean of the last 10 % of iterations), final ``J/J*``,
    env steps to reach ``threshold`` progress (NaN if never), diverged."""
    df = add_progress(runs)
    rows = []
    for key, g in df.groupby(list(RUN), sort=True):
        g = g.sort_values("iteration")
        T = int(g["iteration"].max())
        tail = g[g["iteration"] >= T - max(1, T // 10)]
        reached = g[g["progress"] >= threshold]
        rows.append(dict(zip(RUN, key), final_progress=float(tail["progress"].mean()),
                         final_J=float(g["J"].iloc[-1]), final_J_ratio=float(g["J_ratio"].iloc[-1]),
                         steps_to_threshold=float(reached["env_steps"].iloc[0]) if len(reached) else np.nan,
                         iterations_to_threshold=float(reached["iteration"].iloc[0]) if len(reached) else np.nan,
                         diverged=bool(g["run_diverged"].iloc[-1]), last_iteration=T, J_star=float(g["J_star"].iloc[0]),
                         J_0=float(g["J_0"].iloc[0])))
    return pd.DataFrame(rows)


def training_summary(runs: pd.DataFrame, *, threshold: float = 0.9, confidence: float = 0.95,
                     n_resamples: int = 2000) -> pd.DataFrame:
    """One row per configuration (env, estimator, baseline, step size) with CIs over seeds and the
    selected step size per (env, estimator, baseline) -- see the module docstring for the rule."""
    per_run = run_summary(runs, threshold=threshold)
    rows = []
    for key, g in per_run.groupby(list(CONFIG), sort=True):
        fp = _boot_mean_ci(g["final_progress"].to_numpy(), (key, "fp"), confidence, n_resamples)
        fr = _boot_mean_ci(g["final_J_ratio"].to_numpy(), (key, "fr"), confidence, n_resamples)
        steps = g["steps_to_threshold"].to_numpy()
        st = _boot_mean_ci(steps, (key, "st"), confidence, n_resamples) if np.all(np.isfinite(steps)) else (np.nan,) * 3
        rows.append(dict(zip(CONFIG, key), seeds=len(g), diverged_seeds=int(g["diverged"].sum()),
                         final_progress=fp[0], final_progress_lo=fp[1], final_progress_hi=fp[2],
                         final_J_ratio=fr[0], final_J_ratio_lo=fr[1], final_J_ratio_hi=fr[2],
                         reached_threshold=int(np.isfinite(steps).sum()), threshold=threshold,
                         steps_to_threshold=st[0], steps_to_threshold_lo=st[1], steps_to_threshold_hi=st[2],
                         J_star=float(g["J_star"].iloc[0]), J_0=float(g["J_0"].iloc[0])))
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["selected"] = False
    out["all_diverged"] = False
    for _, g in out.groupby(list(PAIR), sort=True):
        ok = g[g["diverged_seeds"] == 0]
        if len(ok):
            best = ok.sort_values(["final_progress", "step_size"], ascending=[False, True]).index[0]
        else:
            best = g.sort_values("step_size").index[0]
            out.loc[g.index, "all_diverged"] = True
        out.loc[best, "selected"] = True
    return out
