"""Learning curves from training runs: bands over seeds, steps-to-threshold, where runs end, step-size choice.

A *configuration* is everything a training job fixes but the seed (:data:`CONFIG`); a *pair* is a
configuration without its step size (:data:`PAIR`).  Progress is normalised per run,
``progress = (J - J_0) / (J* - J_0)`` (0 at the start, 1 at the optimum over all policies).

**Bands.**  At each iteration, over the seeds still alive (not diverged at or before it): the mean and a
percentile-bootstrap interval of the mean of ``progress``, ``J`` and the batch's sampled return.  One
resampling of seeds serves every iteration of a configuration (a band of whole curves, and one matrix
product instead of a loop); resamples are seeded from the configuration (reruns are identical).

**Where runs end.**  From the train table's per-run ``final_policy`` columns
(:func:`pgexp.runs.train_tables.final_policy`): a run has *converged* when its final policy picks one action
with probability at least ``converged_prob`` in every state it visits; it converged to a *suboptimal*
policy when that greedy policy's exact value is below ``J*``.  Fractions over seeds carry Wilson score
intervals (:func:`wilson_interval`; exact counts, no normal approximation of the mean).

**Step-size rule, on seeds that are not reported.**  The seeds split into *selection* seeds and
*reported* seeds (given, or by :func:`split_seeds`: the first half of the sorted seeds select, the rest
are reported).  For each pair the selected step size is the one with the highest mean final progress on
the selection seeds among those where no selection seed diverged (ties: the smaller; if every step
size diverged somewhere, the smallest, flagged ``all_diverged``).  Every number of the summary is then
computed on the reported seeds only, so the choice does not flatter the reported result.  A choice at
the smallest or largest step size of the grid is flagged ``selected_at_edge``: the best step may lie
outside the grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from pgexp.analysis.resampling import bootstrap_seed
from pgexp.analysis.robust import iqm_interval

VARIANT_DEFAULTS: dict[str, object] = {"optimizer": "sga", "update": "per_batch", "baseline_offset": 0.0,
                                       "baseline_step_size": 0.0, "value_features": "", "batch_size": 0, "arm": "",
                                       "label": ""}
PAIR = ("env_name", "estimator", "baseline", *VARIANT_DEFAULTS)
CONFIG = (*PAIR, "step_size")
RUN = (*CONFIG, "seed")
FINAL_POLICY = ("final_policy", "final_policy_prob", "final_policy_J", "final_policy_optimal")


def prepare(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with every key column present (older tables and the neural track lack some):
    missing variant columns get their defaults, ``env_name`` defaults to ``env``."""
    df = runs.copy()
    if "env_name" not in df:
        df["env_name"] = df.get("env", "")
    for k, v in VARIANT_DEFAULTS.items():
        if k not in df:
            df[k] = v
        else:
            df[k] = df[k].fillna(v)
    for k in ("batch_return_mean", "final_policy_prob", "final_policy_J"):
        if k not in df:
            df[k] = np.nan
    if "final_policy" not in df:
        df["final_policy"] = ""
    if "final_policy_optimal" not in df:
        df["final_policy_optimal"] = False
    return df


def add_progress(runs: pd.DataFrame) -> pd.DataFrame:
    """``progress`` and ``J_ratio = J / J*`` columns (``J_ratio`` is NaN when ``J* = 0``)."""
    df = runs.copy()
    gap = df["J_star"] - df["J_0"]
    df["progress"] = np.where(gap != 0, (df["J"] - df["J_0"]) / gap.where(gap != 0, 1.0), np.nan)
    df["J_ratio"] = np.where(df["J_star"] != 0, df["J"] / df["J_star"].where(df["J_star"] != 0, 1.0), np.nan)
    return df


def split_seeds(seeds: Sequence[int]) -> tuple[list[int], list[int]]:
    """``(selection, reported)``: the first half of the sorted seeds (at least one) select, the rest are
    reported; a single seed does both (then the choice is not independent -- the summary says so)."""
    s = sorted({int(x) for x in seeds})
    if len(s) < 2:
        return s, s
    k = len(s) // 2
    return s[:k], s[k:]


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(k/n, lo, hi)``: the fraction and its Wilson score interval (NaN for ``n = 0``)."""
    if n == 0:
        return np.nan, np.nan, np.nan
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return k / n, float(ci.low), float(ci.high)


def newcombe_difference(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(p1 - p2, lo, hi)``: Newcombe's hybrid score interval for a difference of two proportions, built from
    the two Wilson intervals (Newcombe 1998, method 10); NaN if either sample is empty."""
    p1, l1, u1 = wilson_interval(k1, n1, confidence)
    p2, l2, u2 = wilson_interval(k2, n2, confidence)
    d = p1 - p2
    return d, d - float(np.hypot(p1 - l1, u2 - p2)), d + float(np.hypot(u1 - p1, p2 - l2))


def _boot_mean_ci(x: np.ndarray, key, confidence: float, n_resamples: int) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap interval of the mean of ``x`` (one value per seed, NaN ignored)."""
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


def band(X: np.ndarray, key, confidence: float, n_resamples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column means of ``X`` ``(seeds, iterations)`` over its finite entries, with percentile-bootstrap
    bounds from resampling whole rows (seeds); a column with one finite entry has a zero-width band."""
    ok = np.isfinite(X)
    X0 = np.where(ok, X, 0.0)
    n = X.shape[0]
    cnt = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = X0.sum(axis=0) / cnt
    if n < 2:
        return mean, mean.copy(), mean.copy()
    # (B, seeds) counts by bincount: a few thousand entries, where the compiled counting of
    # pgexp.analysis.resampling would cost more to load than it saves
    rng = np.random.default_rng(bootstrap_seed(key))
    idx = rng.integers(0, n, size=(n_resamples, n))
    flat = (np.arange(n_resamples)[:, None] * n + idx).ravel()
    counts = np.bincount(flat, minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (counts @ X0) / (counts @ ok.astype(np.float64))
    a = (1 - confidence) / 2
    lo = np.full(X.shape[1], np.nan)
    hi = np.full(X.shape[1], np.nan)
    # np.nanquantile works column by column (~30 us each, thousands of iterations); a column without a NaN
    # resample (every resample drew a seed alive there) has the same quantiles from np.quantile, vectorised
    full = (cnt > 0) & ~np.isnan(means).any(axis=0)
    gaps = (cnt > 0) & ~full
    if full.any():
        lo[full], hi[full] = np.quantile(means[:, full], [a, 1 - a], axis=0)
    if gaps.any():
        with np.errstate(invalid="ignore"):
            lo[gaps] = np.nanquantile(means[:, gaps], a, axis=0)
            hi[gaps] = np.nanquantile(means[:, gaps], 1 - a, axis=0)
    single = cnt == 1
    lo[single], hi[single] = mean[single], mean[single]
    return mean, lo, hi


def policy_traces(runs: pd.DataFrame) -> pd.DataFrame:
    """The kept rows of traced seeds (``pgexp train --trace-seeds``): the configuration, ``seed``,
    ``iteration``, ``J`` and ``pi`` as columns ``pi_<s>_<a>`` (empty when nothing was traced)."""
    df = prepare(runs)
    if "trace_pi" not in df:
        return pd.DataFrame()
    df = df[df["trace_pi"].notna()]
    if df.empty:
        return pd.DataFrame()
    P = np.stack(df["trace_pi"].to_numpy())
    A = P.shape[1] // int(df["num_states"].iloc[0]) if "num_states" in df else None
    keep = df[[*CONFIG, "seed", "iteration", "J", "diverged"]].reset_index(drop=True)
    if A is None:
        cols = {f"pi_{k}": P[:, k] for k in range(P.shape[1])}
    else:
        cols = {f"pi_{k // A}_{k % A}": P[:, k] for k in range(P.shape[1])}
    return pd.concat([keep, pd.DataFrame(cols)], axis=1)


def learning_curves(runs: pd.DataFrame, *, confidence: float = 0.95, n_resamples: int = 2000,
                    seeds: Sequence[int] | None = None) -> pd.DataFrame:
    """Per configuration and kept iteration: mean ``progress``, ``J`` and ``return_mean`` (the batch's
    sampled return) with bootstrap bands over the seeds alive then, mean env steps, ``seeds`` alive,
    ``diverged_seeds`` (diverging at this iteration), ``diverged_cum`` (at or before it) and
    ``alive_fraction``.  ``seeds``: only these seeds (e.g. the reported ones); default all."""
    df = add_progress(prepare(runs))
    if seeds is not None:
        df = df[df["seed"].isin(list(seeds))]
    out = []
    for key, g in df.groupby(list(CONFIG), sort=True, dropna=False):
        seed_ids = np.sort(g["seed"].unique())
        n = seed_ids.size
        live = g[~g["diverged"].astype(bool)]
        its = np.sort(live["iteration"].unique())
        if its.size == 0:
            continue
        row_of = {s: i for i, s in enumerate(seed_ids)}
        col_of = {t: j for j, t in enumerate(its)}
        r = live["seed"].map(row_of).to_numpy()
        c = live["iteration"].map(col_of).to_numpy()
        mats = {}
        for name in ("progress", "J", "batch_return_mean", "env_steps"):
            M = np.full((n, its.size), np.nan)
            M[r, c] = live[name].to_numpy(dtype=np.float64)
            mats[name] = M
        div_at = g[g["diverged"].astype(bool)].groupby("seed")["iteration"].min()
        div_t = np.sort(div_at.to_numpy())
        frame = {**dict(zip(CONFIG, key)), "iteration": its}
        for name, col in (("progress", "progress"), ("J", "J"), ("batch_return_mean", "return_mean")):
            m, lo, hi = band(mats[name], (key, name), confidence, n_resamples)
            frame |= {col: m, f"{col}_lo": lo, f"{col}_hi": hi}
        alive = np.isfinite(mats["J"]).sum(axis=0)
        with np.errstate(invalid="ignore"):
            frame["env_steps"] = np.nanmean(np.where(np.isfinite(mats["J"]), mats["env_steps"], np.nan), axis=0)
        frame["seeds"] = alive
        frame["diverged_seeds"] = np.array([int((div_at == t).sum()) for t in its])
        frame["diverged_cum"] = np.searchsorted(div_t, its, side="right")
        frame["alive_fraction"] = 1.0 - frame["diverged_cum"] / n
        out.append(pd.DataFrame(frame))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def run_summary(runs: pd.DataFrame, *, threshold: float = 0.9) -> pd.DataFrame:
    """One row per run: final progress (mean over the last 10 % of iterations), final ``J`` and ``J/J*``,
    env steps and iterations to reach ``threshold`` progress (NaN if never; at kept rows), whether and
    why it diverged, and where it ended (the ``final_policy`` columns)."""
    df = add_progress(prepare(runs))
    if "diverged_reason" not in df:
        df["diverged_reason"] = ""
    df["_run"] = df.groupby(list(RUN), sort=True, dropna=False).ngroup()
    df = df.sort_values(["_run", "iteration"], kind="stable")
    by = df.groupby("_run", sort=True)
    T = by["iteration"].transform("max")
    tail = df[df["iteration"] >= T - np.maximum(1, T // 10)]
    reached = df[df["progress"] >= threshold].groupby("_run").head(1).set_index("_run")
    last = by.tail(1).set_index("_run")
    out = last[[*RUN, "J", "J_ratio", "run_diverged", "diverged_reason", "iteration", "J_star", "J_0",
                *FINAL_POLICY]].rename(columns={"J": "final_J", "J_ratio": "final_J_ratio", "run_diverged": "diverged",
                                                "iteration": "last_iteration"})
    out["final_progress"] = tail.groupby("_run")["progress"].mean()
    out["steps_to_threshold"] = reached["env_steps"].astype(float).reindex(out.index)
    out["iterations_to_threshold"] = reached["iteration"].astype(float).reindex(out.index)
    out["diverged"] = out["diverged"].astype(bool)
    out["diverged_reason"] = out["diverged_reason"].fillna("").astype(str)
    return out.reset_index(drop=True)


def training_summary(runs: pd.DataFrame, *, threshold: float = 0.9, confidence: float = 0.95, n_resamples: int = 2000,
                     selection_seeds: Sequence[int] | None = None, converged_prob: float = 0.99) -> pd.DataFrame:
    """One row per configuration, on the reported seeds, with the step size selected on the selection
    seeds (see the module docstring).

    Columns: the configuration; ``seeds``, ``iterations`` (the last iteration ``T`` of a run that did not
    stop early), ``diverged_seeds``; ``final_progress``, ``final_J_ratio`` and ``final_J`` (over the runs
    that did not diverge), ``final_progress_iqm`` (their interquartile mean, :mod:`pgexp.analysis.robust`),
    ``improvement_prob`` (:func:`add_improvement`) and ``steps_to_threshold`` / ``iterations_to_threshold``
    (when every run reached it) with ``_lo``/``_hi`` bootstrap bounds; ``reached_threshold``;
    ``converged_seeds``, ``suboptimal_seeds``, ``suboptimal_fraction`` and ``optimal_fraction`` with Wilson
    ``_lo``/``_hi``; ``selection_seeds``, ``selection_final_progress``, ``selection_diverged_seeds``,
    ``selection_independent`` (selection and reported seeds disjoint); ``selected``, ``all_diverged``,
    ``grid_size``, ``selected_at_edge`` (every row of the pair).
    """
    per_run = run_summary(runs, threshold=threshold)
    if per_run.empty:
        return pd.DataFrame()
    all_seeds = sorted(per_run["seed"].unique())
    if selection_seeds is None:
        sel, rep = split_seeds(all_seeds)
    else:
        sel = sorted({int(s) for s in selection_seeds})
        rep = [s for s in all_seeds if s not in sel] or sel
    independent = not set(sel) & set(rep)
    rows = []
    finals: dict[tuple, np.ndarray] = {}  # configuration -> the reported runs' final progress (not diverged)
    for key, g in per_run.groupby(list(CONFIG), sort=True, dropna=False):
        r, s = g[g["seed"].isin(rep)], g[g["seed"].isin(sel)]
        alive = r[~r["diverged"]]  # a diverged run has no final value: its last row is where it stopped
        finals[key] = alive["final_progress"].to_numpy(dtype=np.float64)
        fp = _boot_mean_ci(alive["final_progress"].to_numpy(), (key, "fp"), confidence, n_resamples)
        fq = iqm_interval(finals[key], (key, "iqm"), confidence, n_resamples)
        fr = _boot_mean_ci(alive["final_J_ratio"].to_numpy(), (key, "fr"), confidence, n_resamples)
        fj = _boot_mean_ci(alive["final_J"].to_numpy(), (key, "fj"), confidence, n_resamples)
        steps = r["steps_to_threshold"].to_numpy()
        st = _boot_mean_ci(steps, (key, "st"), confidence, n_resamples) if np.all(np.isfinite(steps)) else (np.nan,) * 3
        its = r["iterations_to_threshold"].to_numpy()
        it = _boot_mean_ci(its, (key, "it"), confidence, n_resamples) if np.all(np.isfinite(its)) else (np.nan,) * 3
        conv = r["final_policy_prob"].to_numpy(dtype=np.float64) >= converged_prob
        opt = r["final_policy_optimal"].astype(bool).to_numpy()
        sub = wilson_interval(int((conv & ~opt).sum()), len(r), confidence)
        good = wilson_interval(int((conv & opt).sum()), len(r), confidence)
        rows.append(dict(zip(CONFIG, key), seeds=len(r), iterations=int(g["last_iteration"].max()),
                         diverged_seeds=int(r["diverged"].sum()),
                         final_progress=fp[0], final_progress_lo=fp[1], final_progress_hi=fp[2],
                         final_progress_iqm=fq[0], final_progress_iqm_lo=fq[1], final_progress_iqm_hi=fq[2],
                         final_J_ratio=fr[0], final_J_ratio_lo=fr[1], final_J_ratio_hi=fr[2],
                         final_J=fj[0], final_J_lo=fj[1], final_J_hi=fj[2],
                         reached_threshold=int(np.isfinite(steps).sum()), threshold=threshold,
                         steps_to_threshold=st[0], steps_to_threshold_lo=st[1], steps_to_threshold_hi=st[2],
                         iterations_to_threshold=it[0], iterations_to_threshold_lo=it[1],
                         iterations_to_threshold_hi=it[2], converged_prob=converged_prob,
                         converged_seeds=int(conv.sum()),
                         suboptimal_seeds=int((conv & ~opt).sum()), suboptimal_fraction=sub[0],
                         suboptimal_fraction_lo=sub[1], suboptimal_fraction_hi=sub[2],
                         optimal_fraction=good[0], optimal_fraction_lo=good[1], optimal_fraction_hi=good[2],
                         selection_seeds=len(s), selection_final_progress=float(s["final_progress"].mean()),
                         selection_diverged_seeds=int(s["diverged"].sum()), selection_independent=independent,
                         J_star=float(g["J_star"].iloc[0]), J_0=float(g["J_0"].iloc[0])))
    out = pd.DataFrame(rows)
    out["selected"] = False
    out["all_diverged"] = False
    out["selected_at_edge"] = False
    out["grid_size"] = 0
    for _, g in out.groupby(list(PAIR), sort=True, dropna=False):
        ok = g[g["selection_diverged_seeds"] == 0]
        if len(ok):
            best = ok.assign(_f=ok["selection_final_progress"].fillna(-np.inf)).sort_values(
                ["_f", "step_size"], ascending=[False, True]).index[0]
        else:
            best = g.sort_values("step_size").index[0]
            out.loc[g.index, "all_diverged"] = True
        out.loc[best, "selected"] = True
        eta = out.loc[best, "step_size"]
        out.loc[g.index, "grid_size"] = len(g)
        out.loc[g.index, "selected_at_edge"] = bool(eta == g["step_size"].min() or eta == g["step_size"].max())
    return add_improvement(out, finals, confidence, n_resamples)


#: The configuration every other is compared with by :func:`add_improvement` (at its selected step size).
REFERENCE_PAIR = ("reinforce", "none")


def add_improvement(out: pd.DataFrame, finals: dict[tuple, np.ndarray], confidence: float,
                    n_resamples: int) -> pd.DataFrame:
    """``improvement_prob`` (``_lo``, ``_hi``): the probability that a reported run of the row's configuration
    ends with a higher final progress than one of :data:`REFERENCE_PAIR` at its selected step size, in the
    same environment and variant (:func:`pgexp.analysis.robust.improvement_interval`; NaN without one)."""
    from pgexp.analysis.robust import improvement_interval

    cols = ("improvement_prob", "improvement_prob_lo", "improvement_prob_hi")
    out = out.assign(**{c: np.nan for c in cols})
    same = [c for c in PAIR if c not in ("estimator", "baseline")]
    for _, g in out.groupby(same, sort=False, dropna=False):
        ref = g[(g["estimator"] == REFERENCE_PAIR[0]) & (g["baseline"] == REFERENCE_PAIR[1]) & g["selected"]]
        if ref.empty:
            continue
        y = finals[tuple(ref.iloc[0][list(CONFIG)])]
        for i, row in g.iterrows():
            key = tuple(row[list(CONFIG)])
            out.loc[i, list(cols)] = improvement_interval(finals[key], y, (key, "poi"), confidence, n_resamples)
    return out
