"""Outputs anyone can read: help with an example for every command, umask permissions on every file,
progress bars on a terminal only (never in logs; off with --quiet), `pgexp envs` and `pgexp estimators`."""

from __future__ import annotations

import argparse
import fcntl
import importlib
import os
import pty
import re
import select
import shlex
import stat
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest

from pgexp import io
from pgexp.cli import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


# ------------------------------------------------------------------------------------------- help


def subparsers() -> dict[str, argparse.ArgumentParser]:
    return build_parser().commands


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_has_description_option_help_and_example(name):
    p = subparsers()[name]
    assert p.description and len(p.description) > 20, "a description"
    for action in p._actions:
        if not isinstance(action, argparse._HelpAction):
            assert action.help and action.help != argparse.SUPPRESS, f"{name}: option {action.dest} has no help"
    example = importlib.import_module(COMMANDS[name]).EXAMPLE
    text = p.format_help()
    assert "example:" in text and example.splitlines()[0] in text
    # the example is a valid command line of this command
    argv = shlex.split(example.replace("\\\n", " "), comments=True)
    assert argv[:2] == ["pgexp", name]
    args = build_parser().parse_args(argv[1:])
    assert args.command == name


def test_top_level_help_lists_every_command():
    text = build_parser().format_help()
    for name in COMMANDS:
        assert name in text


# ------------------------------------------------------------------------------------ permissions


def modes(d: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in d.iterdir() if p.is_file()}


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_every_file_gets_the_umasks_permissions(umask, mode, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = os.umask(umask)
    try:
        est = [
            "-q",
            "estimate",
            "--env",
            "short_corridor",
            "--estimator",
            "reinforce",
            "--batch-size",
            "2",
            "--replicates",
            "3",
            "--seed",
            "0",
            "--horizon",
            "3,5",
        ]
        assert main([*est, "--output", "est.parquet"]) == 0
        assert main(["metrics", "est.parquet", "--resamples", "20", "--csv", "--output", "m.parquet"]) == 0
        assert (
            main(
                [
                    "-q",
                    "train",
                    "--env",
                    "short_corridor",
                    "--horizon",
                    "5",
                    "--estimator",
                    "exact",
                    "--batch-size",
                    "1",
                    "--step-size",
                    "0.1",
                    "--iterations",
                    "2",
                    "--seed",
                    "0",
                    "--checkpoints",
                    "0,2",
                    "--output",
                    "path.parquet",
                ]
            )
            == 0
        )
        assert main(["exact", "--env", "short_corridor", "--output", "exact.json"]) == 0
        assert main(["exact-curves", "--env", "short_corridor", "--horizon", "3", "--output", "x.parquet"]) == 0
        io.save_npy(tmp_path / "a.npy", np.zeros(2))
        io.atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    got = modes(tmp_path)
    assert {
        "est.parquet",
        "m.parquet",
        "m.csv",
        "path.parquet",
        "path.theta0.npy",
        "path.theta2.npy",
        "exact.json",
        "x.parquet",
        "x.csv",
        "a.npy",
        "a.txt",
    } == set(got)
    assert all(m == mode for m in got.values()), {k: oct(v) for k, v in got.items()}


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), io.atomic_path(tmp_path / "x.parquet") as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------- progress

ESTIMATE = [
    "estimate",
    "--env",
    "short_corridor",
    "--estimator",
    "reinforce",
    "--batch-size",
    "2",
    "--replicates",
    "400",
    "--seed",
    "0",
    "--horizon",
    "5,10",
    "--output",
    "o.parquet",
]


def run_in_terminal(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``python -m pgexp argv`` with stderr on a pseudo-terminal; returns (status, what the terminal showed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a real terminal has a width
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgexp", *argv],
        cwd=cwd,
        env=ENV,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=600), b"".join(chunks).decode(errors="replace")


def test_estimate_shows_progress_on_a_terminal(tmp_path):
    rc, shown = run_in_terminal(ESTIMATE, tmp_path)
    assert rc == 0
    # one bar over every replicate of every cell (800), moving before the end: not "0/1 cells" until done
    assert "/800" in shown and "replicate" in shown
    counts = [int(x) for x in re.findall(r"(\d+)/800", shown)]
    assert any(0 < c < 800 for c in counts), counts


def test_quiet_turns_progress_off(tmp_path):
    rc, shown = run_in_terminal(["--quiet", *ESTIMATE], tmp_path)
    assert rc == 0 and "/800" not in shown and "computed in" in shown
    rc, shown = run_in_terminal([*ESTIMATE, "--quiet"], tmp_path)
    assert rc == 0 and "/800" not in shown


def test_logs_stay_quiet(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pgexp", *ESTIMATE], cwd=tmp_path, env=ENV, capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert proc.stderr.strip().splitlines() == [x for x in proc.stderr.strip().splitlines() if "computed in" in x]


def test_train_shows_progress_per_iteration(tmp_path):
    rc, shown = run_in_terminal(
        [
            "train",
            "--env",
            "short_corridor",
            "--horizon",
            "10",
            "--estimator",
            "reinforce",
            "--batch-size",
            "8",
            "--step-size",
            "0.1,0.2",
            "--iterations",
            "300",
            "--seed",
            "0",
            "--output",
            "t.parquet",
        ],
        tmp_path,
    )
    assert rc == 0 and "/602" in shown and "iteration" in shown


@pytest.mark.parametrize("method,label", [("dp", "second moments (DP)"), ("enumeration", "enumerating trajectories")])
def test_exact_variance_shows_progress(method, label, tmp_path):
    rc, shown = run_in_terminal(
        [
            "exact-variance",
            "--env",
            "short_corridor",
            "--horizon",
            "12",
            "--estimator",
            "reinforce",
            "--method",
            method,
        ],
        tmp_path,
    )
    assert rc == 0 and label in shown and "/12" in shown


@pytest.mark.slow  # an end-to-end run (seconds): in CI, not in the quick selection
def test_continuous_state_estimate_shows_progress(tmp_path):
    """The reference and the replicates of a CartPole job, per episode (it used to be silent for minutes)."""
    rc, shown = run_in_terminal(
        [
            "estimate",
            "--env",
            "gym:CartPole-v1",
            "--policy",
            "mlp:hidden=4,seed=0",
            "--estimator",
            "reinforce",
            "--batch-size",
            "2",
            "--replicates",
            "3",
            "--reference-batch",
            "20",
            "--horizon",
            "10",
            "--threads",
            "1",
            "--seed",
            "0",
            "--output",
            "cp.parquet",
        ],
        tmp_path,
    )
    assert rc == 0 and "/26" in shown and "episode" in shown  # 20 reference + 3 x 2 episodes


# ---------------------------------------------------------------------------------- envs, estimators


def test_envs_lists_the_gymnasium_tasks_each_family_accepts(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    tabular, continuous = out.split("continuous states")
    for task in ("FrozenLake-v1", "CliffWalking-v1", "Taxi-v4"):
        assert task in tabular and task not in continuous
    for task in ("CartPole-v1", "Acrobot-v1"):
        assert task in continuous
    assert "Blackjack" not in out  # no transition table, no Box observation: neither family
    for name in ("garnet", "chain", "short_corridor", "gym", "file"):
        assert f"  {name} " in out


def test_estimators_lists_exactly_the_meaningful_pairs(capsys):
    from pgexp.estimators import BASELINES, ESTIMATORS

    assert main(["estimators"]) == 0
    out = capsys.readouterr().out
    listed = set()
    for line in out.splitlines():
        first = line.split()[0] if line.split() else ""
        if "~" in first:
            listed.add(tuple(first.split("~")))
    meaningful = {(e, b) for e, est in ESTIMATORS.items() for b in BASELINES if b in est.baselines}
    assert listed == meaningful
