"""The CLI contract: `pgexp exact` fields, help texts, `python -m pgexp`, benchmarks print one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from pgexp import exact
from pgexp.cli import main
from pgexp.problem import build_problem

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
    rc = main(["exact", "--env", "garnet:states=5,actions=2,branching=2,seed=0", "--gamma", "0.5",
               "--horizon", "4", "--theta", "zeros", "--features", "random:d=3,seed=1", "--output", str(path), "--full"])
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
