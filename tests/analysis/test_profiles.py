"""Performance profiles: the pooled fraction of runs above τ against a hand count, the stratified band's
coverage of a known profile, and the runs a profile pools (reported seeds at the selected step size)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta, norm

from pgexp.analysis.curves import run_summary, training_summary
from pgexp.analysis.profiles import TAUS, performance_profiles, profile, profile_band, selected_scores


def test_profile_is_the_environment_weighted_fraction_above_tau():
    a = np.array([0.2, 0.6, 0.95, np.nan])  # environment a: 4 runs, one diverged (NaN: below every τ)
    b = np.array([0.5, 1.0])  # environment b: 2 runs, weighted as much as a's 4
    taus = np.array([0.0, 0.5, 0.9, 1.0])
    # by hand: a above τ: 3, 2, 1, 0 of 4; b: 2, 1, 1, 0 of 2 (strictly above)
    expected = [(3 / 4 + 2 / 2) / 2, (2 / 4 + 1 / 2) / 2, (1 / 4 + 1 / 2) / 2, 0.0]
    assert profile([a, b], taus) == pytest.approx(expected, abs=1e-15)
    assert np.all(np.isnan(profile([np.array([])], taus)))


def test_table_rows_are_the_profile_per_arm():
    scores = pd.DataFrame(dict(env_name=["a", "a", "b", "a", "b"], estimator=["x", "x", "x", "y", "y"],
                               baseline="none", score=[0.2, 0.8, 0.6, 0.95, np.nan]))
    t = performance_profiles(scores, taus=np.array([0.5, 0.9]), n_resamples=200)
    x = t[t["estimator"] == "x"].set_index("tau")
    assert x.loc[0.5, "fraction"] == pytest.approx((1 / 2 + 1) / 2)  # a: 0.8 of (0.2, 0.8); b: 0.6
    assert x.loc[0.9, "fraction"] == 0.0
    y = t[t["estimator"] == "y"].set_index("tau")
    assert y.loc[0.9, "fraction"] == pytest.approx(0.5)  # a: 0.95 above; b: its one run diverged
    assert set(t["environments"]) == {2} and list(x["runs"]) == [3, 3]
    assert np.all(t["fraction_lo"] <= t["fraction"]) and np.all(t["fraction"] <= t["fraction_hi"])
    # the table's grid: 0 to 1, with the report's τ = 0.9 on it
    assert list(TAUS) == sorted(TAUS) and TAUS[0] == 0.0 and TAUS[-1] == 1.0 and 0.9 in TAUS


def test_band_is_reproducible_contains_the_point_and_narrows_with_more_seeds():
    rng = np.random.default_rng(3)
    widths = []
    for n in (5, 20, 80):
        sc = [rng.beta(2, 2, n), rng.beta(5, 1, n)]
        f, lo, hi = profile_band(sc, TAUS, "k", n_resamples=500)
        assert np.array_equal(lo, profile_band(sc, TAUS, "k", n_resamples=500)[1])  # seeded from the key
        assert np.all((lo <= f) & (f <= hi))
        assert np.all(np.diff(lo) <= 0) and np.all(np.diff(hi) <= 0)  # whole resampled profiles never rise
        widths.append(float(np.mean(hi - lo)))
    assert widths[0] > widths[1] > widths[2]


def test_band_covers_the_true_profile():
    """Two environments with known score laws (Beta(2, 2) and Beta(5, 1)), 20 seeds each, as the default
    study reports: the true profile is the mean of their survival functions.  The percentile band of a
    fraction of ``n`` runs uses the plug-in variance (divisor ``n``): its half-width is ``sqrt((n-1)/n)`` of the
    exact one, z = 1.96 * 0.975 = 1.91, nominal coverage 0.944.  400 simulations give each τ's coverage a
    binomial s.d. of ``sqrt(0.944 * 0.056 / 400) = 0.0115``: the mean over the four τ must be within 3 s.d.
    of 0.944 (the four are correlated, so 3 s.d. of one is the conservative bound)."""
    taus = np.array([0.3, 0.5, 0.7, 0.9])
    laws = [(2, 2), (5, 1)]
    true = np.mean([beta.sf(taus, a, b) for a, b in laws], axis=0)
    rng = np.random.default_rng(1)
    sims, hits = 400, np.zeros(taus.size)
    for r in range(sims):
        _, lo, hi = profile_band([rng.beta(a, b, 20) for a, b in laws], taus, ("sim", r), n_resamples=1000)
        hits += (lo <= true) & (true <= hi)
    nominal = 1.96 * np.sqrt(19 / 20)
    expected = 2 * norm.cdf(nominal) - 1
    sd = np.sqrt(expected * (1 - expected) / sims)
    assert abs(float(np.mean(hits / sims)) - expected) < 3 * sd


def _runs(progress: dict[tuple[str, str, float], list[float]], env: str) -> pd.DataFrame:
    """Runs t = 0..10 at J = 0 and then the given progress (J_0 = 0, J* = 1); NaN: the run diverges at t = 5."""
    rows = []
    for (est, base, eta), finals in progress.items():
        for seed, p in enumerate(finals):
            for t in range(0, 11 if np.isfinite(p) else 6):
                div = not np.isfinite(p) and t == 5
                rows.append(dict(env_name=env, estimator=est, baseline=base, step_size=eta, seed=seed, iteration=t,
                                 J=0.0 if t == 0 or not np.isfinite(p) else p, J_star=1.0, J_0=0.0, env_steps=10 * t,
                                 diverged=div, run_diverged=not np.isfinite(p)))
    return pd.DataFrame(rows)


def test_selected_scores_are_the_reported_runs_at_the_selected_step_size():
    runs = pd.concat([_runs({("reinforce", "none", 0.1): [0.9, 0.3, 0.4, 0.2],
                             ("reinforce", "none", 0.3): [0.1, 0.8, 0.9, 0.9],
                             ("gae", "value_exact", 0.1): [0.5, np.nan, 0.95, 0.7]}, "e"),
                      _runs({("reinforce", "none", 0.1): [0.5, 0.2, 0.6, 0.1]}, "f")], ignore_index=True)
    summary = training_summary(runs, selection_seeds=(0,), n_resamples=50)
    sc = selected_scores(run_summary(runs), summary, seeds=(1, 2, 3))
    e = sc[(sc["env_name"] == "e") & (sc["estimator"] == "reinforce")]
    assert set(e["step_size"]) == {0.1} and sorted(e["score"]) == pytest.approx([0.2, 0.3, 0.4])  # seed 0 chose 0.1
    g = sc[sc["estimator"] == "gae"].sort_values("seed")
    assert np.isnan(g["score"].iloc[0]) and g["score"].iloc[1] == pytest.approx(0.95)  # seed 1 diverged
    t = performance_profiles(sc, taus=np.array([0.35]), n_resamples=50).set_index("estimator")
    assert t.loc["reinforce", "fraction"] == pytest.approx((1 / 3 + 1 / 3) / 2)  # e: 0.4; f: 0.6 of (0.2, 0.6, 0.1)
    assert t.loc["reinforce", "environments"] == 2 and t.loc["gae", "environments"] == 1
