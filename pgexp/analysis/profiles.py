r"""Performance profiles of training runs (Agarwal et al., "Deep RL at the edge of the statistical precipice",
NeurIPS 2021, score distributions), with stratified-bootstrap bands.

**Profile.**  For one *arm* (an estimator~baseline and its variant, each environment's runs at the step size
selected there) and a threshold ``τ``, the fraction of runs whose score exceeds ``τ``::

    F(τ) = (1 / E) Σ_e (1 / n_e) #{ runs r of environment e : s_r > τ }

over the ``E`` environments the arm was trained on, each weighted equally whatever its number of seeds
``n_e``.  The score ``s_r`` is the run's final progress ``(J - J_0) / (J* - J_0)`` (mean over the last 10 %
of iterations, :func:`pgexp.analysis.curves.run_summary`): 0 at the starting policy, 1 at the optimum over
all policies, so ``τ`` runs over ``[0, 1]`` (``F`` is one minus the pooled empirical distribution function,
and never increases).  A run that diverged has no final value: it counts as below every ``τ`` (it did not
reach the score), not as missing, so an arm is not flattered by its diverged seeds.

**Bands.**  Stratified percentile bootstrap: in each resample the seeds of each environment are resampled
with replacement within that environment (``n_e`` of them), independently of the other environments, and
``F`` is recomputed on the whole grid of ``τ`` (one resample serves every ``τ``: a band of whole profiles).
The band at ``τ`` is the ``((1 - c) / 2, (1 + c) / 2)`` quantiles of the resampled ``F(τ)``.  Seeds are fixed
by the arm (:func:`pgexp.analysis.resampling.bootstrap_seed`), so a rerun gives the same band.  Two arms are
trained on independent runs: where their bands overlap, these seeds do not order them (a tie).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pgexp.analysis.resampling import bootstrap_seed

#: The thresholds τ of the profile table: 0, 0.01, ..., 1 (dimensionless progress).
TAUS = np.round(np.linspace(0.0, 1.0, 101), 2)


def profile(scores: Sequence[np.ndarray], taus: np.ndarray) -> np.ndarray:
    """``F(τ)`` ``(T,)`` for ``taus`` ``(T,)``: the mean over environments of the fraction of that environment's
    ``scores[e]`` ``(n_e,)`` above ``τ`` (a non-finite score is below every ``τ``; an empty environment is
    skipped; NaN when every one is empty)."""
    taus = np.asarray(taus, dtype=np.float64)
    fractions = [np.mean(_clean(s)[:, None] > taus, axis=0) for s in scores if np.size(s)]
    if not fractions:
        return np.full(taus.shape, np.nan)
    return np.mean(fractions, axis=0)


def _clean(s: np.ndarray) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    return np.where(np.isfinite(s), s, -np.inf)


def profile_band(scores: Sequence[np.ndarray], taus: np.ndarray, key: object, confidence: float = 0.95,
                 n_resamples: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(F, lo, hi)``, each ``(T,)``: the profile of :func:`profile` and its stratified percentile-bootstrap
    band (seeds resampled within each environment; seeded from ``key``)."""
    taus = np.asarray(taus, dtype=np.float64)
    point = profile(scores, taus)
    groups = [_clean(s) for s in scores if np.size(s)]
    if not groups:
        return point, point.copy(), point.copy()
    rng = np.random.default_rng(bootstrap_seed(key))
    total = np.zeros((n_resamples, taus.size))
    for s in groups:  # one stratum at a time: (B, n_e) resampled scores -> (B, T) fractions
        drawn = s[rng.integers(0, s.size, size=(n_resamples, s.size))]
        total += np.mean(drawn[:, :, None] > taus, axis=1)
    boot = total / len(groups)
    a = (1 - confidence) / 2
    return point, np.quantile(boot, a, axis=0), np.quantile(boot, 1 - a, axis=0)


def selected_scores(per_run: pd.DataFrame, summary: pd.DataFrame, seeds: Sequence[int]) -> pd.DataFrame:
    """The runs of :func:`pgexp.analysis.curves.run_summary` ``per_run`` that a profile pools: the ``seeds``
    (the reported ones) of each configuration ``summary`` marks ``selected``, with ``score`` their final
    progress (NaN for a run that diverged).  The exact-gradient path samples nothing and is left out."""
    from pgexp.analysis.curves import CONFIG

    if summary.empty or per_run.empty:
        return per_run.iloc[:0].assign(score=pd.Series(dtype=np.float64))
    chosen = summary.loc[summary["selected"].astype(bool) & (summary["estimator"] != "exact"), list(CONFIG)]
    runs = per_run[per_run["seed"].isin([int(s) for s in seeds])].merge(chosen, on=list(CONFIG), how="inner")
    return runs.assign(score=runs["final_progress"].where(~runs["diverged"].astype(bool)))


def performance_profiles(scores: pd.DataFrame, *, taus: np.ndarray = TAUS, confidence: float = 0.95,
                         n_resamples: int = 2000) -> pd.DataFrame:
    """One row per arm and ``τ`` from ``scores`` (one row per run: ``env_name``, the arm's columns -- those of
    :data:`pgexp.analysis.curves.PAIR` but ``env_name``, a missing variant column taking its default -- and
    ``score``).

    Columns: the arm's; ``tau``; ``fraction`` (``F(τ)``) with ``fraction_lo``/``fraction_hi`` (the band);
    ``environments`` (``E``), ``runs`` (``Σ n_e``), ``confidence``.
    """
    from pgexp.analysis.curves import PAIR, VARIANT_DEFAULTS

    arm = [c for c in PAIR if c != "env_name"]
    cols = [*arm, "tau", "fraction", "fraction_lo", "fraction_hi", "environments", "runs", "confidence"]
    if scores.empty:
        return pd.DataFrame(columns=cols)
    scores = scores.assign(**{k: v for k, v in VARIANT_DEFAULTS.items() if k not in scores})
    rows = []
    for key, g in scores.groupby(arm, sort=True, dropna=False):
        by_env = [e["score"].to_numpy(dtype=np.float64) for _, e in g.groupby("env_name", sort=True)]
        f, lo, hi = profile_band(by_env, taus, (key, "profile"), confidence, n_resamples)
        base = dict(zip(arm, key), environments=len(by_env), runs=len(g), confidence=confidence)
        rows += [dict(base, tau=float(t), fraction=float(f[i]), fraction_lo=float(lo[i]), fraction_hi=float(hi[i]))
                 for i, t in enumerate(taus)]
    return pd.DataFrame(rows, columns=cols)
