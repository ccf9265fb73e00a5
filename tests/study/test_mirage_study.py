"""The variance study ``tucker2018_mirage``: its config's mistakes are named, the report's verdict follows the tables,
the figures draw from them, and the commands it runs (``pgexp tucker``, ``exact-variance`` of the new pairs,
``--critic``) answer on the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pgexp.errors import UserError
from pgexp.exact import tucker as tk
from pgexp.figures import get_figure
from pgexp.report.tucker2018 import HOLDS_AT, findings, problem_row
from pgexp.study.paper import load_paper_study

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / ".test/config/studies/tucker2018_mirage.yaml").read_text())


def _config(**change):
    study = {**CONFIG["study"], **change}
    return {"study": {k: v for k, v in study.items() if v is not None}}


@pytest.mark.parametrize("change,key", [
    ({"bogus": 1}, "study.bogus"),
    ({"exact_pairs": ["reward_to_go-value_exact"]}, "study.exact_pairs"),
    ({"reference_pair": "reward_to_go~none"}, "study.reference_pair"),
    ({"problems": {"g": {"env": "short_corridor"}}}, "study.problems.g.horizon"),
    ({"problems": {"g": {"env": "short_corridor", "horizon": 4, "colour": 1}}}, "study.problems.g.colour"),
    ({"problems": {"l": {"env": "lqr", "horizon": 4}}, "exact_pairs": ["reward_to_go~q_optimal"],
      "reference_pair": "reward_to_go~q_optimal"}, "study.problems.l.env"),
    ({"replicates": 1}, "study.replicates"),
    ({"lam": 2}, "study.lam"),
])
def test_mistakes_are_named(change, key):
    with pytest.raises(UserError, match=f"config key '{key}'"):
        load_paper_study(_config(**change))


def test_the_full_check_builds_every_problem_and_checks_every_pair():
    with pytest.raises(UserError, match=r"study\.exact_pairs"):
        load_paper_study(_config(exact_pairs=["reward_to_go~value_exact", "reward_to_go~constant"]),
                         schema=ROOT / "workflow/schemas/study.schema.yaml")
    with pytest.raises(UserError, match=r"study.fitted_pairs \(garnet\)"):
        load_paper_study(_config(fitted_pairs=["advantage_exact~q_fitted"]),
                         schema=ROOT / "workflow/schemas/study.schema.yaml")
    with pytest.raises(UserError, match=r"study\.problems\.garnet"):
        load_paper_study(_config(problems={"garnet": {"env": "garnet:states=0", "horizon": 3}}),
                         schema=ROOT / "workflow/schemas/study.schema.yaml")


def test_a_linear_quadratic_problem_leaves_out_the_pairs_it_has_no_engine_for():
    study = load_paper_study(CONFIG)
    lqr = study.problem("lqr")
    assert ("reward_to_go", "q_optimal") in lqr.skipped and ("reward_to_go", "q_optimal") not in lqr.exact_pairs
    assert "q_optimal" in study.tucker_args("garnet") and "q_optimal" not in study.tucker_args("lqr")


# ------------------------------------------------------------------------------------------ synthetic tables

def _tucker(shares: dict[str, tuple[float, float, float]], q_ratio: dict[str, float]) -> pd.DataFrame:
    rows = []
    for env, (tau, act, sta) in shares.items():
        base = {"env_name": env, "horizon": 5, "lam": np.nan, "step": pd.NA}
        total = tau + act + sta
        rows.append({**base, "estimator": "reward_to_go", "baseline": "value_exact", "sigma_tau": tau,
                     "sigma_a": act, "sigma_s": sta, "total": total, "sigma_tau_share": tau / total,
                     "sigma_a_share": act / total, "sigma_s_share": sta / total, "trace_cov": total,
                     "cross_time": 0.0})
        q = total * q_ratio[env]
        rows.append({**base, "estimator": "reward_to_go", "baseline": "q_exact", "sigma_tau": tau, "sigma_a": 0.0,
                     "sigma_s": sta, "total": tau + sta, "sigma_tau_share": tau / (tau + sta), "sigma_a_share": 0.0,
                     "sigma_s_share": sta / (tau + sta), "trace_cov": q, "cross_time": q - tau - sta})
    df = pd.DataFrame(rows)
    df["step"] = df["step"].astype("Int64")
    return df


def test_the_verdict_follows_the_exact_ratio():
    """The claim holds where the exact action-dependent baseline leaves at least HOLDS_AT of the trace."""
    study = load_paper_study(CONFIG)
    tables = {"tucker": _tucker({"garnet": (8.0, 1.0, 1.0), "lqr": (4.0, 5.0, 1.0), "action_chain": (1.0, 9.0, 0.0)},
                                {"garnet": 0.9, "lqr": HOLDS_AT, "action_chain": 0.1})}
    verdicts = {p: problem_row(study, tables, p)["verdict"] for p in ("garnet", "lqr", "action_chain")}
    assert verdicts == {"garnet": "holds", "lqr": "holds", "action_chain": "does not hold"}
    text = " ".join(findings(tables, study))
    assert "Σ_a 10.0%" in text and "holds on 2 of 3 problems" in text and "does not on action_chain" in text


def test_the_figures_draw_from_the_study_tables(tmp_path):
    from pgexp.cli.tucker import run as tucker_run  # noqa: F401  (the command the study runs)

    def build(h):
        from pgexp.problems.problem import build_problem

        return build_problem("garnet:states=4,actions=2,branching=2,seed=0", gamma=0.9, horizon=h,
                             theta="random:seed=0,scale=1")

    df = tk.tucker_table(build, [4], [("reward_to_go", "value_exact"), ("reward_to_go", "none"),
                                      ("reward_to_go", "q_exact"), ("all_action", "q_exact")])
    df.insert(0, "env_name", "garnet")
    terms = get_figure("tucker2018_terms").make({"tucker": df})
    assert len(terms.axes[0].lines) == 4  # three terms and Sigma_a without a baseline (the exact Q's is zero)
    assert len(get_figure("tucker2018_variance").make({"tucker": df}).axes) == 2
    with pytest.raises(UserError, match="tucker_terms"):
        get_figure("tucker2018_terms").make({"tucker": df.drop(columns="sigma_a")})


# ------------------------------------------------------------------------------------------ the command line

def pgexp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgexp", *args], capture_output=True, text=True, timeout=300)


def test_tucker_and_exact_variance_answer_on_the_command_line(tmp_path):
    out = tmp_path / "t.parquet"
    r = pgexp("tucker", "--env", "short_corridor", "--horizon", "5", "--pairs",
              "reward_to_go~value_exact,all_action~q_exact", "--per-step", "--output", str(out))
    assert r.returncode == 0, r.stderr
    df = pd.read_parquet(out)
    assert set(tk.COLUMNS) <= set(df.columns) and (out.with_suffix(".csv")).exists()
    whole = df[df["step"].isna()].set_index("estimator")
    assert whole.loc["all_action", "sigma_a"] == 0 and whole.loc["all_action", "sigma_tau"] == 0
    r = pgexp("exact-variance", "--env", "short_corridor", "--horizon", "5", "--estimator", "all_action",
              "--batch-size", "4")
    assert r.returncode == 0, r.stderr
    js = json.loads(r.stdout)
    assert js["baseline"] == "q_exact" and np.allclose(js["mean"], js["grad"]) and js["batch"][0]["batch_size"] == 4
    r = pgexp("exact-variance", "--env", "lqr", "--horizon", "4", "--estimator", "reward_to_go", "--baseline",
              "q_exact")
    assert r.returncode == 0 and json.loads(r.stdout)["method"] == "recursion", r.stderr


@pytest.mark.parametrize("args,message", [
    (["estimate", "--env", "short_corridor", "--horizon", "4", "--estimator", "reinforce", "--critic", "fitted",
      "--batch-size", "2", "--replicates", "2", "--seed", "0", "--output", "x.parquet"],
     "--critic: only for all_action"),
    (["estimate", "--env", "short_corridor", "--horizon", "4", "--estimator", "all_action", "--baseline",
      "value_exact", "--batch-size", "2", "--replicates", "2", "--seed", "0", "--output", "x.parquet"], "q_exact"),
    (["tucker", "--env", "short_corridor", "--horizon", "4", "--pairs", "reward_to_go~constant", "--output",
      "x.parquet"], "reward_to_go~constant not covered"),
    (["exact-variance", "--env", "lqr", "--horizon", "4", "--estimator", "reward_to_go", "--baseline",
      "q_optimal"], "not covered"),
])
def test_mistakes_on_the_command_line_are_one_line(args, message, tmp_path):
    r = subprocess.run([sys.executable, "-m", "pgexp", *args], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def make_mirage_tables() -> dict[str, pd.DataFrame]:
    """Small tables of the variance study's kinds (for the figure tests): the exact ``tucker_terms`` of a garnet and a
    scalar LQR (per step and whole), and paired ``comparisons`` of its Monte-Carlo arm."""
    from pgexp.problems.problem import build_problem

    frames = []
    for env, spec, gamma, pairs in (
            ("garnet", "garnet:states=4,actions=2,branching=2,seed=0", 0.9,
             [("reward_to_go", "value_exact"), ("reward_to_go", "none"), ("reward_to_go", "q_exact"),
              ("reward_to_go", "q_optimal"), ("gae", "value_exact"), ("all_action", "q_exact")]),
            ("lqr", "lqr", 1.0, [("reward_to_go", "value_exact"), ("reward_to_go", "none"), ("reward_to_go", "q_exact"),
                                  ("gae", "value_exact"), ("all_action", "q_exact")])):
        df = tk.tucker_table(lambda h, spec=spec, gamma=gamma: build_problem(spec, gamma=gamma, horizon=h,
                                                                          theta="random:seed=0,scale=0.5"), [6], pairs)
        df.insert(0, "env_name", env)
        frames.append(df)
    rows = []
    for env in ("garnet", "lqr"):
        for (e, b), r in ((("reward_to_go", "q_fitted"), 1.05), (("all_action", "q_fitted"), 0.6)):
            rows.append({"env_name": env, "estimator_a": e, "baseline_a": b, "estimator_b": "reward_to_go",
                         "baseline_b": "value_learned", "var_ratio": r, "var_ratio_lo": 0.8 * r,
                         "var_ratio_hi": 1.25 * r})
    return {"tucker_terms": pd.concat(frames, ignore_index=True), "comparisons": pd.DataFrame(rows)}
