"""The CLI contract: `pgexp exact` fields, help texts, `python -m pgexp`, benchmarks print one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from pgexp import exact
from pgexp.cli import main
from pgexp.problems.problem import build_problem

REQUIRED = {"J", "grad", "J_star", "V", "Q", "pi", "d", "num_states", "num_actions", "dim"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgexp", *args], capture_output=True, text=True)


def test_exact_prints_the_contract_fields():
    proc = run_cli("exact", "--env", "short_corridor", "--theta", "random:seed=0,scale=0.5")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert REQUIRED <= set(out)
    assert out["num_states"] == 4 and out["num_actions"] == 2 and out["dim"] == 2 and len(out["grad"]) == 2
    prob = build_problem("short_corridor", theta="random:seed=0,scale=0.5")
    J, grad, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
    assert out["J"] == J and out["grad"] == grad.tolist()  # JSON floats round-trip exactly
    assert out["J_star"] == -3.0 and out["horizon"] is None and out["objective"] == "episodic"
    assert np.asarray(out["pi"]).shape == (4, 2) and np.asarray(out["Q"]).shape == (4, 2)


def test_exact_overrides_and_output_file(tmp_path):
    path = tmp_path / "sub" / "out.json"
    path.parent.mkdir()  # a missing directory is refused (tests/cli/test_bad_inputs.py)
    rc = main(["exact", "--env", "garnet:states=5,actions=2,branching=2,seed=0", "--gamma", "0.5",
               "--horizon", "4", "--theta", "zeros", "--features", "random:d=3,seed=1", "--output", str(path),
               "--full"])
    assert rc == 0
    out = json.loads(path.read_text())
    assert out["gamma"] == 0.5 and out["horizon"] == 4 and out["objective"] == "finite" and out["dim"] == 3
    assert np.asarray(out["V_steps"]).shape == (5, 5) and np.asarray(out["Q_steps"]).shape == (4, 5, 2)
    assert not list(path.parent.glob(".*.tmp"))  # atomic write left no temp file


def test_theta_from_npy(tmp_path):
    theta = np.array([0.3, -0.2])
    np.save(tmp_path / "theta.npy", theta)
    out = json.loads(run_cli("exact", "--env", "short_corridor", "--theta", str(tmp_path / "theta.npy")).stdout)
    assert out["theta"] == theta.tolist()


@pytest.mark.parametrize("args,match", [
    (["exact", "--env", "short_corridor", "--horizon", "-1"], "--horizon"),
    (["exact", "--env", "short_corridor", "--gamma", "1.5"], "--gamma"),
    (["exact", "--env", "chain", "--gamma", "1", "--horizon", "inf"], "no absorbing"),
    (["exact", "--env", "short_corridor", "--theta", "random:seed=0,size=3"], "unknown key"),
])
def test_user_errors_exit_2_with_one_line(args, match):
    proc = run_cli(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and match in proc.stderr


@pytest.mark.parametrize("args", [["--help"], ["exact", "--help"], ["bench", "--help"], ["envs"]])
def test_help_is_complete(args):
    proc = run_cli(*args)
    assert proc.returncode == 0 and proc.stdout.strip()
    if args == ["exact", "--help"]:
        for opt in ("--env", "--features", "--theta", "--gamma", "--horizon", "--output"):
            assert opt in proc.stdout


def test_console_script_is_installed():
    proc = subprocess.run(["pgexp", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("pgexp ")


def test_bench_exact_prints_one_json_line():
    proc = run_cli("bench", "exact", "--states", "100", "--repeats", "1")
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and len(lines) == 1
    out = json.loads(lines[0])
    assert out["states"] == 100 and out["seconds"] > 0 and "garnet" in out["problem"]
    assert out["build_seconds"] > 0 and out["cpu_seconds"] >= 0 and out["warmup_seconds"] > 0
    # a high-water mark of the whole process: at least the interpreter with numpy, never below the build's
    assert out["peak_rss_mb"] >= out["peak_rss_build_mb"] > 20


# ------------------------------------------------------------------------- estimate / metrics

ESTIMATE = ["estimate", "--env", "garnet:states=5,actions=2,branching=2,seed=0", "--gamma", "0.9", "--horizon", "10",
            "--batch-size", "4", "--replicates", "6", "--seed", "2"]


def test_estimate_writes_one_row_per_replicate_with_provenance(tmp_path):
    import pyarrow.parquet as pq

    from pgexp.io import read_meta

    out = tmp_path / "est.parquet"
    proc = run_cli(*ESTIMATE, "--estimator", "reward_to_go", "--baseline", "value_exact", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    t = pq.read_table(out)
    assert t.num_rows == 6 and t.column("replicate").to_pylist() == list(range(6))
    for col in ("env", "estimator", "baseline", "batch_size", "seed", "horizon", "gamma", "grad", "env_steps",
                "batch_return_mean", "J_exact", "grad_exact", "J_star"):
        assert col in t.column_names
    assert all(len(g) == 10 for g in t.column("grad").to_pylist())
    meta = read_meta(out)
    assert meta["pgexp_version"] and "numpy" in meta["libraries"]
    assert meta["seed"] == 2 and "estimate" in meta["command"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_same_command_twice_gives_identical_data(tmp_path):
    import pyarrow.parquet as pq

    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    for path in (a, b):
        proc = run_cli(*ESTIMATE, "--estimator", "gae", "--baseline", "value_learned", "--output", str(path))
        assert proc.returncode == 0
    assert pq.read_table(a).equals(pq.read_table(b))


@pytest.mark.slow  # an end-to-end run (seconds): in CI, not in the quick selection
def test_metrics_one_row_per_file(tmp_path):
    import pandas as pd

    files = []
    for est in ("reinforce", "reward_to_go"):
        path = tmp_path / f"{est}.parquet"
        assert run_cli(*ESTIMATE, "--estimator", est, "--output", str(path)).returncode == 0
        files.append(str(path))
    out = tmp_path / "m.parquet"
    proc = run_cli("metrics", *files, "--output", str(out), "--resamples", "200")
    assert proc.returncode == 0, proc.stderr
    df = pd.read_parquet(out)
    assert list(df["estimator"]) == ["reinforce", "reward_to_go"] and len(df) == 2
    for name in ("bias_sq", "trace_cov", "mse", "rel_mse", "cosine", "snr"):
        assert {name, f"{name}_lo", f"{name}_hi"} <= set(df.columns)
    # the Q-based estimator is never noisier than REINFORCE on the same trajectories here
    assert df.loc[1, "trace_cov"] < df.loc[0, "trace_cov"]


def test_metrics_exact_joins_the_exact_values_as_aggregate_does(tmp_path):
    """``pgexp metrics --exact`` (the held-out coverage jobs: one table, no aggregate) joins the exact curves like
    ``pgexp aggregate --exact``: the same ``var_per_traj_exact`` and ``exact_in_ci``, bit for bit."""
    import pandas as pd

    problem = ESTIMATE[1:5]
    est, exact = tmp_path / "est.parquet", tmp_path / "exact.parquet"
    pairs = ["--pairs", "reinforce~none", "reward_to_go~value_exact", "reward_to_go~value_learned"]
    tags = ["--tag", "env_name=garnet", "--tag", "theta_name=init"]  # what the join matches on (the workflow's)
    args = [a for a in ESTIMATE if a not in ("--replicates", "6")] + ["--replicates", "20"]
    assert main([*args, *pairs, *tags, "--output", str(est)]) == 0
    assert main(["exact-curves", *problem, "--horizon", "10", "--batch-size", "4",
                 "--pairs", "reinforce~none,reward_to_go~value_exact", *tags, "--output", str(exact)]) == 0
    joined = tmp_path / "joined.parquet"
    assert main(["metrics", str(est), "--exact", str(exact), "--resamples", "200", "--output", str(joined)]) == 0
    plain = tmp_path / "m.parquet"
    assert main(["metrics", str(est), "--resamples", "200", "--output", str(plain)]) == 0
    assert main(["aggregate", "--metrics", str(plain), "--exact", str(exact), "--outdir", str(tmp_path)]) == 0
    a, b = pd.read_parquet(joined), pd.read_parquet(tmp_path / "metrics.parquet")
    pd.testing.assert_frame_equal(a, b[a.columns], check_exact=True)
    assert a["exact_in_ci"].notna().tolist() == [True, True, False]  # value_learned: no exact value to judge



def test_metrics_no_bias_rerun_turns_off_the_confirmation(tmp_path, monkeypatch):
    """``--no-bias-rerun`` (the held-out coverage jobs) reaches the metrics as ``confirm=False``; without it, flagged
    cells are confirmed as ever."""
    import pgexp.analysis.metrics as metrics

    est = tmp_path / "est.parquet"
    assert main([*ESTIMATE, "--estimator", "reinforce", "--output", str(est)]) == 0
    seen = []
    real = metrics.metrics_frame
    monkeypatch.setattr(metrics, "metrics_frame", lambda *a, **kw: seen.append(kw["confirm"]) or real(*a, **kw))
    for extra in ([], ["--no-bias-rerun"]):
        assert main(["metrics", str(est), "--resamples", "200", *extra, "--output", str(tmp_path / "m.parquet")]) == 0
    assert seen == [True, False]


@pytest.mark.parametrize("extra,match", [
    (["--estimator", "advantage_exact", "--baseline", "constant"], "not meaningful"),
    (["--estimator", "rollin_rollout", "--gamma", "1", "--horizon", "inf", "--env", "short_corridor"],
     "finite and discounted"),
    (["--estimator", "reinforce", "--baseline", "constant", "--batch-size", "1"], "batch-size >= 2"),
])
def test_estimate_refuses_meaningless_jobs(tmp_path, extra, match):
    args = [a for a in ESTIMATE]
    if "--batch-size" in extra:
        i = args.index("--batch-size")
        del args[i:i + 2]
    proc = run_cli(*args, *extra, "--output", str(tmp_path / "x.parquet"))
    assert proc.returncode == 2 and match in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_bench_sampler_prints_one_json_line():
    """pgexp's rate beside the rivals' at every batch size (a figure, not a timed test: only its form is checked)."""
    proc = run_cli("bench", "sampler", "--repeats", "1")
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and len(lines) == 1
    out = json.loads(lines[0])
    assert [r["batch_size"] for r in out["rows"]] == [10, 100, 1000, 10000]
    assert all(r[f"{k}_steps_per_second"] > 0 for r in out["rows"] for k in ("pgexp", "naive_numba", "numpy"))
    assert "garnet:states=1000" in out["problem"] and out["min_ratio_numpy"] > 0


def test_curves_writes_the_performance_profiles_of_the_reported_runs(tmp_path):
    """``pgexp curves --profiles``: the table of :func:`pgexp.analysis.profiles.performance_profiles` on the
    reported seeds at the selected step sizes, with its CSV beside it."""
    import pandas as pd

    from pgexp.analysis.curves import run_summary
    from pgexp.analysis.profiles import TAUS, performance_profiles, selected_scores

    train = tmp_path / "train.parquet"
    assert main(["-q", "train", "--env", "short_corridor", "--horizon", "5",
                 "--pairs", "reinforce~none", "reward_to_go~none", "--batch-size", "2", "--step-size", "0.1,0.3",
                 "--iterations", "6", "--seed", "0,1,2,3",
                 "--output", str(train)]) == 0
    out = {k: str(tmp_path / f"{k}.parquet") for k in ("c", "s", "p")}
    assert main(["curves", str(train), "--resamples", "50", "--curves", out["c"], "--summary", out["s"],
                 "--profiles", out["p"]]) == 0
    got = pd.read_parquet(out["p"])
    runs, summary = pd.read_parquet(train), pd.read_parquet(out["s"])
    want = performance_profiles(selected_scores(run_summary(runs), summary, (2, 3)), n_resamples=50)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want, check_dtype=False)
    assert len(got) == 2 * TAUS.size and set(got["runs"]) == {2} and (tmp_path / "p.csv").is_file()
