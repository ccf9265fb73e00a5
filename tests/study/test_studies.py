"""Named paper studies: the configs validate and map to valid commands, mistakes are named, the findings say
what constructed tables show, and each tiny `.test` study runs end to end through Snakemake."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake.utils import validate

from pgexp.cli import build_parser
from pgexp.errors import UserError
from pgexp.report.paper_studies import chung_findings, fig13_1_findings
from pgexp.study.mirage import MirageStudy
from pgexp.study.paper import STUDIES, load_paper_study

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [ROOT / "config" / "studies" / f"{name}.yaml" for name in STUDIES]


@pytest.mark.parametrize("path", CONFIGS + [ROOT / ".test/config/studies" / p.name for p in CONFIGS], ids=str)
def test_study_configs_validate_and_give_valid_commands(path):
    config = yaml.safe_load(path.read_text())
    validate(config, str(ROOT / "workflow/schemas/study.schema.yaml"))
    study = load_paper_study(config)
    parser = build_parser()
    if isinstance(study, MirageStudy):  # a variance study: per problem, pgexp tucker and pgexp estimate
        assert study.name == path.stem
        for name in study.problem_names():
            args = parser.parse_args(["tucker", *shlex.split(study.tucker_args(name)), "--output", "x.parquet"])
            assert args.env == study.problem(name).options["env"] and args.per_step
            args = parser.parse_args(["estimate", *shlex.split(study.estimate_args(name)), "--output", "x.parquet"])
            assert args.pairs[0].split() == [f"{e}~{b}" for e, b in study.fitted_pairs]
            args = parser.parse_args(["metrics", "x.parquet", *shlex.split(study.metrics_args(name)), "--output",
                                      "m.parquet", "--comparisons", "c.parquet"])
            assert args.reference_batch_size == study.batch_size
        return
    assert study.name == path.stem and not set(study.seeds) & set(study.selection_seeds)
    if study.kind == "groups":
        for arm in study.arms:
            args = parser.parse_args(["group-train", *shlex.split(study.group_train_args(arm.name)), "--output",
                                      "x.parquet"])
            assert args.env == study.problem["env"] and len(args.seed.split(",")) == len(arm.seeds)
            assert args.batch_size % args.group_size == 0
        parser.parse_args(["group-curves", "x.parquet", "--curves", "c", "--summary", "s",
                           *shlex.split(study.group_curves_args())])
        args = parser.parse_args(["group-variance", *shlex.split(study.group_variance_args()), "--output", "v"])
        assert args.estimators.split(",") == list(study.group_exact["estimators"])  # type: ignore[index]
        return
    for arm in study.arms:
        args = parser.parse_args(["train", *shlex.split(study.train_args(arm.name)), "--output", "x.parquet"])
        assert args.env == study.problem["env"] and len(args.seed.split(",")) == len(arm.seeds)
    parser.parse_args(["curves", "x.parquet", "--curves", "c", "--summary", "s", *shlex.split(study.curves_args())])
    if study.variance_offsets:
        args = parser.parse_args(["baseline-variance", *shlex.split(study.variance_args()), "--output", "v.parquet"])
        assert [float(x) for x in args.offsets.split(",")] == list(study.variance_offsets)


def _config(**study):
    base = {"name": "sutton_barto_fig13_1", "env": "short_corridor", "seeds": [0, 1],
            "arms": {"a": {"estimator": "reward_to_go", "step_sizes": ["2^-13"], "iterations": 5}}}
    return {"study": {**base, **study}}


@pytest.mark.parametrize("change,key", [
    ({"selection_seeds": [1, 2]}, "study.selection_seeds"),
    ({"arms": {"a": {"estimator": "reinforce", "step_sizes": [0.1], "iterations": 5, "bogus": 1}}},
     "study.arms.a.bogus"),
    ({"arms": {"a": {"estimator": "reinforce", "step_sizes": ["2^x"], "iterations": 5}}}, "study.arms.a.step_sizes"),
    ({"arms": {"a": {"estimator": "reinforce", "iterations": 5}}}, "study.arms.a.step_sizes"),
    ({"name": "nature2030"}, "study.name"),
    ({"theta": "values:1;2;3"}, "study"),
    ({"seeds": {"start": 0}}, "study.seeds"),
])
def test_study_mistakes_are_named(change, key):
    with pytest.raises(UserError, match=f"config key '{key}'"):
        load_paper_study(_config(**change))


def _group_config(arm: dict | None = None, **study):
    base = {"name": "liu2025_length_bias", "env": "tokens:vocab=2,length=4,needs=1;2", "seeds": [0, 1],
            "arms": {"a": {"estimator": "grpo", "group_size": 4, "batch_size": 8, "step_sizes": [0.01],
                           "iterations": 5, **(arm or {})}},
            "group_exact": {"group_sizes": [2], "prompts": 2, "estimators": ["rloo"]}}
    return {"study": {**base, **study}}


@pytest.mark.parametrize("arm,study,key", [
    ({"batch_size": 10}, {}, "study.arms.a.batch_size"),
    ({"step_sizes": [0.1, 0.2]}, {}, "study.arms.a.step_sizes"),
    ({"update": "per-step"}, {}, "study.arms.a.update"),
    ({"optimizer": "npg"}, {}, "study.arms.a.optimizer"),
    ({"estimator": "reward_to_go"}, {}, "study.arms.a"),
    ({"length_norm": 0.5}, {}, "study.arms.a"),
    ({}, {"group_exact": None}, "study.group_exact"),
    ({}, {"reference_arm": "b"}, "study.reference_arm"),
    ({}, {"group_exact": {"group_sizes": [2], "estimators": ["gae"]}}, "study.group_exact.estimators"),
])
def test_group_study_mistakes_are_named(arm, study, key):
    with pytest.raises(UserError, match=f"config key '{key}'"):
        load_paper_study(_group_config(arm, **study))


def test_a_training_study_takes_no_group_keys():
    with pytest.raises(UserError, match=r"config key 'study\.group_exact'"):
        load_paper_study(_config(group_exact={"group_sizes": [2], "estimators": ["rloo"]}))


def test_step_sizes_as_powers_of_two():
    study = load_paper_study(_config())
    assert study.arms[0].step_sizes == (2.0**-13,) and study.arms[0].seeds == (0, 1)


# ------------------------------------------------------------------------------------------ synthetic tables

def make_study_tables() -> dict[str, pd.DataFrame]:
    """Small synthetic tables of the paper studies' kinds (for the figure tests): table name -> DataFrame."""
    its = np.arange(0, 201)
    curves = []
    for arm, etas in (("reinforce", (2.0**-12, 2.0**-13, 2.0**-14)), ("with_baseline", (2.0**-9, 2.0**-11)),
                      ("mean_field", (2.0**-12, 2.0**-13, 2.0**-14)), ("class_optimum", (2.0**-6,))):
        for k, eta in enumerate(etas):
            J = -11.66 - 70 * np.exp(-its / (20.0 * (k + 1)))
            curves.append(pd.DataFrame({"arm": arm, "step_size": eta, "iteration": its, "J": J, "J_lo": J - 1,
                                        "J_hi": J + 1, "return_mean": J - 2, "alive_fraction": 1 - 0.001 * its * k,
                                        "seeds": 10}))
    summary = []
    for arm, etas, book in (("reinforce", (2.0**-14, 2.0**-13, 2.0**-12), 2.0**-13),
                            ("with_baseline", (2.0**-11, 2.0**-9), 2.0**-11)):
        for k, eta in enumerate(etas):
            summary.append(dict(arm=arm, step_size=eta, seeds=10, diverged_seeds=k, reached_threshold=10 - k,
                                final_J=-12.0 - k, final_J_lo=-12.5 - k, final_J_hi=-11.7 - k, selected=eta == book,
                                optimizer="sga", baseline_offset=0.0))
    for opt, base, etas in (("npg", "optimal_exact", (0.03, 0.1)), ("npg", "optimal_npg_exact", (0.03, 0.1)),
                            ("sga", "optimal_exact", (0.5, 1.0))):
        for eta in etas:
            for e, f in ((-1.0, 0.8), (0.0, 0.3), (1.0, 0.05)):
                summary.append(dict(arm=f"{opt}{base}{e}", step_size=eta, seeds=100, diverged_seeds=0, optimizer=opt,
                                    baseline=base, baseline_offset=e, suboptimal_fraction=f,
                                    suboptimal_fraction_lo=f - 0.05, suboptimal_fraction_hi=min(f + 0.05, 1.0),
                                    converged_seeds=int(100 * f) + 10, selected=False))
    variance = pd.DataFrame({"baseline": ["optimal_exact"] * 3 + ["optimal_npg_exact"] * 3,
                             "offset": [-1.0, 0.0, 1.0] * 2, "b_star": 0.6317, "b_npg": 0.979,
                             "grad_trace_cov": [0.22, 0.0013, 0.22, 0.3, 0.02, 0.25],
                             "npg_trace_cov_policy": [217.6, 15.1, 51.5, 120.1, 0.69, 120.1]})
    rows = []
    for opt, eta in (("npg", 0.1), ("sga", 1.0)):
        for e in (-1.0, 1.0):
            for seed in range(3):
                for t in range(0, 101, 10):
                    w = t / 100
                    p0 = (1 - w) * np.array([0.006, 0.118, 0.876]) + w * np.eye(3)[(seed + int(e > 0)) % 3]
                    rows.append(dict(optimizer=opt, baseline_offset=e, step_size=eta, seed=seed, iteration=t,
                                     pi_0_0=p0[0], pi_0_1=p0[1], pi_0_2=p0[2]))
    lengths = []
    for k, arm in enumerate(("grpo", "dr_grpo", "rloo")):
        t = np.arange(0, 101, 5)
        stats = {"p_correct": 0.2 + 0.7 * (1 - np.exp(-t / 40)), "length_correct": 4.5 + (1 - np.exp(-t / 30)),
                 "length_wrong": 2.2 + (0.8 - 0.3 * k) * np.sin(t / 60)}
        frame = pd.DataFrame({"arm": arm, "label": arm.upper(), "estimator": arm, "iteration": t, "seeds": 5})
        for s, v in stats.items():
            frame[s], frame[f"{s}_lo"], frame[f"{s}_hi"], frame[f"{s}_mean_field"] = v, v - 0.05, v + 0.05, v * 0.95
        lengths.append(frame)
    gv = pd.DataFrame([{"label": lab, "estimator": lab, "group_size": G, "prompts": 4, "length_k": k * (1 - 1 / G),
                        "angle_deg": a, "trace_cov": 0.1 / G, "trace_cov_equal_length": 0.1 / G / k ** 2,
                        "d_length_wrong_per_dJ": 2.4 + a / 20}
                       for lab, k, a in (("rloo", 1.0, 0.0), ("grpo", 0.8, 24.0), ("dr_grpo", 0.15, 0.0))
                       for G in (2, 4, 8, 16, 64)])
    ps = np.linspace(0.01, 0.99, 99)
    dw = pd.DataFrame([{"label": "grpo:length_norm=0", "estimator": "grpo", "group_size": G, "p": p,
                        "weight": 1 + (p - 0.5) ** 2 * G / 4} for G in (2, 8, 64) for p in ps])
    return {"study_learning_curves": pd.concat(curves, ignore_index=True),
            "study_training_summary": pd.DataFrame(summary), "baseline_variance": variance,
            "policy_traces": pd.DataFrame(rows), "length_curves": pd.concat(lengths, ignore_index=True),
            "group_variance": gv, "difficulty_weights": dw}


# ------------------------------------------------------------------------------------------ findings

def _summary_rows(opt, eta, counts, baseline="optimal_exact", T=1000):
    """One summary row per offset: ``counts`` maps offset -> (suboptimal, converged) out of 100."""
    return [dict(arm=f"{opt}{e}", optimizer=opt, baseline=baseline, step_size=eta, baseline_offset=float(e), seeds=100,
                 iterations=T, suboptimal_seeds=k, converged_seeds=c, converged_prob=0.99)
            for e, (k, c) in counts.items()]


def test_chung_verdict_follows_the_counts():
    rows = (_summary_rows("npg", 0.1, {-1: (60, 100), 0: (30, 100), 1: (10, 70)})
            + _summary_rows("npg", 0.3, {-1: (50, 100), 1: (45, 100)})
            + _summary_rows("npg", 0.03, {-1: (60, 100), 1: (10, 40)}, "optimal_npg_exact")
            + _summary_rows("sga", 1.0, {-1: (5, 100), 1: (30, 100)}))
    text = chung_findings({"summary": pd.DataFrame(rows)}, load_paper_study(_config()))
    npg = next(s for s in text if s.startswith("Natural policy gradient, baselines b* ± 1: "))
    # at α = 0.1 the difference holds even with b* + 1's 30 uncommitted runs all counted suboptimal (60 vs 40)
    assert "more often at 1 of 2 step sizes, less often at 0, ties at 1, unresolved for censoring at 0" in npg
    assert "partly reproduces" in npg and "about natural PG" in npg and "do not give the NPG update equal" in npg
    # 60 vs 10 + 60 uncommitted: the censored runs could reverse it
    cens = next(s for s in text if s.startswith("Natural policy gradient, baselines b_npg ± 1: "))
    assert "unresolved for censoring at 1" in cens and "does not reproduce" in cens
    line = next(s for s in text if s.startswith("Natural policy gradient, α = 0.03 (T = 1000): b_npg − 1"))
    assert "could reverse the difference" in line
    sga = next(s for s in text if s.startswith("Vanilla policy gradient, baselines b* ± 1: "))
    assert "more often at 0 of 1 step sizes, less often at 1" in sga
    assert "makes no claim for vanilla PG" in sga and "reproduce" not in sga
    line = next(s for s in text if s.startswith("Natural policy gradient, α = 0.1 (T = 1000): b* − 1"))
    assert "b* − 1: 60/100 = 0.60 [0.50, 0.69] committed to a suboptimal arm, 40/100" in line
    assert ("b* + 1: 10/100 = 0.10 [0.055, 0.17] committed to a suboptimal arm, 60/100 = 0.60 [0.50, 0.69] to the "
            "optimal arm, 30/100 = 0.30 [0.22, 0.40] not committed by T") in line


def test_chung_variance_sentence_names_each_update_and_its_equal_pair():
    from pgexp.analysis.one_step import baseline_variance_table
    from pgexp.problems.problem import build_problem

    study = load_paper_study(yaml.safe_load((ROOT / "config/studies/chung2021_committal.yaml").read_text()))
    p = study.problem
    prob = build_problem(p["env"], features=p["features"], theta=p["theta"])
    text = chung_findings({"variance": baseline_variance_table(prob, [-1.0, 0.0, 1.0])}, study)[0]
    assert "b* = 0.6317" in text and "b_npg = 0.9795" in text
    vanilla, npg = text.split("Natural PG, e_a (r − b) / π(a), its policy part: ")
    assert "(equal at b* ± 1)" in vanilla
    assert "217.6 at b* − 1" in npg and "51.47 at b* + 1 (not equal at b* ± 1: 4.2×)" in npg
    assert "(equal at b_npg ± 1)" in npg


def test_fig13_1_findings_quote_the_curves():
    its = np.arange(0, 1001)
    curves = pd.DataFrame({"arm": "reinforce", "step_size": 2.0**-13, "iteration": its, "J": -80 + its * 0.05,
                           "J_lo": -81 + its * 0.05, "J_hi": -79 + its * 0.05, "seeds": 100})
    curves.loc[curves["iteration"] >= 500, "seeds"] = 97
    summary = pd.DataFrame([dict(arm="reinforce", step_size=2.0**-13, seeds=100, diverged_seeds=3, J_star=-3.0)])
    text = fig13_1_findings({"curves": curves, "summary": summary}, load_paper_study(_config()))
    line = next(s for s in text if "2^-13" in s)
    assert "after episode 100: -75.0 [-76.0, -74.0]" in line
    assert "after episode 1000: -30.0 [-31.0, -29.0] (97/100 alive)" in line
    assert "3/100 = 0.030 [" in line


# ------------------------------------------------------------------------------------------ end to end

def copy_workflow(dest: Path) -> Path:
    for item in ("Snakefile", "workflow", "config", ".test", "profiles"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / item)
    return dest


@pytest.mark.slow
@pytest.mark.parametrize("name", STUDIES)
def test_tiny_study_runs_end_to_end(name, tmp_path):
    cwd = copy_workflow(tmp_path)
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", f".test/config/studies/{name}.yaml"]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = cwd / "results" / "studies" / name
    study = load_paper_study(yaml.safe_load((cwd / f".test/config/studies/{name}.yaml").read_text()))
    for fig in study.figures:
        assert (out / "figures" / f"{fig}.pdf").stat().st_size > 1000 and (out / "figures" / f"{fig}.png").exists()
    for table in study.tables:
        assert (out / "tables" / f"{table}.csv").exists()
    if isinstance(study, MirageStudy):
        terms = pd.read_parquet(out / "tables" / "tucker_terms.parquet")
        assert set(terms["env_name"]) == set(study.problem_names())
        assert not ((terms["env_name"] == "lqr") & (terms["baseline"] == "q_optimal")).any()  # no engine there
    else:
        summary = pd.read_parquet(out / "tables" / ("length_summary.parquet" if study.kind == "groups" else
                                                     "training_summary.parquet"))
        assert set(summary["arm"]) == {a.name for a in study.arms}
    html = (out / "report.html").read_text()
    assert "The paper's claim" in html and "What pgexp measured" in html and "data:image/png;base64" in html
    again = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:], "-n"], cwd=cwd, capture_output=True,
                           text=True, timeout=600)
    assert "Nothing to be done" in again.stdout + again.stderr
    imported = {line.rpartition("|")[2].strip() for line in again.stderr.splitlines()
                if line.startswith("import time:")}
    assert not imported & {"scipy", "gymnasium", "torch", "matplotlib", "jsonschema"}  # the problem was built once


@pytest.mark.parametrize("lo,hi,verdict", [(0.1, 0.3, "reproduced"), (-0.3, -0.1, "not reproduced"),
                                           (-0.1, 0.1, "not reproduced")])
def test_liu2025_length_verdict_follows_the_paired_intervals(lo, hi, verdict):
    from pgexp.report.liu2025 import findings

    study = load_paper_study(yaml.safe_load((ROOT / ".test/config/studies/liu2025_length_bias.yaml").read_text()))
    rows = []
    for arm in ("grpo", "grpo_std", "rloo", "dr_grpo"):
        for it in (5, 10, -1):
            row = {"arm": arm, "label": arm, "iteration": it, "seeds": 3, "peak_iteration": 5.0}
            for stat in ("p_correct", "length_correct", "length_wrong"):
                row.update({stat: 2.0, f"{stat}_lo": 1.9, f"{stat}_hi": 2.1})
                if arm != "dr_grpo":
                    mid = (lo + hi) / 2 if stat == "length_wrong" and arm == "grpo" else 0.01
                    row.update({f"{stat}_diff": mid, f"{stat}_diff_lo": lo if stat == "length_wrong" else -0.1,
                                f"{stat}_diff_hi": hi if stat == "length_wrong" else 0.1})
            rows.append(row)
    text = " ".join(findings({"length_summary": pd.DataFrame(rows)}, study))
    assert f"length bias of incorrect responses is {verdict}" in text
    assert f"Verdict on the length bias of incorrect responses: {verdict}" in text


@pytest.mark.parametrize("fall,verdict", [(True, "reproduced only up to update 10"), (False, "reproduced")])
def test_liu2025_growth_verdict_compares_the_end_with_the_peak(fall, verdict):
    from pgexp.report.liu2025 import growth_findings

    study = load_paper_study(yaml.safe_load((ROOT / ".test/config/studies/liu2025_length_bias.yaml").read_text()))
    its = np.arange(0, 21, 5)
    rise = np.array([2.0, 2.3, 2.6, 2.7, 2.8])
    up_down = np.array([2.0, 2.3, 2.6, 2.4, 2.2])                       # peak at update 10, end band below it
    rows = [pd.DataFrame({"arm": a.name, "iteration": its, "length_wrong": up_down if fall else rise})
            for a in study.arms]
    lc = pd.concat(rows).assign(length_wrong_lo=lambda d: d["length_wrong"] - 0.05,
                                length_wrong_hi=lambda d: d["length_wrong"] + 0.05)
    lines, got = growth_findings(lc, study)
    assert got == verdict
    assert f"keep growing with GRPO is {verdict}" in " ".join(lines)
    assert ("every arm's incorrect responses grow first and shrink later" in " ".join(lines)) == fall
    assert growth_findings(None, study) == ([], "")
