"""The report's training section on synthetic training tables (the figures are tested in test_figures.py).

The fixture mimics the training track: two environments, nine estimator~baseline pairs, four step
sizes, five seeds.  Lower-variance estimators learn faster; large step sizes diverge for the noisy
ones; rollin_rollout~none diverges at every step size on "garnet".  The variance-along-training table
has four checkpoints of the exact path.
"""

from __future__ import annotations

import html
import re
import warnings
import zlib

import numpy as np
import pandas as pd
import pytest

from pgexp.figures import FIGURES
from pgexp.io import save_figure
from pgexp.report import html as report
from pgexp.report.format import ci
from pgexp.report.sections.training import profile_sentence, training_findings

ENVS = {"corridor": (1.0, 12.0), "garnet": (0.6, 20.0)}  # env_name -> (learning-speed factor, steps per episode)
# (estimator, baseline) -> (learning rate factor, per-trajectory variance at the start, largest stable step size)
PAIRS = {
    ("reinforce", "none"): (1.0, 40.0, 0.03),
    ("reinforce", "constant"): (1.3, 25.0, 0.03),
    ("reinforce", "value_exact"): (1.8, 12.0, 0.1),
    ("reward_to_go", "none"): (1.6, 15.0, 0.1),
    ("reward_to_go", "value_exact"): (2.4, 6.0, 0.1),
    ("advantage_exact", "none"): (3.2, 3.0, 0.3),
    ("gae", "value_exact"): (3.0, 2.5, 0.3),
    ("rollin_rollout", "none"): (2.8, 4.0, 0.3),
    ("actor_critic", "none"): (2.6, 2.0, 0.3),
}
STEP_SIZES = (0.01, 0.03, 0.1, 0.3)
SEEDS = 5
ITERATIONS = 200
BATCH = 16
THRESHOLD = 0.9
CHECKPOINTS = (0, 50, 100, 200)


def _config(env: str, est: str, base: str, eta: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Per-seed progress ``(seeds, iterations + 1)`` (NaN after a divergence), env steps per iteration,
    diverged seeds, and the iteration at which they stop."""
    speed, ep_len = ENVS[env]
    rate_f, _, stable = PAIRS[(est, base)]
    rng = np.random.default_rng(zlib.crc32(f"{env}/{est}/{base}/{eta}".encode()))
    t = np.arange(ITERATIONS + 1)
    rate = 0.01 * speed * rate_f * (eta / 0.01) ** 0.7
    seed_rates = rate * np.exp(rng.normal(0, 0.15, SEEDS))
    prog = 1 - np.exp(-np.outer(seed_rates, t)) + rng.normal(0, 0.02 / rate_f, (SEEDS, t.size)).cumsum(1) * 0.05
    diverged, stop = 0, ITERATIONS + 1
    all_bad = env == "garnet" and (est, base) == ("rollin_rollout", "none")
    if eta > stable or all_bad:
        diverged = SEEDS if (eta > 3 * stable or all_bad) else 2
        stop = int(ITERATIONS * (0.3 if all_bad else 0.5))
        prog[:diverged, stop:] = np.nan
    steps = (t + 1) * BATCH * ep_len
    return prog, steps.astype(float), diverged, stop


def make_training_tables(envs=tuple(ENVS)) -> dict[str, pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # means over seeds that all diverged
        return _make_training_tables(envs)


def _make_training_tables(envs) -> dict[str, pd.DataFrame]:
    curves, summary = [], []
    for env in envs:
        J_0, J_star = -10.0, -1.0
        for est, base in PAIRS:
            for eta in STEP_SIZES:
                prog, steps, div, _ = _config(env, est, base, eta)
                live = np.isfinite(prog)
                n_live = live.sum(0)
                mean = np.where(n_live > 0, np.nansum(np.where(live, prog, 0), 0) / np.maximum(n_live, 1), np.nan)
                with np.errstate(all="ignore"):
                    sd = np.sqrt(np.nanmean((prog - mean) ** 2, 0))
                half = 1.96 * sd / np.sqrt(np.maximum(n_live, 1))
                for t in range(ITERATIONS + 1):
                    if n_live[t] == 0:
                        p = lo = hi = np.nan
                    else:
                        p, lo, hi = mean[t], mean[t] - half[t], mean[t] + half[t]
                    J = J_0 + p * (J_star - J_0)
                    curves.append(dict(env_name=env, estimator=est, baseline=base, step_size=eta, iteration=t,
                                       progress=p, progress_lo=lo, progress_hi=hi, J=J,
                                       J_lo=J_0 + lo * (J_star - J_0), J_hi=J_0 + hi * (J_star - J_0),
                                       env_steps=steps[t] if n_live[t] else np.nan, seeds=int(n_live[t]),
                                       diverged_seeds=int(SEEDS - n_live[t])))
                tail = prog[:, -ITERATIONS // 10:]
                final = np.nanmean(tail, 1)
                fp = float(np.nanmean(final))
                fp_half = 1.96 * float(np.nanstd(final)) / np.sqrt(SEEDS)
                reached = [steps[np.flatnonzero(row >= THRESHOLD)[0]] if (row >= THRESHOLD).any() else np.nan
                           for row in np.nan_to_num(prog, nan=-1.0)]
                reached = np.asarray(reached)
                k = int(np.isfinite(reached).sum())
                st = float(reached.mean()) if k == SEEDS else np.nan
                st_half = 1.96 * float(reached.std()) / np.sqrt(SEEDS) if k == SEEDS else np.nan
                summary.append(dict(env_name=env, estimator=est, baseline=base, step_size=eta, seeds=SEEDS,
                                    diverged_seeds=div, final_progress=fp, final_progress_lo=fp - fp_half,
                                    final_progress_hi=fp + fp_half, final_J_ratio=(J_0 + fp * (J_star - J_0)) / J_star,
                                    final_J_ratio_lo=np.nan, final_J_ratio_hi=np.nan, reached_threshold=k,
                                    threshold=THRESHOLD, steps_to_threshold=st, steps_to_threshold_lo=st - st_half,
                                    steps_to_threshold_hi=st + st_half, J_star=J_star, J_0=J_0))
        # the exact gradient path: no environment steps
        t = np.arange(ITERATIONS + 1)
        p = 1 - np.exp(-0.05 * t)
        for ti in t:
            curves.append(dict(env_name=env, estimator="exact", baseline="none", step_size=0.1, iteration=int(ti),
                               progress=p[ti], progress_lo=p[ti], progress_hi=p[ti], J=J_0 + p[ti] * (J_star - J_0),
                               J_lo=np.nan, J_hi=np.nan, env_steps=0.0, seeds=1, diverged_seeds=0))
        summary.append(dict(env_name=env, estimator="exact", baseline="none", step_size=0.1, seeds=1, diverged_seeds=0,
                            final_progress=float(p[-12:].mean()), final_progress_lo=float(p[-12:].mean()),
                            final_progress_hi=float(p[-12:].mean()), final_J_ratio=np.nan, final_J_ratio_lo=np.nan,
                            final_J_ratio_hi=np.nan, reached_threshold=1, threshold=THRESHOLD,
                            steps_to_threshold=0.0, steps_to_threshold_lo=0.0, steps_to_threshold_hi=0.0,
                            J_star=J_star, J_0=J_0))
    summary = pd.DataFrame(summary)
    summary["selected"] = False
    summary["all_diverged"] = False
    for _, g in summary.groupby(["env_name", "estimator", "baseline"]):
        ok = g[g["diverged_seeds"] == 0]
        if len(ok):
            best = ok.sort_values(["final_progress", "step_size"], ascending=[False, True]).index[0]
        else:
            best = g.sort_values("step_size").index[0]
            summary.loc[g.index, "all_diverged"] = True
        summary.loc[best, "selected"] = True

    tv = []
    for env in envs:
        for (est, base), (_, v0, _) in PAIRS.items():
            for j, ck in enumerate(CHECKPOINTS):
                grow = 1.0 + (2.5 if est == "reinforce" else 0.8) * j / (len(CHECKPOINTS) - 1)
                v = v0 * grow * (1.5 if env == "garnet" else 1.0)
                cos = 0.9 - 0.02 * v ** 0.5 - 0.03 * j
                tv.append(dict(env_name=env, theta_name=f"ckpt{ck}", checkpoint=str(ck), estimator=est, baseline=base,
                               horizon=20, batch_size=32, sweep="both", var_per_traj=v, var_per_traj_lo=v * 0.8,
                               var_per_traj_hi=v * 1.25, cosine=cos, cosine_lo=cos - 0.03,
                               cosine_hi=min(1.0, cos + 0.03),
                               rel_mse=v / 100, bias_sq=0.0, snr=10 / v))
    return {"curves": pd.DataFrame(curves), "summary": summary, "training_variance": pd.DataFrame(tv),
            "profiles": _profiles(summary)}


def _profiles(summary: pd.DataFrame) -> pd.DataFrame:
    """The performance profiles of the selected configurations' runs (a diverged seed: NaN, below every τ)."""
    from pgexp.analysis.profiles import performance_profiles

    rows = []
    for _, r in summary[summary["selected"] & (summary["estimator"] != "exact")].iterrows():
        prog, *_ = _config(r["env_name"], r["estimator"], r["baseline"], r["step_size"])
        finals = np.nanmean(prog[:, -ITERATIONS // 10:], 1)
        finals[np.isnan(prog[:, -1])] = np.nan
        rows += [dict(env_name=r["env_name"], estimator=r["estimator"], baseline=r["baseline"], seed=i, score=f)
                 for i, f in enumerate(finals)]
    return performance_profiles(pd.DataFrame(rows), n_resamples=200)


@pytest.fixture(scope="module")
def training() -> dict[str, pd.DataFrame]:
    return make_training_tables()


# ---------------------------------------------------------------------------------------- report


@pytest.fixture(scope="module")
def figs(training, tmp_path_factory) -> dict[str, str]:
    return _figures(training, tmp_path_factory.mktemp("training_figures"))


def training_figure_tables(training: dict[str, pd.DataFrame]) -> dict[str, dict[str, pd.DataFrame]]:
    """Figure name -> its tables by role, from the synthetic training tables."""
    return {"learning_curves": {"curves": training["curves"], "summary": training["summary"]},
            "performance_profiles": {"profiles": training["profiles"]},
            "variance_along_training": {"metrics": training["training_variance"]}}


def _figures(training, d) -> dict[str, str]:
    out = {}
    for name, tables in training_figure_tables(training).items():
        save_figure(FIGURES[name].make(tables), d / f"{name}.pdf")
        out[name] = str(d / f"{name}.pdf")
    return out


def _build(tmp_path, training, figures, name="report.html") -> str:
    out = tmp_path / name
    report.build_report(config={"study": "t"}, tables=dict(training), figures=figures,
                        provenance={"pgexp_version": "0.1.0", "config_hash": "abc"}, output=out)
    return out.read_text(encoding="utf-8")


def test_training_findings_content(training):
    text = [f.text for f in training_findings(training["summary"], training["curves"], training["training_variance"])]
    joined = "\n".join(text)
    s = training["summary"]
    r = s[(s["env_name"] == "corridor") & (s["estimator"] == "reinforce") & (s["baseline"] == "none")
          & s["selected"]].iloc[0]
    assert f"η = {r['step_size']:g}" in joined
    assert ci(r["final_progress"], r["final_progress_lo"], r["final_progress_hi"]) in joined
    assert "lowest mean environment steps" in joined
    # independent runs: no ratio interval exists, so none is claimed; overlapping intervals order nothing
    assert "× fewer" not in joined and "given both CIs" not in joined
    assert re.search(r"reinforce~none [0-9.e+]+ \[[^]]+\] \(the intervals (do not overlap|overlap: these runs do not "
                     r"order the two)\)", joined)
    assert "rollin_rollout~none" in joined and "every step size tried had diverging seeds" in joined
    assert "garnet: rollin_rollout~none at η = 0.01: no final progress" in joined
    assert "at the largest step size of the grid" in joined or "at the smallest step size of the grid" in joined
    assert "runs with diverged seeds: reinforce~none at η = 0.1 (5 of 5 seeds), 0.3 (5 of 5 seeds)" in joined
    assert re.search(r"per-trajectory variance of reinforce~none along the exact path: .* at iteration 200 \(the "
                     r"intervals", joined)
    # the exact path is a reference, never the winner
    assert not any(re.search(r"lowest mean environment steps to progress [^:]+: exact~", t) for t in text)
    assert any("the exact-gradient path" in t for t in text)


def test_report_training_section(training, figs, tmp_path):
    page = _build(tmp_path, training, figs)
    assert "Training: what lower variance buys" in page
    for name in figs:
        assert f'id="fig-{name}"' in page
    assert html.escape(FIGURES["learning_curves"].caption[:40]) in page
    assert html.escape(FIGURES["variance_along_training"].caption[:40]) in page
    for f in training_findings(training["summary"], training["curves"], training["training_variance"]):
        assert html.escape(f.text) in page
    s = training["summary"]
    r = s[(s["env_name"] == "garnet") & (s["estimator"] == "gae") & s["selected"]].iloc[0]
    assert ci(r["final_progress"], r["final_progress_lo"], r["final_progress_hi"]) in page
    imgs = re.findall(r'<img[^>]*src="data:image/png;base64,', page)
    assert len(imgs) == len(figs) == 3  # learning curves, performance profiles, variance along training
    assert html.escape(profile_sentence(training["profiles"]) or "no sentence") in page


def test_report_training_follows_the_summary(training, figs, tmp_path):
    before = _build(tmp_path, training, figs)
    s = training["summary"].copy()
    i = s.index[(s["env_name"] == "corridor") & (s["estimator"] == "reinforce") & (s["baseline"] == "none")
                & s["selected"]][0]
    s.loc[i, ["final_progress", "final_progress_lo", "final_progress_hi"]] = [0.123, 0.111, 0.135]
    after = _build(tmp_path, {**training, "summary": s}, figs)
    assert before != after
    assert "0.123 [0.111, 0.135]" in after and "0.123 [0.111, 0.135]" not in before


def test_report_without_training_has_no_training_section(tmp_path):
    out = tmp_path / "a.html"
    report.build_report(config={"x": 1}, tables={"metrics": pd.DataFrame(), "slopes": pd.DataFrame()}, figures={},
                        provenance={"pgexp_version": "0.1.0", "config_hash": "abc", "created": "2024-01-01"},
                        output=out)
    a = out.read_text(encoding="utf-8")
    assert 'id="training"' not in a and "Provenance" in a


def test_report_partial_training(training, tmp_path):
    """Only the summary given: findings and table, no crash."""
    page = _build(tmp_path, {"summary": training["summary"]}, {})
    assert "Training: what lower variance buys" in page
    page = _build(tmp_path, {"summary": training["summary"].iloc[0:0],
                             "training_variance": training["training_variance"]}, {}, name="r2.html")
    assert "per-trajectory variance of reinforce~none" in page


def test_fewest_steps_and_headline_declare_overlapping_intervals_ties():
    """The winner is named with every pair whose interval overlaps its own; a disjoint pair is not a tie."""
    from pgexp.report.sections.training import _headline

    rows = []
    for est, base, m, lo, hi in (("gae", "value_exact", 1000.0, 900.0, 1100.0),
                                 ("reward_to_go", "value_exact", 1050.0, 1080.0, 1200.0),
                                 ("reward_to_go", "none", 1040.0, 1101.0, 1300.0),
                                 ("reinforce", "none", 3000.0, 2800.0, 3200.0)):
        rows.append(dict(env_name="garnet", estimator=est, baseline=base, step_size=0.3, selected=True, seeds=20,
                         reached_threshold=20, threshold=0.9, steps_to_threshold=m, steps_to_threshold_lo=lo,
                         steps_to_threshold_hi=hi, final_progress=0.95, final_progress_lo=0.94,
                         final_progress_hi=0.96, diverged_seeds=0, all_diverged=False))
    summary = pd.DataFrame(rows)
    text = "\n".join(f.text for f in training_findings(summary))
    line = next(t for t in text.splitlines() if "lowest mean environment steps" in t)
    assert line.startswith("garnet: lowest mean environment steps to progress 0.9: gae~value_exact (η = 0.3)")
    assert "tied with reward_to_go~value_exact (η = 0.3) 1050 [1080, 1200]" in line
    assert "reward_to_go~none" not in line.split("reinforce~none")[0]  # [1101, 1300] misses [900, 1100]
    assert "reinforce~none 3000 [2800, 3200] (the intervals do not overlap)" in line
    assert line.count("reinforce~none") == 1  # the reference has its own clause, never among the ties
    head = _headline(summary).text
    assert "gae~value_exact 1000 [900, 1100], tied with reward_to_go~value_exact 1050 [1080, 1200]" in head
    summary.loc[summary["estimator"] == "reinforce", "steps_to_threshold_lo"] = 1000.0  # now it overlaps too
    line = next(f.text for f in training_findings(summary) if "lowest mean environment steps" in f.text)
    assert line.count("reinforce~none") == 1 and "(the intervals overlap: these runs do not order the two)" in line


def test_improvement_sentence_separates_better_worse_and_ties():
    rows = [dict(env_name="garnet", estimator=e, baseline=b, step_size=0.3, selected=True, seeds=20, threshold=0.9,
                 reached_threshold=20, final_progress=0.9, final_progress_lo=0.8, final_progress_hi=0.95,
                 final_progress_iqm=0.91, final_progress_iqm_lo=0.85, final_progress_iqm_hi=0.94,
                 improvement_prob=p, improvement_prob_lo=lo, improvement_prob_hi=hi, diverged_seeds=0)
            for e, b, p, lo, hi in (("reinforce", "none", 0.5, 0.5, 0.5), ("gae", "value_exact", 0.9, 0.8, 0.97),
                                    ("actor_critic", "none", 0.2, 0.1, 0.35),
                                    ("reward_to_go", "none", 0.6, 0.45, 0.75))]
    text = "\n".join(f.text for f in training_findings(pd.DataFrame(rows)))
    line = next(t for t in text.splitlines() if "probability that a run ends with higher final progress" in t)
    assert "better: gae~value_exact 0.9 [0.8, 0.97]" in line
    assert "worse: actor_critic~none 0.2 [0.1, 0.35]" in line
    assert "tied with it (the interval contains 1/2): reward_to_go~none 0.6 [0.45, 0.75]" in line
    assert "reinforce~none 0.5" not in line
    assert "(interquartile mean 0.91 [0.85, 0.94])" in text


def test_profile_sentence_states_the_bands_and_names_ties():
    def row(est, tau, f, lo, hi):
        return dict(estimator=est, baseline="none", tau=tau, fraction=f, fraction_lo=lo, fraction_hi=hi,
                    environments=2)

    prof = pd.DataFrame([row("reinforce", 0.9, 0.2, 0.1, 0.3), row("gae", 0.9, 0.8, 0.6, 0.9),
                         row("actor_critic", 0.9, 0.7, 0.5, 0.85), row("gae", 0.5, 1.0, 1.0, 1.0)])
    text = profile_sentence(prof)
    assert text is not None and "τ = 0.9" in text and "2 training environments" in text
    best, rest = text.split("tied with")
    assert "gae" in best.split("highest for")[1] and ci(0.8, 0.6, 0.9) in best  # the highest, with its band
    assert "actor_critic" in rest.split("below it")[0] and ci(0.7, 0.5, 0.85) in rest  # overlapping: a tie
    assert "reinforce~none " + ci(0.2, 0.1, 0.3) in rest.split("below it")[1]  # disjoint: ordered
    assert profile_sentence(None) is None


def test_report_states_the_performance_profiles(training):
    from pgexp.report.registry import ReportContext
    from pgexp.report.sections.training import training_section

    out = training_section(ReportContext(tables={"summary": training["summary"], "curves": training["curves"],
                                                 "profiles": training["profiles"]}))
    assert out is not None
    texts = [f.text for f in out.findings if f.text.startswith("Performance profiles")]
    assert len(texts) == 1 and "exceeds τ = 0.9" in texts[0] and "(95% stratified-bootstrap bands)" in texts[0]
