"""The HTML report (pgexp.report) on a synthetic study, with its figures drawn from the registry.

The fixture mimics a real study: two environments, seven estimator~baseline pairs, a horizon sweep
at N = 32 and a batch sweep at H = 20 meeting at the reference cell (H = 20, N = 32, sweep "both").
Per-trajectory variance grows as H^3 for REINFORCE, H^2 for reward-to-go, about H for the
advantage-based estimators; GAE and actor-critic are biased (and claimed so).  Paired comparisons,
exact curves (with the H^3 assumptions: the garnet's hold, the corridor's do not) and a time-ordered
decomposition are synthetic too.  The tests check that every sentence follows from the tables.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from pgexp.analysis.aggregate import join_exact
from pgexp.analysis.compare import holm
from pgexp.estimators import is_oracle
from pgexp.figures import FIGURES
from pgexp.io import read_frame, save_figure, write_frame
from pgexp.report import html as report
from pgexp.report.format import ci, fmt, fmt2
from pgexp.report.registry import SECTIONS, Finding, SectionOutput, register_section

HORIZONS = (5, 10, 20, 40, 80)
BATCHES = (8, 32, 128, 512)
REF_H, REF_N = 20, 32
ENVS = {  # env_name -> (spec, dim, scale)
    "corridor": ("short_corridor", 2, 1.0),
    "garnet": ("garnet:actions=4,branching=3,seed=0,states=20", 80, 4.0),
}
# (estimator, baseline) -> (variance exponent, constant, unbiased, bias_sq per step)
PAIRS = {
    ("reinforce", "none"): (3.0, 0.5, True, 0.0),
    ("reinforce", "value_exact"): (2.7, 0.2, True, 0.0),
    ("reward_to_go", "none"): (2.0, 0.6, True, 0.0),
    ("reward_to_go", "value_exact"): (1.8, 0.15, True, 0.0),
    ("advantage_exact", "none"): (1.0, 0.3, True, 0.0),
    ("gae", "value_exact"): (1.1, 0.08, False, 0.002),
    ("actor_critic", "none"): (1.0, 0.05, False, 0.004),
}
REPLICATES = 200


def _row(env_name: str, est: str, base: str, H: int, N: int, sweep: str, rng: np.random.Generator) -> dict:
    spec, dim, scale = ENVS[env_name]
    p, c, unbiased, b = PAIRS[(est, base)]
    var = scale * c * H**p * float(np.exp(rng.normal(0, 0.04)))
    tc = var / N
    bias = b * H * scale + (rng.normal(0, 0.3) * tc / np.sqrt(REPLICATES))
    g2 = 0.05 * H * scale  # ||grad J||^2
    mse = max(bias, 0.0) + tc
    rel = mse / g2
    cos = float(1 / np.sqrt(1 + rel))
    z = abs(rng.normal(0, 1)) + 1.0 if b == 0 else 6.0 + 40 * np.sqrt(b * H * scale / (tc / REPLICATES)) / 10
    row = dict(env=spec, env_name=env_name, theta_name="init", features="onehot", policy="softmax_linear",
               theta="random:seed=0,scale=0.5", gamma=1.0, horizon=H, dim=dim, estimator=est, baseline=base,
               lam=0.95 if est == "gae" else np.nan, batch_size=N, replicates=REPLICATES, seed=0, unbiased=unbiased,
               J_exact=-3.2, J_star=-1.1, env_steps_mean=0.8 * H * N * (2 if base == "value_learned" else 1),
               batch_return_mean=-3.3, bias_max_z=float(z), bias_flagged=bool(z > 5.3),
               bias_confirmed=bool(z > 5.3 and not unbiased), bias_rerun_replicates=0, bias_rerun_max_z=np.nan,
               grad_norm_exact=float(np.sqrt(g2)), mean_grad_norm=float(np.sqrt(g2 + tc)), confidence=0.95,
               sweep=sweep)
    w = 1.96 * np.sqrt(2 / REPLICATES)  # relative CI half-width of a variance
    work = tc * row["env_steps_mean"]
    for m, v, rel_w in (("bias_sq", bias, None), ("trace_cov", tc, w), ("var_per_traj", var, w), ("mse", mse, w),
                        ("rel_mse", rel, w), ("cosine", cos, None), ("snr", g2 / tc, w),
                        ("work_normalized_variance", work, w)):
        row[m] = v
        if m == "bias_sq":
            half = 2.0 * tc / np.sqrt(REPLICATES)
            row[f"{m}_lo"], row[f"{m}_hi"] = v - half, v + half
        elif m == "cosine":
            half = 0.02 * (1 - cos) + 0.002
            row[f"{m}_lo"], row[f"{m}_hi"] = max(-1.0, cos - half), min(1.0, cos + half)
        else:
            row[f"{m}_lo"], row[f"{m}_hi"] = v * (1 - rel_w), v * (1 + rel_w)
    return row


def make_metrics(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for env_name in ENVS:
        for est, base in PAIRS:
            for H in HORIZONS:
                rows.append(_row(env_name, est, base, H, REF_N, "both" if H == REF_H else "horizon", rng))
            for N in BATCHES:
                if N != REF_N:
                    rows.append(_row(env_name, est, base, REF_H, N, "batch", rng))
    return pd.DataFrame(rows)


def make_slopes(metrics: pd.DataFrame) -> pd.DataFrame:
    rows = []
    hs = metrics[metrics["sweep"].isin(["horizon", "both"])]
    for (env_name, est, base), g in hs.groupby(["env_name", "estimator", "baseline"], sort=False):
        x, y = np.log(g["horizon"].to_numpy(float)), np.log(g["var_per_traj"].to_numpy(float))
        slope, intercept = np.polyfit(x, y, 1)
        resid = y - (intercept + slope * x)
        se = np.sqrt(resid @ resid / (len(x) - 2) / ((x - x.mean()) @ (x - x.mean())))
        half = max(4.3 * se, 0.04)  # t_{0.975, 3} ~ 3.18, widened a little
        rows.append(dict(env_name=env_name, env=g["env"].iloc[0], theta_name="init", estimator=est, baseline=base,
                         batch_size=REF_N, seed=0, slope=slope, slope_lo=slope - half, slope_hi=slope + half,
                         intercept=intercept, n_horizons=len(x), h_min=int(g["horizon"].min()),
                         h_max=int(g["horizon"].max())))
    return pd.DataFrame(rows)


EXACT = [("reinforce", "none"), ("reinforce", "value_exact"), ("reward_to_go", "value_exact")]


def make_exact(metrics: pd.DataFrame) -> pd.DataFrame:
    """Exact REINFORCE curves on a fine horizon grid (the figure tests draw them)."""
    hs = metrics[metrics["sweep"].isin(["horizon", "both"]) & (metrics["estimator"] == "reinforce")]
    rows = []
    for (env_name, est, base), _ in hs.groupby(["env_name", "estimator", "baseline"]):
        _, _, scale = ENVS[env_name]
        p, c, _, _ = PAIRS[(est, base)]
        for H in np.geomspace(HORIZONS[0], HORIZONS[-1], 9):
            rows.append(dict(env_name=env_name, estimator=est, baseline=base, horizon=float(H),
                             var_per_traj_exact=scale * c * H**p))
    return pd.DataFrame(rows)


def make_exact_curves(metrics: pd.DataFrame) -> pd.DataFrame:
    """Exact curves at the study's horizons; the garnet meets the H^3 assumptions, the corridor ends early."""
    rows = []
    for env_name, (_, _, scale) in ENVS.items():
        for est, base in EXACT:
            p, c, _, _ = PAIRS[(est, base)]
            for H in HORIZONS:
                rows.append(dict(env_name=env_name, theta_name="init", estimator=est, baseline=base, horizon=H,
                                 var_per_traj_exact=scale * c * H**p, method="dp", dim=ENVS[env_name][1],
                                 rewards_same_sign=True, discount_one=True,
                                 p_end_before_h=0.0 if env_name == "garnet" else 1 - 0.5 ** (H / 5),
                                 h3_assumptions_hold=env_name == "garnet"))
    return pd.DataFrame(rows)


def make_comparisons(metrics: pd.DataFrame) -> pd.DataFrame:
    """Paired comparisons at the reference cell: ratios near the metrics' own, intervals +-15 %."""
    ref = metrics[metrics["sweep"] == "both"]
    rows = []
    for env_name, g in ref.groupby("env_name"):
        recs = list(g.itertuples())
        for i, a in enumerate(recs):
            for b in recs[i + 1:]:
                r, w = a.var_per_traj / b.var_per_traj, a.work_normalized_variance / b.work_normalized_variance
                row = dict(env_name=env_name, theta_name="init", horizon=REF_H, batch_size=REF_N, seed=0,
                           estimator_a=a.estimator, baseline_a=a.baseline, estimator_b=b.estimator,
                           baseline_b=b.baseline, paired=True, var_ratio=r, var_ratio_lo=r / 1.15,
                           var_ratio_hi=r * 1.15,
                           work_ratio=w, work_ratio_lo=w / 1.15, work_ratio_hi=w * 1.15, mse_diff=a.mse - b.mse,
                           mse_diff_lo=a.mse - b.mse - 1, mse_diff_hi=a.mse - b.mse + 1, correlation=0.5,
                           replicates=REPLICATES, confidence=0.95)
                for t, (_v, lo, hi) in (("var", (r, r / 1.15, r * 1.15)), ("work", (w, w / 1.15, w * 1.15)),
                                       ("mse", (0, -1, 1))):
                    row[f"{t}_significant"] = bool(lo > (0 if t == "mse" else 1) or hi < (0 if t == "mse" else 1))
                    row[f"{t}_p"] = 1e-6 if row[f"{t}_significant"] else 0.5
                rows.append(row)
    df = pd.DataFrame(rows)
    df["family_size"] = df.groupby("env_name")["estimator_a"].transform("size")
    for t in ("var", "work", "mse"):
        df[f"{t}_p_holm"] = df.groupby("env_name")[f"{t}_p"].transform(lambda p: holm(p.to_numpy()))
        df[f"{t}_significant_holm"] = (df[f"{t}_p_holm"] < 0.05) & df[f"{t}_significant"]
    return df


def make_decomposition() -> pd.DataFrame:
    rows = []
    for env_name in ENVS:
        for est, base in EXACT:
            shares = (0.0, 1.0, 0.0) if env_name == "corridor" else (0.1, 0.6, 0.3)
            total = 10.0
            rows.append(dict(env_name=env_name, theta_name="init", estimator=est, baseline=base, horizon=10, step=None,
                             total=total,
                             **{k: total * s for k, s in zip(("initial_state", "actions", "transitions"), shares)},
                             **{f"{k}_share": s for k, s in zip(("initial_state", "actions", "transitions"), shares)}))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The synthetic tables, round-tripped through parquet like the pipeline's outputs."""
    d = tmp_path_factory.mktemp("tables")
    metrics = make_metrics()
    write_frame(metrics, d / "metrics.parquet", {"kind": "metrics"})
    write_frame(make_slopes(metrics), d / "slopes.parquet", {"kind": "slopes"})
    metrics = read_frame(d / "metrics.parquet")
    exact = make_exact_curves(metrics)
    return {"metrics": join_exact(metrics, exact), "slopes": read_frame(d / "slopes.parquet"), "exact": exact,
            "comparisons": make_comparisons(metrics), "decomposition": make_decomposition()}


@pytest.fixture(scope="module")
def figures(tables, tmp_path_factory) -> dict[str, str]:
    """The estimation figures, drawn from the registry and saved (PDF + PNG)."""
    d = tmp_path_factory.mktemp("figures")
    out = {}
    for name, spec in FIGURES.items():
        if spec.section == "estimation":
            save_figure(spec.make(tables), d / f"{name}.pdf")
            out[name] = str(d / f"{name}.pdf")
    return out




# ---------------------------------------------------------------------------------------- report

PROVENANCE = {"pgexp_version": "0.1.0", "libraries": {"numpy": "1.26.4", "pandas": "2.2.0"},
              "config_hash": "cafef00d1234", "created": "2024-05-01"}
CONFIG = {"study": "synthetic", "replicates": 200,
          "environments": {n: {"env": s, "thetas": {"init": "zeros"}} for n, (s, _, _) in ENVS.items()},
          "horizons": list(HORIZONS), "batch_sizes": list(BATCHES), "note": "<script>alert(1)</script>"}


def _build(tmp_path, tables, figures, **kw) -> str:
    out = tmp_path / "report.html"
    report.build_report(config=CONFIG, tables=tables, figures=figures, provenance=PROVENANCE, output=out, **kw)
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    return out.read_text(encoding="utf-8")


def _text(page: str) -> str:
    """The page's visible text, unescaped, whitespace collapsed (scripts and styles removed)."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def _summary(page: str) -> list[str]:
    block = page[page.index('<section id="summary"'):page.index("</section>", page.index('<section id="summary"'))]
    return [re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", li))).replace(" more", "").strip()
            for li in re.findall(r"<li>(.*?)</li>", block, flags=re.S)]


@pytest.fixture(scope="module")
def page(tables, figures, tmp_path_factory) -> str:
    return _build(tmp_path_factory.mktemp("report"), tables, figures)


def test_page_is_self_contained_and_escaped(page, figures):
    assert page.startswith("<!DOCTYPE html>")
    imgs = re.findall(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == len(figures)
    for name in figures:
        assert f'id="fig-{name}"' in page
        assert html.escape(FIGURES[name].caption[:60]) in page  # the registry's caption, the one source
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "<link" not in page and "@import" not in page
    styles = "".join(re.findall(r"<style>(.*?)</style>", page, flags=re.S))
    assert all(u.startswith("data:") for u in re.findall(r'url\("?([^")]*)', styles))  # only inline images
    assert "alert(1)" in page and "<script>alert(1)</script>" not in page  # the config is text
    assert "cafef00d1234" in page and "1.26.4" in page and "2024-05-01" in page


def test_summary_first_with_headline_findings_and_links(page):
    heads = _summary(page)
    assert 5 <= len(heads) <= 8
    assert page.index('id="summary"') < page.index('id="setup"')
    sections = re.findall(r'<section id="([a-z_-]+)"', page)
    for target in re.findall(r'<a class="more" href="#([a-z_-]+)"', page):
        assert target in sections
    assert re.search(r'<nav id="toc">.*href="#summary".*href="#glossary".*</nav>', page, flags=re.S)
    assert "The question." in page


def test_summary_opens_with_the_headline_figure(page, tables, figures, tmp_path):
    """The Summary's first element is the figure ``variance_ratios`` (each pair's per-trajectory variance relative
    to REINFORCE), shown there once and in no section; a study without it gets the summary as before."""
    start = page.index('<section id="summary"')
    summary = page[start:page.index("</section>", start)]
    assert re.match(r'<section id="summary" class="summary"><h2>Summary</h2><figure id="fig-variance_ratios"', summary)
    assert summary.index('id="fig-variance_ratios"') < summary.index("The question.")
    assert page.count('id="fig-variance_ratios"') == 1
    other = _build(tmp_path, tables, {k: v for k, v in figures.items() if k != "variance_ratios"})
    assert re.search(r'<h2>Summary</h2><p class="question">', other) and "fig-variance_ratios" not in other


def test_variance_ratios_are_the_paired_intervals(page, tables):
    """The factor against reinforce~none is the comparisons table's paired interval, never a division of
    two separate intervals; lowest per trajectory and per environment step both reported."""
    text = _text(page)
    assert "given both CIs" not in text and "factor between" not in text
    m, c = tables["metrics"], tables["comparisons"]
    for env in ENVS:
        ref = m[(m["env_name"] == env) & (m["sweep"] == "both")]
        implementable = ref[[not is_oracle(e, b) for e, b in zip(ref["estimator"], ref["baseline"])]]
        for col, stat in (("var_per_traj", "var_ratio"), ("work_normalized_variance", "work_ratio")):
            best = implementable.loc[implementable[col].idxmin()]
            assert not is_oracle(best["estimator"], best["baseline"])
            row = c[(c["env_name"] == env) & (c["estimator_a"] == "reinforce") & (c["baseline_a"] == "none")
                    & (c["estimator_b"] == best["estimator"]) & (c["baseline_b"] == best["baseline"])].iloc[0]
            want = (f"paired ratio reinforce~none / {best['estimator']}~{best['baseline']} = "
                    f"{ci(row[stat], row[stat + '_lo'], row[stat + '_hi'])} (a difference after Holm's correction "
                    f"over the {row['family_size']} pairs of this cell)")
            assert want in text, want
    assert "work-normalised variance" in text and "Glynn & Whitt" in text
    # oracles are shown apart, as references, and never win a ranking
    assert "oracle reference (reads exact V, Q, A or b*: not implementable)" in text
    assert not re.search(r"lowest [a-z-]+ variance[^:]*: [a-z_]+~value_exact", text)
    assert not re.search(r"lowest [a-z-]+ variance[^:]*: advantage_exact", text)
    assert "among the implementable pairs" in text


def test_oracle_flags_and_ties():
    """The registry's oracle flag: a pair is an oracle when its estimator or its baseline reads exact quantities;
    a winner whose interval overlaps another pair's is tied with it, one that is apart is not."""
    from pgexp.report.format import oracle_rows, tied_with

    assert is_oracle("advantage_exact", "none") and is_oracle("reinforce", "value_exact")
    assert is_oracle("gae", "value_exact") and not is_oracle("gae", "value_learned")
    assert is_oracle("reward_to_go", "q_exact") and not is_oracle("reward_to_go", "q_fitted")
    assert not is_oracle("reinforce", "none") and not is_oracle("reinforce", "optimal")
    assert not is_oracle("reinforce", "fixed:c=1") and not is_oracle("plugin_not_loaded", "none")
    df = pd.DataFrame({"estimator": ["a_est", "b_est", "advantage_exact"], "baseline": ["none", "none", "none"],
                       "cosine": [0.973, 0.972, 0.99], "cosine_lo": [0.964, 0.962, 0.985],
                       "cosine_hi": [0.98, 0.979, 0.995]})
    assert oracle_rows(df).tolist() == [False, False, True]
    impl = df[~oracle_rows(df)]
    assert tied_with(impl, impl.loc[0], "cosine") == ["b_est~none"]
    apart = impl.assign(cosine_lo=[0.970, 0.90], cosine_hi=[0.98, 0.96])
    assert tied_with(apart, apart.loc[0], "cosine") == []


def test_bias_flags_unconfirmed_are_not_warnings(tables, figures, tmp_path):
    metrics = tables["metrics"].copy()
    j = metrics.index[(metrics["env_name"] == "corridor") & (metrics["estimator"] == "reward_to_go")
                      & (metrics["baseline"] == "none") & (metrics["horizon"] == 40)][0]
    metrics.loc[j, ["bias_max_z", "bias_flagged", "bias_rerun_replicates", "bias_rerun_max_z", "bias_confirmed"]] = \
        [57.0, True, 2000, 2.1, False]
    page = _build(tmp_path, {**tables, "metrics": metrics}, figures)
    text = _text(page)
    assert "warning" not in text.lower()
    assert "corridor: reward_to_go~none: a bias flag in 1 of" in text and "not confirmed" in text
    assert "gave max |z| ≤ 2.1" in text
    assert "actor_critic~none is biased by construction (registry) and the data show it" in text
    assert re.search(r"Bias: 1 of \d+ cells of estimators the registry calls unbiased were flagged by the z-test and "
                     r"0 confirmed", text)
    metrics.loc[j, "bias_confirmed"] = True
    text = _text(_build(tmp_path, {**tables, "metrics": metrics}, figures))
    assert "corridor: reward_to_go~none (registry: unbiased) is biased: flagged in 1 of" in text


def test_horizon_section_states_exponents_and_assumptions(page, tables):
    text = _text(page)
    ex = tables["exact"]
    g = ex[(ex["env_name"] == "garnet") & (ex["estimator"] == "reinforce") & (ex["baseline"] == "none")]
    e = np.log(g["var_per_traj_exact"].iloc[-1] / g["var_per_traj_exact"].iloc[-2]) / np.log(80 / 40)
    assert f"garnet: REINFORCE's exact per-trajectory variance grows like H^{fmt2(e)} between H = 40 and 80" in text
    assert "the H³ argument's assumptions hold" in text
    assert "corridor: REINFORCE's exact per-trajectory variance" in text
    assert "the H³ argument does not apply: an episode ends before H with probability" in text
    assert (f"H³: where its assumptions hold and REINFORCE's exact local exponent at the longest horizons is 3 "
            f"(within 0.1) (garnet: REINFORCE H^{fmt2(e)}") in text
    # the prose names no problem by hand: the corridor's verdict follows from its p_end_before_h column
    assert "lecture's H³ claim: measured" not in text


def test_coverage_per_batch_size_and_environment(page, tables):
    text = _text(page)
    m = tables["metrics"]
    judged = m[m["exact_in_ci"].notna()]
    for n, g in judged.groupby("batch_size"):
        k = int(g["exact_in_ci"].astype(bool).sum())
        assert re.search(rf"at N = {n} \({k} of {len(g)} cells in \d+ clusters\)", text)
    assert "expected misses" in text and "share their trajectories" in text  # no binomial count claimed
    assert "95% cluster-robust intervals" in text
    assert "by environment" in text


def test_coverage_without_held_out_seeds_says_it_is_in_sample(page):
    assert "Not held out: judged on the study's own seed 0" in _text(page)


def test_held_out_coverage_is_the_judgement_and_the_studys_own_is_labelled_in_sample(tables, figures, tmp_path):
    """With the coverage seeds' metrics, the Summary's coverage is theirs (per batch size, counts of cells and
    clusters that share trajectories), and the study's own seed's -- where the interval method was chosen -- is
    stated beside it as in-sample, never in the Summary."""
    heldout = join_exact(make_metrics(seed=7).assign(seed=1), tables["exact"])
    judged = heldout[heldout["exact_in_ci"].notna()].copy()
    assert len(judged) > 0
    miss = judged.index[(judged["batch_size"] == REF_N) & (judged["horizon"] == REF_H)]
    heldout.loc[miss, "exact_in_ci"] = False  # the held-out seed misses where seed 0 does not
    judged = heldout[heldout["exact_in_ci"].notna()]
    page = _build(tmp_path, {**tables, "metrics_heldout": heldout}, figures)
    text, summary = _text(page), " ".join(_summary(page))
    for n, g in judged.groupby("batch_size"):
        k, clusters = int(g["exact_in_ci"].astype(bool).sum()), len(g.groupby(["env_name", "horizon"]))
        clause = rf"at N = {n} \({k} of {len(g)} cells in {clusters} clusters\)"
        assert re.search(r"On held-out seed 1 \(not used to choose the interval method\), the exact per-trajectory "
                         r"variance lies inside its 95% interval in .*?" + clause, summary)
        own = tables["metrics"][(tables["metrics"]["batch_size"] == n) & tables["metrics"]["exact_in_ci"].notna()]
        assert re.search(r"In-sample, on the study's own seed 0 \(where the interval method was chosen; not the "
                         rf"judgement\): .*?at N = {n} \({int(own['exact_in_ci'].astype(bool).sum())} of "
                         rf"{len(own)} cells", text)
    assert "95% cluster-robust intervals: cells of one environment, θ, horizon, batch size and seed" in summary
    assert "In-sample" not in summary and "Not held out" not in text
    assert "held-out (seed 1)" in page and "in-sample (seed 0)" in page  # the table's sample column


def test_comparisons_state_the_family_and_correction(page):
    text = _text(page)
    assert "are differences after Holm's correction (family: the 21 pairs of this cell; family-wise error 5%" in text


def test_decomposition_time_ordered(page):
    assert "corridor (H = 10): of REINFORCE's per-trajectory variance 10, 100.0 % comes from the actions" in _text(page)


def test_glossary_defines_the_quantities(page):
    text = _text(page)
    for term in ("cosine", "SNR", "work-normalised variance", "fitted optimal baseline", "Holm's correction"):
        assert term in text
    assert "depends on N" in text and "‖∇J‖² / tr Cov of the batch mean" in text


def test_config_shown_collapsed_in_the_users_key_order(page):
    block = page[page.index('<details class="config">'):]
    block = html.unescape(re.sub(r"<[^>]+>", "\n", block[:block.index("</details>")]))
    keys = [k for k in CONFIG if re.search(rf"^{k}:", block, flags=re.M)]
    assert keys == list(CONFIG)  # study, replicates, environments, horizons, ... as written, not sorted


def test_interactive_tables_carry_their_data_and_definitions(page, tables):
    blocks = re.findall(r'<script type="application/json" id="(t\d+-[a-z_]+)-data">(.*?)</script>', page, flags=re.S)
    assert blocks and len(blocks) == len(re.findall(r'<div class="dt" id="t[0-9]+', page))
    import json

    for _tid, data in blocks:
        spec = json.loads(data)
        assert spec["columns"] and all(len(r) == len(spec["columns"]) for r in spec["rows"])
        assert all(isinstance(cell, list) and len(cell) == 2 for r in spec["rows"] for cell in r)
    assert "column definitions" in page
    assert "gridjs" in page and "new gridjs.Grid" in page


def test_a_registered_section_appears_without_editing_the_page(tables, figures, tmp_path):
    @register_section("plugin_demo", "A plug-in section", order=45, needs=("demo",))
    def demo(ctx):
        n = len(ctx.tables["demo"])
        return SectionOutput([Finding(f"The demo table has {n} rows.", headline=1)],
                             ctx.table("demo", ctx.tables["demo"], ["x"]))

    try:
        without = _build(tmp_path, tables, figures)
        assert 'id="plugin_demo"' not in without  # its table is absent: left out
        page = _build(tmp_path, {**tables, "demo": pd.DataFrame({"x": [1, 2, 3]})}, figures)
        assert 'id="plugin_demo"' in page and "The demo table has 3 rows." in _summary(page)[0]
        assert page.index('id="horizon"') < page.index('id="plugin_demo"') < page.index('id="comparisons"')
    finally:
        SECTIONS.pop("plugin_demo")


def test_report_follows_the_tables(tables, figures, tmp_path):
    before = _build(tmp_path, tables, figures)
    metrics = tables["metrics"].copy()
    i = metrics.index[(metrics["env_name"] == "garnet") & (metrics["sweep"] == "both")
                      & (metrics["estimator"] == "reinforce") & (metrics["baseline"] == "none")][0]
    metrics.loc[i, ["var_per_traj", "var_per_traj_lo", "var_per_traj_hi"]] = [1234.5, 1000.0, 1500.0]
    after = _build(tmp_path, {**tables, "metrics": metrics}, figures)
    assert "1230 [1000, 1500]" in _text(after) and "1230 [1000, 1500]" not in _text(before)


def test_sections_are_left_out_without_their_tables(tables, figures, tmp_path):
    page = _build(tmp_path, {"metrics": tables["metrics"], "slopes": tables["slopes"]}, figures)
    for sid in ("horizon", "comparisons", "decomposition", "training", "deep"):
        assert f'<section id="{sid}"' not in page
    assert '<section id="variance"' in page and '<section id="glossary"' in page


def test_empty_tables_give_a_page_without_findings(tmp_path):
    out = tmp_path / "r.html"
    report.build_report(config={}, tables={"metrics": pd.DataFrame(), "slopes": pd.DataFrame()}, figures={},
                        provenance=PROVENANCE, output=out)
    assert "No findings: the tables are empty." in out.read_text()


def test_report_missing_png_raises(tables, tmp_path):
    with pytest.raises(FileNotFoundError):
        _build(tmp_path, tables, {"variance_vs_horizon": tmp_path / "nope.pdf"})


# ------------------------------------------------------------------------------ figures full size

ZOOM = """<script>
window.addEventListener("load", function () { setTimeout(function () {
  var figs = Array.prototype.slice.call(document.querySelectorAll("figure.zoomable"));
  figs.sort(function (a, b) { return b.querySelector("img").naturalWidth - a.querySelector("img").naturalWidth; });
  var fig = figs[0], img = fig.querySelector("img");  // the widest: shown narrower than it is
  var shown = [img.getBoundingClientRect().width, img.naturalWidth, img.naturalHeight];
  fig.querySelector("button.zoom").click();
  var box = document.getElementById("lightbox"), big = box.querySelector("img");
  var open = [box.classList.contains("open"), big.getBoundingClientRect().width, big.naturalWidth,
              getComputedStyle(box).position, document.images.length];
  document.dispatchEvent(new KeyboardEvent("keydown", {key: "Escape"}));
  var pre = document.createElement("pre"); pre.id = "zoom";
  pre.textContent = JSON.stringify({shown: shown, open: open, closed: !box.classList.contains("open")});
  document.body.appendChild(pre);
}, 300); });
</script>"""


def test_figures_open_full_size(page, figures, tmp_path):
    """Every figure shows at the text's width (no height cap shrinks a tall one to a thumbnail) and opens at its
    full resolution: the page carries each image once, and a button and a click on the image open it."""
    styles = "".join(re.findall(r"<style>(.*?)</style>", page, flags=re.S))
    rule = re.search(r"(?m)^figure img \{([^}]*)\}", styles)
    assert rule and "max-height" not in rule.group(1) and "max-width: 100%" in rule.group(1)
    # the one image with a height cap: the Summary's headline figure, on the first screen at 1400 px
    caps = re.findall(r"([^{}]*img[^{}]*)\{[^}]*max-height:\s*([^;}]+)", styles)
    capped = [(sel.strip(), h.strip()) for sel, h in caps if h.strip() != "none"]
    assert capped == [(".summary figure img", "600px")]
    figs = re.findall(r'<figure id="fig-[^"]+" class="zoomable">(.*?)</figure>', page, flags=re.S)
    assert len(figs) == len(figures)
    assert all(f.count("<img") == 1 and '<button type="button" class="zoom">Open full size</button>' in f
               for f in figs)
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium not installed (.ci/run installs Debian's package)")
    copy = tmp_path / "zoom.html"
    copy.write_text(page.replace("</body>", ZOOM + "</body>"), encoding="utf-8")
    proc = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,900",
                           "--virtual-time-budget=5000", "--dump-dom", copy.as_uri()],
                          capture_output=True, text=True, timeout=180)
    m = re.search(r'<pre id="zoom">([^<]*)</pre>', proc.stdout)
    assert m, proc.stderr[-2000:]
    z = json.loads(html.unescape(m.group(1)))
    (shown, natural, _), (opened, big, big_natural, position, n_images) = z["shown"], z["open"]
    assert shown < natural  # at the text's width, smaller than the PNG ...
    assert opened and position == "fixed" and big == pytest.approx(big_natural) == natural  # ... full size on demand
    assert n_images == len(figures) + 1 and z["closed"]  # one overlay image, reused; Escape closes it


def test_the_deep_section_declares_a_tie_when_intervals_overlap():
    """CartPole's audit case: 0.973 [0.964, 0.98] and 0.972 [0.962, 0.979] are a tie, not a ranking."""
    from pgexp.report.sections.deep import deep_findings

    q = pd.DataFrame({"env_name": "cartpole", "batch_size": 64,
                      "estimator": ["reward_to_go", "gae", "reinforce"],
                      "baseline": ["value_learned", "value_learned", "none"], "cosine": [0.973, 0.972, 0.80],
                      "cosine_lo": [0.964, 0.962, 0.78], "cosine_hi": [0.98, 0.979, 0.82]})
    (f,) = deep_findings(q)
    assert "by reward_to_go~value_learned; tied with gae~value_learned (overlapping 95% intervals)" in f.text
    assert "reinforce~none 0.8" in f.text and "tied with reinforce" not in f.text


def test_h3_is_claimed_only_where_the_exponent_is_3():
    """The audit's chain: assumptions hold, but exact H^2.2 at the longest horizons -- the Summary says H³ is at most
    asymptotic there, not that it holds.  The exact exponent decides where it exists (a garnet at exact 3.00 whose
    fitted line over all horizons is 2.98 [2.97, 2.99] is consistent with H³), the fitted interval otherwise; the
    growth relative to ‖∇J‖² is stated from the exact columns."""
    from pgexp.report.sections.exact import consistent_with_h3, h3_headline, relative_exponent

    ok, ev = consistent_with_h3(pd.Series({"slope": 3.31, "slope_lo": 3.22, "slope_hi": 3.42}), 2.2)
    assert not ok and ev == "exact local exponent 2.20, fitted exponent over all horizons 3.31 [3.22, 3.42]"
    assert consistent_with_h3(pd.Series({"slope": 2.98, "slope_lo": 2.97, "slope_hi": 2.99}), 3.0)[0]
    assert consistent_with_h3(pd.Series({"slope": 2.9, "slope_lo": 2.7, "slope_hi": 3.1}), np.nan)[0]
    assert not consistent_with_h3(pd.Series({"slope": 2.2, "slope_lo": 2.1, "slope_hi": 2.3}), np.nan)[0]
    assert consistent_with_h3(None, 2.95)[0] and not consistent_with_h3(None, 2.5)[0]
    text = h3_headline([("garnet_positive", 2.97, 2.0, 25, 64)], [("chain", 2.2, ev)],
                       [("corridor", 1.1, 1.0, 25, 64)], ["chain: reinforce~none H^1.00"])
    assert "exponent at the longest horizons is 3 (within 0.1) (garnet_positive: REINFORCE H^2.97" in text
    assert ("where its assumptions hold but the exponent is not 3, H³ is at most reached asymptotically "
            "(chain: exact local exponent 2.20, fitted exponent over all horizons 3.31 [3.22, 3.42])") in text
    assert "relative to ‖∇J‖², which grows with H too, the per-trajectory variance grows like chain: " in text
    assert h3_headline([], [("chain", 2.2, ev)], [], []).startswith("H³: consistent with no problem's studied horizons")
    # relative variance: var / ||grad J||², ||grad J||² = snr · trace_cov; H³ over H² gives H¹
    ex = pd.DataFrame({"env_name": "g", "estimator": "reinforce", "baseline": "none", "horizon": [10, 20],
                       "var_per_traj_exact": [1e3, 8e3], "trace_cov_exact": [1.0, 1.0], "snr_exact": [100.0, 400.0]})
    assert relative_exponent(ex, "g", "", "reinforce", "none", 10, 20) == pytest.approx(1.0, rel=1e-12)
    assert np.isnan(relative_exponent(ex.drop(columns="snr_exact"), "g", "", "reinforce", "none", 10, 20))


def test_a_biased_winner_is_read_as_length_and_direction():
    """The audit's garnet case: bias² mostly along ∇J (k = 2.73) is reported as length, with the direction part
    and the variance at equal mean length beside it; a winner of unbiased length gets no note."""
    from pgexp.report.sections.estimation import length_direction_text, length_note

    r = pd.Series({"length_k": 2.73, "length_k_lo": 2.6, "length_k_hi": 2.9, "rel_length_bias_sq": 2.98,
                   "rel_length_bias_sq_lo": 2.6, "rel_length_bias_sq_hi": 3.4, "rel_direction_bias_sq": 0.012,
                   "rel_direction_bias_sq_lo": 0.005, "rel_direction_bias_sq_hi": 0.02, "angle_deg": 2.3,
                   "var_per_traj_equal_length": 0.54, "var_per_traj_equal_length_lo": 0.5,
                   "var_per_traj_equal_length_hi": 0.6})
    text = length_direction_text(r)
    assert "(k − 1)² = 2.98 [2.6, 3.4] of it is length (the mean is k = 2.73 [2.6, 2.9] times as long" in text
    assert "0.012 [0.005, 0.02] direction (angle 2.3°)" in text
    assert "at equal mean length (ĝ/k) its per-trajectory variance is 0.54 [0.5, 0.6]" in text
    assert "k = 2.73 [2.6, 2.9] times as long along ∇J; at equal mean length" in length_note(r)
    unit = r.copy()
    unit["length_k_lo"] = 0.9
    assert length_note(unit) == "" and length_direction_text(pd.Series({"bias_sq": 1.0})) == ""


def test_the_bias_headline_states_the_tests_false_alarm_rate():
    """The audit's count: 25 flags in 1 710 unbiased cells against 0.171 nominal; the null bootstrap's per-cell rates
    are summed into the number of flags to expect, with its resampling error sqrt(Σ p(1 - p)/B)."""
    from pgexp.report.sections.estimation import false_alarm_text

    n = 1710
    p = np.zeros(n)
    p[:300] = 0.1
    cells = pd.DataFrame({"bias_null_rate": p, "bias_null_resamples": 100})
    flagged = pd.Series([True] * 25 + [False] * (n - 25))
    text = false_alarm_text(cells, flagged)
    assert "the first-stage z-test's rate on these cells: 1.5 % [1.0 %, 2.1 %], Wilson" in text
    assert "0.171 flags expected" in text
    se = np.sqrt(300 * 0.1 * 0.9 / 100)
    assert f"30 ± {fmt(1.96 * se)} flags expected when nothing is biased, in the 1710 cells" in text
    assert "null bootstrap" not in false_alarm_text(cells.drop(columns="bias_null_rate"), flagged)


def test_coverage_intervals_count_clusters_not_cells():
    """10 clusters of 5 cells, two clusters missing entirely: p = 0.8, se² = 10/9 · (8·1² + 2·4²) / 50² (the
    ratio estimator's cluster-robust variance), design effect se² / (0.16 / 50), and the Wilson interval on
    n / deff; cells that are independent (one per cluster) get Wilson's interval up to the factor C / (C - 1)."""
    from pgexp.analysis.coverage import cluster_robust_coverage, coverage_table
    from pgexp.analysis.curves import wilson_interval

    inside = np.repeat([True] * 8 + [False] * 2, 5)
    cluster = np.repeat(np.arange(10), 5)
    r = cluster_robust_coverage(inside, cluster)
    deff = 10 / 9 * 40 / 50**2 / (0.8 * 0.2 / 50)
    assert r["coverage"] == 0.8 and r["clusters"] == 10 and r["design_effect"] == pytest.approx(deff, rel=1e-12)
    m = 50 / deff
    z = 1.959963984540054
    centre = (0.8 + z * z / (2 * m)) / (1 + z * z / m)
    half = z * np.sqrt(0.16 / m + z * z / (4 * m * m)) / (1 + z * z / m)
    assert (r["coverage_lo"], r["coverage_hi"]) == pytest.approx((centre - half, centre + half), rel=1e-12)
    # one cell per cluster: the design effect is the small-sample factor C / (C - 1) only, and the interval
    # Wilson's on 49 cells (same proportion)
    plain = cluster_robust_coverage(inside, np.arange(50))
    _, lo, hi = wilson_interval(40, 50)
    assert plain["design_effect"] == pytest.approx(50 / 49, rel=1e-12)
    assert plain["coverage_lo"] < lo and plain["coverage_hi"] > hi
    assert plain["coverage_lo"] == pytest.approx(lo, rel=0.01)
    assert r["coverage_hi"] - r["coverage_lo"] > 1.5 * (hi - lo)  # clustered: wider
    df = pd.DataFrame({"env_name": "g", "theta_name": "t", "horizon": 10, "batch_size": 4, "seed": cluster,
                       "exact_in_ci": inside})
    t = coverage_table(df, ["batch_size"])
    assert t.loc[0, "clusters"] == 10 and t.loc[0, "design_effect"] == pytest.approx(deff, rel=1e-12)


def test_replicate_sizing_scales_the_width_by_one_over_root_replicates():
    """Median log-scale half-width per batch size; a cell at ±20 % with 400 replicates needs 1600 for ±10 %."""
    from pgexp.analysis.coverage import replicate_sizing

    e = np.exp(1.0)
    df = pd.DataFrame({"batch_size": [4, 4, 4, 16], "replicates": [400, 400, 400, 100],
                       "exact_in_ci": [True, False, True, None],
                       "var_per_traj_lo": [1 / np.exp(0.2), 1 / np.exp(0.1), 1 / np.exp(0.3), 1.0],
                       "var_per_traj_hi": [np.exp(0.2), np.exp(0.1), np.exp(0.3), e]})
    t = replicate_sizing(df, target=0.1)
    assert list(t["batch_size"]) == [4] and t.loc[0, "cells"] == 3  # N = 16 has no exact value: not judged
    assert t.loc[0, "half_width"] == pytest.approx(0.2, rel=1e-12)
    assert t.loc[0, "replicates_needed"] == 1600


def test_coverage_section_states_what_the_cells_are_sized_for(page, tables):
    from pgexp.analysis.coverage import replicate_sizing

    text = _text(page)
    sizing = replicate_sizing(tables["metrics"])
    assert len(sizing)
    assert "the study's numbers are the exact ones and its Monte-Carlo cells are there to check the intervals" in text
    for r in sizing.itertuples():
        assert f"would need about {r.replicates_needed}" in text
