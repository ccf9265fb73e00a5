"""The practice audit as a study: the config section, the audit table, the sign-flip search, the commands, the
report sentences and the synthetic tables the figure tests draw."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from conftest import make_problem

from pgexp.audit.signflip import common_mean, confirm, search, wilson
from pgexp.audit.table import audit_table, variant_key
from pgexp.audit.variants import variants
from pgexp.cli import main
from pgexp.errors import UserError
from pgexp.estimators.practice import Practice
from pgexp.exact.moments import trajectory_moments
from pgexp.io import read_frame
from pgexp.report.practice_audit import CHOICE_TITLES, practice_audit_findings
from pgexp.report.registry import ReportContext, load_sections
from pgexp.runs.estimate import run_estimate_grid
from pgexp.study import load_audit
from pgexp.study.audit import check_audit_problems
from pgexp.study.estimation import load_study

AUDIT = {
    "baseline": "value_exact", "batch_sizes": [2, 4], "replicates": 12,
    "environments": {
        "garnet": {"env": "garnet:states=3,actions=2,branching=2,seed=0", "gamma": 0.8, "horizon": 4,
                   "choices": ["common", "normalize"]},
        "corridor": {"env": "short_corridor", "horizon": "inf", "truncate": 4, "choices": ["truncate"]}},
    "normalization": {"problems": {"bandit": {"env": "garnet:states=1,actions=2,branching=1,seed=0", "horizon": 1,
                                              "gamma": 1.0, "batch_sizes": [2, 4]}}},
    "training": {"environments": ["garnet"], "step_sizes": [0.3], "iterations": 5, "seeds": [0]},
}


# ------------------------------------------------------------------------------------------- the section

def test_the_section_maps_choices_to_jobs():
    study = load_audit({"practice_audit": AUDIT})
    check_audit_problems(study)
    keys = {v.key for v in study.variants("garnet")}
    assert keys == {"reward_to_go~value_exact~plain", "gae~value_exact~plain", "reward_to_go_common~value_exact~plain",
                    "gae_common~value_exact~plain", "reward_to_go~value_exact~norm",
                    "reward_to_go_common~value_exact~norm", "gae_common~value_exact~norm"}
    assert {v.key for v in study.variants("corridor")} == {
        "reward_to_go~value_exact~plain", *(f"reward_to_go~value_exact~cut4-{b}" for b in
                                            ("none", "value_exact", "value_learned"))}
    args = study.estimate_args("corridor", 0)  # every variant of the environment in one job, on the same streams
    assert "reward_to_go~value_exact~cut4-value_learned" in args and "reward_to_go~value_exact~plain" in args
    assert "--horizon inf" in args and "--truncate" not in args  # each variant carries its own options
    garnet = study.estimate_args("garnet", 0)
    assert "gae_common~value_exact~norm" in garnet and "--lam 0.95" in garnet
    assert len(study.estimate_files()) == 2
    assert "--theta zeros" in study.train_args("garnet", "reward_to_go_common", "value_exact")
    env_job = study.env_train_args("garnet")  # one job, every estimator of the section
    assert "--theta zeros" in env_job
    assert "--pairs 'reward_to_go~value_exact reward_to_go_common~value_exact'" in env_job
    with pytest.raises(UserError, match="not a job"):
        study.estimate_args("garnet", 7)


@pytest.mark.parametrize("change,match", [
    ({"environments": {"x": {"env": "short_corridor", "horizon": "inf", "choices": ["common"]}}},
     "common needs a finite horizon"),
    ({"environments": {"x": {"env": "short_corridor", "horizon": 5, "truncate": 3, "choices": ["truncate"]}}},
     "give horizon: inf"),
    ({"environments": {"x": {"env": "short_corridor", "horizon": "inf", "choices": ["truncate"]}}},
     "truncate.*positive integer"),
    ({"environments": {"x": {"env": "short_corridor", "horizon": 5, "truncate": 3, "choices": ["common"]}}},
     "only with the truncate choice"),
    ({"environments": {"x": {"env": "short_corridor", "horizon": 5, "choices": ["nope"]}}}, "unknown 'nope'"),
    ({"baseline": "value_learned"}, "allowed: none, value_exact"),
    ({"training": {"environments": ["corridor"], "step_sizes": [0.1]}}, "unknown 'corridor'"),
])
def test_mistakes_in_the_section_are_named(change, match):
    with pytest.raises(UserError, match=match):
        study = load_audit({"practice_audit": {**AUDIT, **change}})
        check_audit_problems(study)


def test_the_common_choice_at_gamma_one_is_refused_when_the_problems_are_built():
    cfg = {**AUDIT, "environments": {"g": {"env": "garnet:states=3,actions=2,branching=2,seed=0", "gamma": 1.0,
                                           "horizon": 4, "choices": ["common"]}}, "training": None}
    with pytest.raises(UserError, match=re.escape("practice_audit.environments.g.gamma")):
        check_audit_problems(load_audit({"practice_audit": cfg}))


def test_environment_keys_run_every_job_with_the_options():
    base = {"estimators": ["reward_to_go", "gae"], "baselines": ["none", "value_exact"], "horizons": ["inf"],
            "batch_sizes": [4], "seeds": [0], "replicates": 10}
    env = {"env": "garnet:states=3,actions=2,branching=2,seed=0", "gamma": 0.9}
    studies = load_study({**base, "truncate": 6, "truncate_bootstrap": "value_exact", "environments": {"g": env}})
    st = studies["g"]
    assert all("--truncate 6 --bootstrap value_exact" in st.estimate_args(j) for j in st.jobs())
    assert st.exact_pairs() == [] and not st.has_lambda_tradeoff()  # the exact curves are of plain estimators
    st = load_study({**base, "horizons": [4], "environments": {"g": {**env, "normalize_advantages": True}}})["g"]
    assert all(st.estimate_args(j).endswith("--normalize-advantages") for j in st.jobs())
    with pytest.raises(UserError, match=re.escape("config key 'environments.g.normalize_advantages': not available "
                                                  "for reinforce~none")):
        load_study({**base, "horizons": [4], "estimators": ["reinforce"],
                    "environments": {"g": {**env, "normalize_advantages": True}}})
    with pytest.raises(UserError, match=re.escape("config key 'environments.g.estimators': actor_critic cannot take")):
        load_study({**base, "estimators": ["actor_critic"], "truncate": 4, "environments": {"g": env}})
    with pytest.raises(UserError, match=re.escape("config key 'environments.g.truncate'")):
        load_study({**base, "horizons": [4], "environments": {"g": {**env, "truncate": 3}}})
    with pytest.raises(UserError, match=re.escape("config key 'environments.g.truncate_bootstrap'")):
        load_study({**base, "environments": {"g": {**env, "truncate_bootstrap": "none"}}})


# ------------------------------------------------------------------------------------------- the table

@pytest.fixture(scope="module")
def audit_frames() -> list[pd.DataFrame]:
    frames = []
    for name, env, gamma, H, T, choices in (
            ("garnet", "garnet:states=3,actions=2,branching=2,seed=0", 0.8, 4, None, ("common", "normalize")),
            ("corridor", "short_corridor", None, "inf", 3, ("truncate",))):
        for v in variants(choices, "value_exact", T):
            t = run_estimate_grid(lambda h, env=env, gamma=gamma: make_problem(env, None, gamma, h), [H], [2, 8],
                                  v.estimator, v.baseline, replicates=60, seed=0, practice=v.practice,
                                  tags={"env_name": name, "theta_name": "t"}, progress=False)
            frames.append(t.to_pandas())
    return frames


def test_the_audit_table(audit_frames):
    df = audit_table(audit_frames, resamples=200)
    assert len(df) == (7 + 4) * 2
    ref = df[df["choice"] == "textbook"]
    assert ref["variance_ratio"].isna().all() and np.allclose(ref["rel_bias_sq_exact"].dropna(), 0, atol=1e-20)
    # the uncut episodic reference has unbounded trajectories: no exact moments (its cut variants have them)
    assert ref[ref["env_name"] == "corridor"]["rel_bias_sq_exact"].isna().all()
    row = df[(df["variant"] == "reward_to_go_common~value_exact~plain") & (df["batch_size"] == 8)].iloc[0]
    prob = make_problem("garnet:states=3,actions=2,branching=2,seed=0", None, 0.8, 4)
    m = trajectory_moments(prob, "reward_to_go_common", "value_exact")
    assert row["rel_bias_sq_exact"] == pytest.approx(float((m.mean - m.grad) @ (m.mean - m.grad) / (m.grad @ m.grad)))
    assert row["trace_cov_exact"] == pytest.approx(m.trace_cov / 8)
    tb = trajectory_moments(prob, "reward_to_go", "value_exact")
    assert row["variance_ratio_exact"] == pytest.approx(m.trace_cov / tb.trace_cov)
    # length and direction: k from the projection on grad J, the orthogonal rest, and the equal-length ratio
    g2 = float(m.grad @ m.grad)
    k = float(m.mean @ m.grad) / g2
    perp = m.mean - k * m.grad
    assert row["length_k_exact"] == pytest.approx(k, rel=1e-12)
    assert row["rel_length_bias_sq_exact"] == pytest.approx((k - 1) ** 2, rel=1e-12)
    assert row["rel_direction_bias_sq_exact"] == pytest.approx(float(perp @ perp) / g2, rel=1e-10)
    assert row["rel_length_bias_sq_exact"] + row["rel_direction_bias_sq_exact"] == pytest.approx(
        row["rel_bias_sq_exact"], rel=1e-10)
    assert row["angle_deg_exact"] == pytest.approx(np.degrees(np.arccos(float(m.mean @ m.grad) / (
        np.linalg.norm(m.mean) * np.sqrt(g2)))), rel=1e-8)
    k_ref = float(tb.mean @ tb.grad) / g2
    assert k_ref == pytest.approx(1.0, rel=1e-10)  # the textbook estimator is unbiased
    assert row["variance_ratio_equal_length_exact"] == pytest.approx(m.trace_cov / k**2 / (tb.trace_cov / k_ref**2))
    for name in ("length_k", "rel_length_bias_sq", "variance_ratio_equal_length"):
        assert row[f"{name}_lo"] <= row[name] <= row[f"{name}_hi"]
    # the Monte-Carlo length is within 3.9 standard errors of the exact one (1e-4 two-sided)
    se_k = np.sqrt(float(m.grad @ m.cov @ m.grad) / (8 * row["replicates"])) / g2
    assert abs(row["length_k"] - k) <= 3.89 * se_k
    assert row["variance_ratio_lo"] <= row["variance_ratio"] <= row["variance_ratio_hi"]
    assert row["cosine_mean_lo"] <= row["cosine_mean"] <= row["cosine_mean_hi"] and row["exact_method"] == "dp"
    norm = df[(df["choice"] == "normalize") & (df["batch_size"] == 2)]
    assert set(norm["exact_method"]) == {"enumeration"}  # 3 states, H = 4: the pairs of trajectories can be listed
    # the effective step sizes: quantiles of <g_i, grad J>/||grad J||² over the replicates, as numpy computes them
    pooled = pd.concat(audit_frames, ignore_index=True)
    for variant in ("reward_to_go~value_exact~norm", "reward_to_go~value_exact~plain"):
        est, _, opt = variant.split("~")
        r = df[(df["env_name"] == "garnet") & (df["variant"] == variant) & (df["batch_size"] == 8)].iloc[0]
        cell = pooled[(pooled["env_name"] == "garnet") & (pooled["estimator"] == est) & (pooled["batch_size"] == 8)
                      & (pooled["normalize_advantages"] == (opt == "norm"))].sort_values(["seed", "replicate"])
        g = np.asarray(cell["grad_exact"].iloc[0])
        k = np.stack(cell["grad"].to_numpy()) @ g / (g @ g)
        want = np.quantile(k, [0.1, 0.5, 0.9], method="inverted_cdf")
        np.testing.assert_allclose([r["step_k_q10"], r["step_k_median"], r["step_k_q90"]], want, rtol=1e-12)
        for name in ("step_k_q10", "step_k_median", "step_k_q90"):
            assert r[f"{name}_lo"] <= r[name] <= r[f"{name}_hi"]
        assert r["length_k"] == pytest.approx(k.mean(), rel=1e-10)
    # normalised (not rescaled): its step size is 1/(s + ε) times the plain one's, its direction about the same
    nr = df[(df["env_name"] == "garnet") & (df["variant"] == "reward_to_go~value_exact~norm")].iloc[0]
    scale = float(nr["normalize_scale"])
    assert 0 < scale < 1 and nr["length_k_exact"] * scale == pytest.approx(1.0, rel=0.3)
    cut = df[df["variant"] == "reward_to_go~value_exact~cut3-value_learned"]
    assert cut["rel_bias_sq_exact"].isna().all() and (cut["exact_method"] == "").all()
    assert (df[df["choice"] == "truncate"]["truncated_mean"] > 0).all()
    assert variant_key({"estimator": "gae", "baseline": "none", "normalize_advantages": True, "truncate": None,
                        "truncate_bootstrap": None}) == "gae~none~norm"


# ------------------------------------------------------------------------------------------- sign flips

def test_the_sign_flip_search_is_exact_and_reproducible():
    rows, worst = search(["tabular", "random:d=2"], [0.3], horizon=10, samples=40, seed=1)
    again, _ = search(["tabular", "random:d=2"], [0.3], horizon=10, samples=40, seed=1)
    assert rows == again and [r["features"] for r in rows] == ["tabular", "random:d=2"]
    for r in rows:
        assert (r["flip_lo"], r["flip_hi"]) == wilson(r["flips"], r["samples"], 0.95)
        assert r["flip_lo"] <= r["flip_fraction"] <= r["flip_hi"]
    from pgexp.audit.signflip import Draw

    d = Draw(worst["env"], worst["features"], worst["theta"], worst["gamma"], worst["horizon"])
    mean, grad = common_mean(d.build())
    assert float(mean @ grad) / (np.linalg.norm(mean) * np.linalg.norm(grad)) == pytest.approx(worst["cosine"])
    assert worst["cosine"] == min(r["cosine_min"] for r in rows)


def test_a_sign_flip_is_confirmed_by_monte_carlo():
    _, worst = search(["random:d=2"], [0.3], horizon=20, samples=100, seed=0)
    assert worst["cosine"] < -0.5  # the search finds one among 100 problems at gamma = 0.3
    c = confirm(worst, batch_size=16, replicates=200)
    assert c["mc_cosine_mean_hi"] < 0 and c["mc_inner_z"] < -5


# ------------------------------------------------------------------------------------------- commands

def test_the_commands_write_tables_of_their_kinds(tmp_path, audit_frames):
    from pgexp.io import write_frame

    paths = []
    for i, f in enumerate(audit_frames[:4]):
        p = tmp_path / f"e{i}.parquet"
        write_frame(f, p, {})
        paths.append(str(p))
    nb = tmp_path / "nb.parquet"
    assert main(["-q", "normalization-bias", "--env", "garnet:states=1,actions=2,branching=1,seed=0", "--horizon", "1",
                 "--theta", "random:seed=0,scale=1", "--batch-size", "2,4,8", "--replicates", "20", "--resamples", "50",
                 "--tag", "problem=bandit", "--output", str(nb)]) == 0
    n = read_frame(nb, "normalization_bias")
    assert list(n["batch_size"]) == [2, 4, 8] and n["enumerated"].all() and np.isfinite(n["rate_slope"]).all()
    assert main(["-q", "practice-audit", *paths, "--resamples", "50", "--normalization", str(nb),
                 "--normalization-output", str(tmp_path / "n2.parquet"), "--output", str(tmp_path / "a.parquet")]) == 0
    assert len(read_frame(tmp_path / "a.parquet", "practice_audit")) > 0
    assert (tmp_path / "n2.csv").is_file() and (tmp_path / "a.csv").is_file()
    assert main(["-q", "sign-flip", "--features", "random:d=2", "--gamma", "0.3", "--horizon", "8", "--samples", "5",
                 "--confirm-replicates", "10", "--output", str(tmp_path / "f.parquet")]) == 0
    f = read_frame(tmp_path / "f.parquet", "sign_flip")
    assert len(f) == 1 and isinstance(f["example_env"].iloc[0], str)


def test_gae_with_a_fixed_baseline_is_normalised_through_both_commands(tmp_path):
    """``fixed:c`` is a normalisable baseline of gae and gae_common (GAE's constant ``V = c``): the exact command and
    ``estimate --normalize-advantages`` both run, and record the same scale."""
    from pgexp.exact.practice import normalization_scale
    from pgexp.problems.problem import build_problem

    env = ["--env", "garnet:states=2,actions=3,branching=1,seed=0", "--horizon", "2"]
    for est in ("gae", "gae_common"):
        nb, est_out = tmp_path / f"nb_{est}.parquet", tmp_path / f"e_{est}.parquet"
        assert main(["-q", "normalization-bias", *env, "--pairs", f"{est}~fixed:c=0.5", "--batch-size", "2,4",
                     "--output", str(nb)]) == 0
        assert main(["-q", "estimate", *env, "--estimator", est, "--baseline", "fixed:c=0.5", "--normalize-advantages",
                     "--batch-size", "4", "--replicates", "3", "--seed", "0", "--output", str(est_out)]) == 0
        scale = normalization_scale(build_problem(env[1], horizon=2), est, "fixed:c=0.5",
                                    Practice(normalize_advantages=True)).factor
        n = read_frame(nb, "normalization_bias")
        assert list(n["batch_size"]) == [2, 4] and np.allclose(n["scale"], scale, rtol=1e-12)
        assert np.allclose(pd.read_parquet(est_out)["normalize_scale"], scale, rtol=1e-12)


@pytest.mark.parametrize("argv,match", [
    (["sign-flip", "--gamma", "1", "--output", "x.parquet"], "differs from reward_to_go only for gamma < 1"),
    (["sign-flip", "--features", "native", "--output", "x.parquet"], "--features: 'native'"),
    (["normalization-bias", "--env", "short_corridor", "--horizon", "3", "--pairs", "reinforce~none",
      "--output", "x.parquet"], "--pairs: 'reinforce~none'"),
    (["practice-audit", "x.parquet", "--normalization-output", "n.parquet", "--output", "a.parquet"],
     "--normalization-output"),
    (["estimate", "--env", "short_corridor", "--horizon", "5", "--estimator", "reward_to_go", "--truncate", "3",
      "--batch-size", "2", "--replicates", "3", "--seed", "0", "--output", "x.parquet"], "discounted and episodic"),
    (["estimate", "--env", "short_corridor", "--estimator", "reward_to_go", "--bootstrap", "value_exact",
      "--batch-size", "2", "--replicates", "3", "--seed", "0", "--output", "x.parquet"], "give --truncate"),
])
def test_command_mistakes_are_one_line(argv, match, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.parquet").write_bytes(b"")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(match, err), err
    assert not (tmp_path / "a.parquet").exists()


# ------------------------------------------------------------------------------------------- report, figure

def make_audit_tables() -> dict[str, pd.DataFrame]:
    """Synthetic audit tables of every kind the figure and the report read (a biased common variant, a
    normalised variant whose bias falls like 1/N, a cut with three bootstraps; a bandit's exact rate)."""
    rows = []
    for n in (4, 16, 64):
        def row(choice, variant, est, reference, bias, var, cos, n=n, **kw):
            ranged = {}
            for k in ("length_k", "rel_length_bias_sq", "rel_direction_bias_sq", "variance_ratio_equal_length"):
                if k in kw:
                    v = kw.pop(k)
                    ranged[k], ranged[f"{k}_lo"], ranged[f"{k}_hi"] = v, v * 0.9, v * 1.1
            steps = kw.pop("steps", (0.9, 1.0, 1.1))
            for k, v in zip(("step_k_q10", "step_k_median", "step_k_q90"), steps):
                ranged[k], ranged[f"{k}_lo"], ranged[f"{k}_hi"] = v, v * 0.95, v * 1.05
            for k, v in (("rel_bias_sq", bias), ("trace_cov", var), ("mse", bias + var), ("rel_mse", bias + var),
                         ("cosine_mean", cos), ("angle_deg", kw.pop("angle", 0.5)),
                         ("variance_ratio", kw.pop("ratio", np.nan)),
                         ("mse_ratio", kw.pop("mratio", np.nan))):
                ranged[k], ranged[f"{k}_lo"], ranged[f"{k}_hi"] = v, v * 0.9, v * 1.1
            return {"env_name": kw.pop("env", "garnet"), "theta_name": "audit", "choice": choice, "variant": variant,
                    "estimator": est, "baseline": "value_exact", "option": variant.split("~")[2],
                    "reference": reference, "batch_size": n, "replicates": 400, "gamma": 0.9, "horizon": 25,
                    "normalize_advantages": "norm" in variant, "truncate": kw.pop("truncate", np.nan),
                    "truncate_bootstrap": kw.pop("boot", None), "bias_sq": bias, "bias_sq_lo": 0.9 * bias,
                    "bias_sq_hi": 1.1 * bias, "bias_share": bias / (bias + var), **ranged,
                    "rel_bias_sq_exact": kw.pop("bias_exact", bias), "cosine_mean_exact": cos,
                    "variance_ratio_exact": ranged["variance_ratio"], "mean_norm_ratio_exact": 1.7,
                    "rel_mse_exact": bias + var, **kw}

        ref = "reward_to_go~value_exact~plain"
        rows += [row("textbook", ref, "reward_to_go", ref, 0.0, 4.0 / n, 1.0),
                 row("common", "reward_to_go_common~value_exact~plain", "reward_to_go_common", ref, 3.0, 16.0 / n,
                     0.999, ratio=4.0, mratio=(3 + 16 / n) / (4 / n), length_k=2.73, rel_length_bias_sq=2.99,
                     rel_direction_bias_sq=0.012, angle_deg=2.3, variance_ratio_equal_length=0.54,
                     length_k_exact=2.73, rel_length_bias_sq_exact=2.99, rel_direction_bias_sq_exact=0.012,
                     angle_deg_exact=2.3, variance_ratio_equal_length_exact=0.54, bias_share_exact=0.9),
                 row("normalize", "reward_to_go~value_exact~norm", "reward_to_go", ref, 21.0, 3.5 / n, 0.995,
                     ratio=30.0, mratio=140.0, bias_exact=np.nan, steps=(3.3, 6.0, 6.5), angle=5.8,
                     variance_ratio_equal_length=0.44),
                 row("textbook", ref, "reward_to_go", ref, 0.0, 3.0 / n, 1.0, env="discounted", horizon=-1)]
        for boot, b in (("none", 0.14), ("value_exact", 0.13), ("value_learned", 0.13)):
            rows.append(row("truncate", f"reward_to_go~value_exact~cut10-{boot}", "reward_to_go", ref, b, 2.0 / n,
                            0.99, ratio=0.65, mratio=0.8, env="discounted", truncate=10, boot=boot))
    audit = pd.DataFrame(rows)
    audit.loc[audit["env_name"] == "discounted", "horizon"] = -1
    sizes = [2, 4, 8, 16, 32, 64]
    norm = pd.DataFrame({"problem": "bandit", "env": "garnet:actions=3", "gamma": 1.0, "horizon": 1,
                         "estimator": "reward_to_go", "baseline": "value_exact", "batch_size": sizes, "scale": 0.5,
                         "enumerated": True, "cosine_mean_exact": [1 - 0.01 / n for n in sizes],
                         "cosine_limit_exact": 1.0, "length_ratio_exact": [1 + 0.3 / n for n in sizes],
                         "rel_bias_norm_exact": [np.sqrt(1.3) / n for n in sizes],
                         "length_k_exact": [2 * (1 + 0.3 / n) for n in sizes], "length_k_limit_exact": 2.0,
                         "rel_bias_sq_exact": [1.3 / n**2 for n in sizes], "rate_slope": -1.0, "rate_slope_se": 0.003,
                         "rate_n_min": 8, "rate_n_max": 64, "replicates": 400,
                         "rel_bias_sq": [1.3 / n**2 for n in sizes], "rel_bias_sq_lo": [1.0 / n**2 for n in sizes],
                         "rel_bias_sq_hi": [1.6 / n**2 for n in sizes]})
    flips = pd.DataFrame([{"features": f, "gamma": g, "horizon": 20, "samples": 200, "flips": k,
                           "flip_fraction": k / 200, "flip_lo": max(0.0, k / 200 - 0.02), "flip_hi": k / 200 + 0.03,
                           "cosine_min": -0.9 if k else 0.5, "cosine_median": 0.99,
                           "example_env": "garnet:actions=2,branching=2,seed=1,states=6",
                           "example_features": "random:d=2,seed=3", "example_theta": "random:seed=4,scale=1",
                           "example_gamma": 0.3, "example_horizon": 20, "example_cosine": -0.98, "example_inner": -0.02,
                           "example_grad_norm": 0.013, "example_mean_norm": 1.5, "mc_cosine_mean": -0.98,
                           "mc_cosine_mean_lo": -0.99, "mc_cosine_mean_hi": -0.97, "mc_inner_z": -42.0,
                           "mc_replicates": 400, "mc_batch_size": 16}
                          for f, k in (("tabular", 0), ("random:d=2", 7)) for g in (0.3, 0.9)])
    summary = pd.DataFrame([{"env_name": "garnet", "estimator": e, "baseline": "value_exact", "step_size": 1.0,
                             "seeds": 5, "diverged_seeds": 0, "final_progress": p, "final_progress_lo": p - 0.01,
                             "final_progress_hi": p + 0.01, "final_J_ratio": p, "final_J_ratio_lo": p - 0.01,
                             "final_J_ratio_hi": p + 0.01, "reached_threshold": 5, "threshold": 0.9,
                             "steps_to_threshold": s, "steps_to_threshold_lo": s * 0.9,
                             "steps_to_threshold_hi": s * 1.1, "selected": True}
                            for e, p, s in (("reward_to_go", 0.99, 20000.0), ("reward_to_go_common", 0.97, 24000.0))])
    return {"practice_audit": audit, "practice_audit_normalization": norm, "practice_audit_sign_flip": flips,
            "practice_audit_training": summary}


def test_the_report_section_speaks_in_numbers_with_intervals():
    grouped = practice_audit_findings(make_audit_tables())
    text = "\n".join(s for sentences in grouped.values() for s in sentences)
    assert "reward_to_go_common~value_exact against reward_to_go" in text
    assert "its bias² is 3 [2.7, 3.3] (exact 3) times ‖∇J‖²: (k − 1)² = 2.99 [2.69, 3.29] (exact 2.99) is " \
           "length" in text
    assert "k = 2.73 [2.46, 3] (exact 2.73) times as long along ∇J" in text
    assert "0.012 [0.0108, 0.0132] (exact 0.012) is direction (the mean is 2.3° (exact 2.3) off ∇J)" in text
    assert "(0.54 [0.486, 0.594] (exact 0.54) times at equal mean length" in text
    assert "the bias dominates the MSE, but as length" in text and "the bias dominates the MSE" in text
    assert "7 of 200 (3.5%, Wilson [1.5%, 6.5%])" in text and "0 of 200 (0%" in text
    assert "cosine of the mean -0.98 [-0.99, -0.97]" in text
    assert "shrinks like N^-1 (least squares over N = 8–64" in text
    # normalised advantages: direction and step size beside the unnormalised estimator's, no bias² against ∇J
    norm = next(t for t in text.split("\n") if "with normalised advantages" in t)
    assert "standardised per batch as PPO code does" in norm and "bias²" not in norm and "MSE" not in norm
    assert "at N = 64 the cosine of its mean with ∇J is 0.995 [0.8955, 1.095] (exact 0.995) (angle 5.8 [5.2, 6.4]°)" \
        " against the unnormalised 1 [0.9, 1.1] (exact 1)" in norm
    assert "effective step size k = ⟨ĝ, ∇J⟩/‖∇J‖² over batches has median 6 [5.7, 6.3], 10–90 % 3.3–6.5 " \
        "([3.13, 3.46] and [6.17, 6.83]), the unnormalised estimator's median 1 [0.95, 1.05], 10–90 % 0.9–1.1" in norm
    assert "at equal mean length (ĝ/k) its variance is 0.44 [0.396, 0.484] times the textbook estimator's" in norm
    # the exact table: direction, length relative to the limit (ratios of norms), never a norm beside a squared ratio
    exact = next(t for t in text.split("\n") if "by enumerating batches" in t)
    assert "the cosine of its mean with ∇J is 0.995 at N = 2 and 0.9998 at N = 64 (the N → ∞ limit E g/(s + ε): " \
        "1)" in exact
    assert "along the limit its mean is 1.15 and 1 times as long, and ‖E ĝ − limit‖/‖limit‖ = 0.57 and 0.0178" in exact
    assert "step size along ∇J is k = 2.3 and 2.01 (the limit's 2)" in exact
    assert "Monte Carlo at N = 2 (400 replicates): ‖E ĝ − limit‖²/‖limit‖² = 0.325 [0.25, 0.4] (exact 0.325)" in exact
    assert "‖bias‖ =" not in text
    assert "cut at T = 10 (bootstrap value_exact)" in text
    assert "reward_to_go_common (step size 1) ends at J/J* = 0.97 [0.96, 0.98]" in text
    assert list(grouped) == list(CHOICE_TITLES)
    assert practice_audit_findings({}) == {}
    # the registered section places every sentence under its choice's title, with the audit table
    out = load_sections()["practice_audit"].build(ReportContext(tables=make_audit_tables()))
    assert out is not None and sorted(f.text for f in out.findings) == sorted(text.split("\n"))
    for title in ("Dropping γ^h", "Normalising advantages per batch", "Cutting episodes at a time limit"):
        assert any(f.group.startswith(title) for f in out.findings)
    assert "t1-practice_audit" in out.html


def test_the_figure_draws_the_audit():
    from pgexp.figures import FIGURES

    t = make_audit_tables()
    fig = FIGURES["practice_audit"].make({"audit": t["practice_audit"],
                                          "normalization": t["practice_audit_normalization"]})
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert {"no γʰ: garnet", "normalised adv.: garnet", "truncated: discounted",
            "normalisation bias (exact)"} <= set(titles)
    empty = FIGURES["practice_audit"].make({"audit": t["practice_audit"].iloc[0:0]})
    assert "no data" in "".join(x.get_text() for x in empty.findobj(lambda a: hasattr(a, "get_text")))


def test_practice_options_are_visible_in_the_estimate_table():
    prob = make_problem("garnet:states=3,actions=2,branching=2,seed=0", None, 0.8, 3)
    t = run_estimate_grid(lambda h: prob, [3], [2], "reward_to_go", "value_exact", replicates=3, seed=0,
                          practice=Practice(normalize_advantages=True), progress=False)
    assert t.column("normalize_advantages")[0].as_py() is True and t.column("normalize_scale")[0].as_py() > 0
