"""Every bad input gets one clear answer: non-zero exit, one line naming the option / key / file and what is
allowed, no traceback, nothing written.

CLI cases run in-process (``pgexp.cli.main``) from an empty working directory, so "nothing written" is
that directory staying empty (no output, no temp file) and the inputs staying as they were.  Config
cases go through the workflow's own loader (:func:`pgexp.study.load_config`: schema, sections, every
spec built), plus two real ``snakemake -n`` runs for the path a user sees.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pgexp import memory
from pgexp.cli import main
from pgexp.errors import UserError
from pgexp.study import SCHEMA, load_config

ROOT = Path(__file__).resolve().parents[2]
TEST_CONFIG = ROOT / ".test" / "config" / "config.yaml"

CORRIDOR = ["--env", "short_corridor"]
EST = ["estimate", *CORRIDOR, "--estimator", "reinforce", "--batch-size", "2", "--replicates", "3", "--seed", "0"]
TRAIN = [
    "train",
    *CORRIDOR,
    "--horizon",
    "5",
    "--estimator",
    "reinforce",
    "--batch-size",
    "2",
    "--step-size",
    "0.1",
    "--iterations",
    "5",
    "--seed",
    "0",
]

# a paper study's section (pgexp study-report --study-json), braces doubled for str.format
STUDY_JSON = ('{{"name": "sutton_barto_fig13_1", "env": "short_corridor", "seeds": [0, 1], "arms": {{"a": '
              '{{"estimator": "reinforce", "step_sizes": [0.1], "iterations": 5}}}}}}')


def unwritable_directory(base: Path) -> Path | None:
    """A directory this process may not write: a 0500 directory, or (as root, which ignores modes) /proc/sys."""
    d = base / "readonly"
    d.mkdir()
    d.chmod(0o500)
    if not os.access(d, os.W_OK):
        return d
    return Path("/proc/sys") if Path("/proc/sys").is_dir() and not os.access("/proc/sys", os.W_OK) else None


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    """Valid and invalid input files, made once: tables of every kind, empty and one-replicate tables, ..."""
    d = tmp_path_factory.mktemp("inputs")
    cwd = os.getcwd()
    os.chdir(d)
    try:
        assert main(["-q", *EST, "--horizon", "3,5", "--output", "est.parquet"]) == 0
        assert main(["-q", *TRAIN, "--seed", "0,1", "--output", "train.parquet"]) == 0
        assert main(["metrics", "est.parquet", "--resamples", "20", "--output", "metrics.parquet"]) == 0
        assert main(["slopes", "est.parquet", "--resamples", "20", "--output", "slopes.parquet"]) == 0
        assert (
            main(
                [
                    "curves",
                    "train.parquet",
                    "--resamples",
                    "20",
                    "--curves",
                    "curves.parquet",
                    "--summary",
                    "summary.parquet",
                ]
            )
            == 0
        )
    finally:
        os.chdir(cwd)
    est = pq.read_table(d / "est.parquet")
    pq.write_table(est.slice(0, 0), d / "empty.parquet")
    pq.write_table(pq.read_table(d / "train.parquet").slice(0, 0), d / "empty_train.parquet")
    one = est.filter(np.asarray(est.column("replicate")) == 0)
    pq.write_table(one, d / "one_replicate.parquet")
    (d / "notparquet.parquet").write_text("horizon,grad\n1,2\n")
    shutil.copy(TEST_CONFIG, d / "config.yaml")
    (d / "figure.pdf").write_bytes(b"%PDF-1.4\n")  # no figure.png beside it
    np.save(d / "theta68.npy", np.zeros(68))
    np.save(d / "theta_nan.npy", np.array([np.nan, 0.0]))
    np.save(d / "theta2d.npy", np.zeros((2, 1)))
    np.save(d / "theta_text.npy", np.array(["a", "b"]))
    (d / "fake.npy").write_text("not an array")
    np.save(d / "run.theta0.npy", np.zeros(2))  # a theta named as train --checkpoints 0 --output run.parquet writes
    bad_estimate_tables(d, est)
    paths = {p.stem.replace(".", "_"): str(p) for p in d.iterdir()}
    paths["dir"] = str(d)
    paths["missing"] = str(d / "missing.parquet")
    ro = unwritable_directory(tmp_path_factory.mktemp("ro"))
    paths["unwritable"] = str(ro / "out.parquet") if ro else ""
    return paths


def bad_estimate_tables(d: Path, est) -> None:
    """Estimate tables a reader must refuse by content: non-finite gradients, a second exact gradient in a cell, a
    copied replicate, gradients of two lengths; and a table of several pairs (what compare needs)."""
    cwd = os.getcwd()
    os.chdir(d)
    try:
        assert main(["-q", "estimate", *CORRIDOR, "--pairs", "reinforce~none", "reward_to_go~none", "--batch-size",
                     "2,4", "--horizon", "3,5", "--replicates", "3", "--seed", "0", "--output", "pairs.parquet"]) == 0
    finally:
        os.chdir(cwd)
    df = est.to_pandas()

    def write(frame, name):
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), d / f"{name}.parquet")

    for name, column, value in (("grad_nan", "grad", [np.nan, 1.0]), ("grad_inf", "grad", [1.0, -np.inf]),
                                ("exact_nan", "grad_exact", [np.nan, 0.0]), ("exact_differs", "grad_exact", [0.5, 1.0]),
                                ("grad_length", "grad", [1.0, 2.0, 3.0])):
        x = df.copy()
        x.at[4, column] = np.array(value)
        write(x, name)
    write(pd.concat([df, df.iloc[[1]]]), "replicate_twice")
    for name, column, value in (("batch_size_0", "batch_size", 0), ("horizon_nan", "horizon", np.nan),
                                ("replicate_half", "replicate", 0.5), ("env_steps_negative", "env_steps", -5)):
        x = df.copy()
        x[column] = x[column].astype(float) if isinstance(value, float) else x[column]
        x.loc[x.index[0], column] = value
        write(x, name)
    train = pq.read_table(d / "train.parquet").to_pandas()
    write(pd.concat([train, train[train["seed"] == 0]]), "train_run_twice")
    x = train.copy()
    x.loc[x.index[0], "iteration"] = -1
    write(x, "train_iteration_negative")
    shutil.copy(d / "est.parquet", d / "est_copy.parquet")


def listing(d: str | Path) -> dict[str, tuple[int, float]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime) for p in Path(d).iterdir()}


# (id, argv with {name} for inputs, substrings the one line must contain: the option/key/file and what is allowed)
CLI_CASES: list[tuple[str, list[str], list[str]]] = [
    # ---- commands that read tables: missing, not parquet, wrong kind, no rows, too few replicates
    (
        "metrics-missing",
        ["metrics", "{missing}", "--output", "m.parquet"],
        ["missing.parquet", "no such file", "estimate table"],
    ),
    (
        "metrics-yaml",
        ["metrics", "{config}", "--output", "m.parquet"],
        ["config.yaml", "not a parquet file", "estimate table"],
    ),
    (
        "metrics-csv-named-parquet",
        ["metrics", "{notparquet}", "--output", "m.parquet"],
        ["notparquet.parquet", "not a parquet"],
    ),
    ("metrics-directory", ["metrics", "{dir}", "--output", "m.parquet"], ["is a directory", "estimate table"]),
    (
        "metrics-train-table",
        ["metrics", "{train}", "--output", "m.parquet"],
        ["train.parquet", "not an estimate table", "grad"],
    ),
    (
        "metrics-metrics-table",
        ["metrics", "{metrics}", "--output", "m.parquet"],
        ["metrics.parquet", "not an estimate table"],
    ),
    ("metrics-empty", ["metrics", "{empty}", "--output", "m.parquet"], ["empty.parquet", "no rows", "estimate table"]),
    (
        "metrics-one-replicate",
        ["metrics", "{one_replicate}", "--output", "m.parquet"],
        ["one_replicate.parquet", "1 replicate", ">= 2"],
    ),
    (
        "metrics-second-file-bad",
        ["metrics", "{est}", "{train}", "--output", "m.parquet"],
        ["train.parquet", "not an estimate table"],
    ),
    ("slopes-missing", ["slopes", "{missing}", "--output", "s.parquet"], ["missing.parquet", "no such file"]),
    ("slopes-yaml", ["slopes", "{config}", "--output", "s.parquet"], ["config.yaml", "not a parquet file"]),
    (
        "slopes-train-table",
        ["slopes", "{train}", "--output", "s.parquet"],
        ["train.parquet", "not an estimate table", "replicate"],
    ),
    ("slopes-empty", ["slopes", "{empty}", "--output", "s.parquet"], ["empty.parquet", "no rows"]),
    ("slopes-one-replicate", ["slopes", "{one_replicate}", "--output", "s.parquet"], ["1 replicate", ">= 2"]),
    ("compare-missing", ["compare", "{missing}", "--output", "c.parquet"], ["missing.parquet", "no such file"]),
    ("compare-yaml", ["compare", "{config}", "--output", "c.parquet"], ["config.yaml", "not a parquet file"]),
    (
        "compare-train-table",
        ["compare", "{train}", "--output", "c.parquet"],
        ["train.parquet", "not an estimate table"],
    ),
    ("compare-empty", ["compare", "{empty}", "--output", "c.parquet"], ["empty.parquet", "no rows"]),
    ("compare-one-replicate", ["compare", "{one_replicate}", "--output", "c.parquet"], ["1 replicate"]),
    (
        "curves-missing",
        ["curves", "{missing}", "--curves", "c.parquet", "--summary", "s.parquet"],
        ["missing.parquet", "training table"],
    ),
    (
        "curves-yaml",
        ["curves", "{config}", "--curves", "c.parquet", "--summary", "s.parquet"],
        ["config.yaml", "not a parquet file"],
    ),
    (
        "curves-estimate-table",
        ["curves", "{est}", "--curves", "c.parquet", "--summary", "s.parquet"],
        ["est.parquet", "not a training table", "J_0"],
    ),
    (
        "curves-empty",
        ["curves", "{empty_train}", "--curves", "c.parquet", "--summary", "s.parquet"],
        ["empty_train.parquet", "no rows"],
    ),
    (
        "plot-metrics-missing",
        ["plot", "bias_variance", "--metrics", "{missing}", "--output", "f.pdf"],
        ["--metrics", "missing.parquet", "no such file"],
    ),
    (
        "plot-metrics-yaml",
        ["plot", "bias_variance", "--metrics", "{config}", "--output", "f.pdf"],
        ["--metrics", "config.yaml", "not a parquet"],
    ),
    (
        "plot-metrics-other-kind",
        ["plot", "bias_variance", "--metrics", "{slopes}", "--output", "f.pdf"],
        ["--metrics", "slopes.parquet", "not a metrics table"],
    ),
    (
        "plot-metrics-estimate",
        ["plot", "variance_vs_horizon", "--metrics", "{est}", "--output", "f.pdf"],
        ["--metrics", "est.parquet", "not a metrics table"],
    ),
    (
        "plot-slopes-train",
        ["plot", "variance_vs_horizon", "--metrics", "{metrics}", "--slopes", "{train}", "--output", "f.pdf"],
        ["--slopes", "train.parquet", "not a slopes table"],
    ),
    (
        "plot-curves-estimate",
        ["plot", "learning_curves", "--curves", "{est}", "--summary", "{summary}", "--output", "f.pdf"],
        ["--curves", "est.parquet", "not a learning_curves table"],
    ),
    (
        "plot-summary-metrics",
        ["plot", "learning_curves", "--curves", "{curves}", "--summary", "{metrics}", "--output", "f.pdf"],
        ["--summary", "metrics.parquet", "not a training_summary table"],
    ),
    ("plot-unknown-figure", ["plot", "pie_chart", "--output", "f.pdf"], ["FIGURE", "invalid choice", "bias_variance"]),
    (
        "report-metrics-missing",
        ["report", "--metrics", "{missing}", "--slopes", "{slopes}", "--output", "r.html"],
        ["missing.parquet"],
    ),
    (
        "report-metrics-estimate",
        ["report", "--metrics", "{est}", "--slopes", "{slopes}", "--output", "r.html"],
        ["est.parquet", "not a metrics table"],
    ),
    (
        "report-slopes-train",
        ["report", "--metrics", "{metrics}", "--slopes", "{train}", "--output", "r.html"],
        ["train.parquet", "not a slopes table"],
    ),
    (
        "report-figure-without-png",
        ["report", "--metrics", "{metrics}", "--slopes", "{slopes}", "--figures", "{figure}", "--output", "r.html"],
        ["--figures", "figure.png"],
    ),
    (
        "report-config-not-json",
        [
            "report",
            "--metrics",
            "{metrics}",
            "--slopes",
            "{slopes}",
            "--config-json",
            "{{not json",
            "--output",
            "r.html",
        ],
        ["--config-json", "not valid JSON"],
    ),
    (
        "report-config-not-object",
        ["report", "--metrics", "{metrics}", "--slopes", "{slopes}", "--config-json", "[1, 2]", "--output", "r.html"],
        ["--config-json", "JSON object"],
    ),
    (
        "aggregate-metrics-estimate",
        ["aggregate", "--metrics", "{est}", "--slopes", "{slopes}", "--outdir", "."],
        ["est.parquet", "not a metrics table"],
    ),
    (
        "aggregate-slopes-yaml",
        ["aggregate", "--metrics", "{metrics}", "--slopes", "{config}", "--outdir", "."],
        ["config.yaml", "not a parquet"],
    ),
    (
        "aggregate-exact-train",
        ["aggregate", "--metrics", "{metrics}", "--slopes", "{slopes}", "--exact", "{train}", "--outdir", "."],
        ["train.parquet", "not an exact-variance table"],
    ),
    (
        "aggregate-outdir-missing",
        ["aggregate", "--metrics", "{metrics}", "--slopes", "{slopes}", "--outdir", "nowhere"],
        ["--outdir", "no such directory"],
    ),
    (
        "aggregate-outdir-file",
        ["aggregate", "--metrics", "{metrics}", "--slopes", "{slopes}", "--outdir", "{config}"],
        ["--outdir", "not a directory"],
    ),
    ("aggregate-nothing", ["aggregate", "--outdir", "."], ["no tables given", "--metrics"]),
    # ---- numbers in range
    (
        "estimate-lam-above-1",
        [*EST, "--estimator", "gae", "--baseline", "value_exact", "--lam", "1.5", "--output", "o.parquet"],
        ["--lam", "[0, 1]"],
    ),
    ("estimate-lam-negative", [*EST, "--lam", "-0.1", "--output", "o.parquet"], ["--lam", "[0, 1]"]),
    ("estimate-lam-nan", [*EST, "--lam", "nan", "--output", "o.parquet"], ["--lam", "[0, 1]"]),
    ("estimate-replicates-1", [*EST, "--replicates", "1", "--output", "o.parquet"], ["--replicates", ">= 2"]),
    ("estimate-replicates-0", [*EST, "--replicates", "0", "--output", "o.parquet"], ["--replicates", ">= 2"]),
    (
        "estimate-replicates-text",
        [*EST, "--replicates", "many", "--output", "o.parquet"],
        ["--replicates", "'many'", "integer"],
    ),
    ("estimate-seed-negative", [*EST, "--seed", "-1", "--output", "o.parquet"], ["--seed", "[0, 9223372036854775807]"]),
    ("estimate-batch-0", [*EST, "--batch-size", "0", "--output", "o.parquet"], ["--batch-size", ">= 1"]),
    ("estimate-batch-text", [*EST, "--batch-size", "four", "--output", "o.parquet"], ["--batch-size", "'four'"]),
    (
        "estimate-batch-duplicate",
        [*EST, "--batch-size", "4,4", "--output", "o.parquet"],
        ["--batch-size", "twice", "distinct"],
    ),
    (
        "estimate-batch-empty-entry",
        [*EST, "--batch-size", "4,,8", "--output", "o.parquet"],
        ["--batch-size", "empty entry"],
    ),
    (
        "estimate-horizon-duplicate",
        [*EST, "--horizon", "4,4", "--output", "o.parquet"],
        ["--horizon", "twice", "distinct"],
    ),
    (
        "estimate-horizon-duplicate-spelling",
        [*EST, "--horizon", "4,04", "--output", "o.parquet"],
        ["--horizon", "twice"],
    ),
    (
        "estimate-horizon-inf-twice",
        [*EST, "--gamma", "0.9", "--horizon", "inf,infinity", "--output", "o.parquet"],
        ["--horizon", "twice"],
    ),
    (
        "estimate-horizon-0",
        [*EST, "--horizon", "0", "--output", "o.parquet"],
        ["--horizon", "positive integer or 'inf'"],
    ),
    (
        "estimate-horizon-text",
        [*EST, "--horizon", "long", "--output", "o.parquet"],
        ["--horizon", "positive integer or 'inf'"],
    ),
    ("estimate-gamma-above-1", [*EST, "--gamma", "1.5", "--output", "o.parquet"], ["--gamma", "[0, 1]"]),
    ("estimate-gamma-nan", [*EST, "--gamma", "nan", "--output", "o.parquet"], ["--gamma", "[0, 1]"]),
    ("estimate-threads-0", [*EST, "--threads", "0", "--output", "o.parquet"], ["--threads", "an integer in [1, "]),
    (
        "estimate-reference-batch-1",
        [*EST, "--reference-batch", "1", "--output", "o.parquet"],
        ["--reference-batch", ">= 2"],
    ),
    (
        "estimate-unknown-estimator",
        [*EST, "--estimator", "reinforced", "--output", "o.parquet"],
        ["--estimator", "invalid choice", "reinforce"],
    ),
    (
        "estimate-unknown-baseline",
        [*EST, "--baseline", "mean", "--output", "o.parquet"],
        ["--baseline", "unknown 'mean'", "fixed:c=VALUE"],
    ),
    (
        "estimate-meaningless-pair",
        [*EST, "--estimator", "advantage_exact", "--baseline", "constant", "--output", "o.parquet"],
        ["--baseline constant", "not meaningful", "allowed baselines"],
    ),
    (
        "estimate-constant-batch-1",
        [*EST, "--baseline", "constant", "--batch-size", "1", "--output", "o.parquet"],
        ["--batch-size >= 2"],
    ),
    (
        "estimate-rollin-episodic",
        [*EST, "--estimator", "rollin_rollout", "--output", "o.parquet"],
        ["rollin_rollout", "--gamma < 1"],
    ),
    # ---- lists and tags
    ("estimate-tag-seed", [*EST, "--tag", "seed=7", "--output", "o.parquet"], ["--tag seed=7", "column of the output"]),
    ("estimate-tag-grad", [*EST, "--tag", "grad=1", "--output", "o.parquet"], ["--tag grad=1", "column of the output"]),
    ("estimate-tag-env", [*EST, "--tag", "env=x", "--output", "o.parquet"], ["--tag env=x", "column of the output"]),
    ("estimate-tag-no-equals", [*EST, "--tag", "env_name", "--output", "o.parquet"], ["--tag", "NAME=VALUE"]),
    ("estimate-tag-bad-name", [*EST, "--tag", "1x=2", "--output", "o.parquet"], ["--tag", "identifier"]),
    (
        "estimate-tag-twice",
        [*EST, "--tag", "a=1", "--tag", "a=2", "--output", "o.parquet"],
        ["--tag", "'a' given twice"],
    ),
    ("train-tag-step-size", [*TRAIN, "--tag", "step_size=1", "--output", "o.parquet"], ["--tag step_size=1", "column"]),
    ("train-tag-J", [*TRAIN, "--tag", "J=1", "--output", "o.parquet"], ["--tag J=1", "column"]),
    ("train-step-size-0", [*TRAIN, "--step-size", "0", "--output", "o.parquet"], ["--step-size", "> 0"]),
    ("train-step-size-negative", [*TRAIN, "--step-size", "-0.1", "--output", "o.parquet"], ["--step-size", "> 0"]),
    ("train-step-size-inf", [*TRAIN, "--step-size", "inf", "--output", "o.parquet"], ["--step-size", "> 0"]),
    ("train-step-size-nan", [*TRAIN, "--step-size", "nan", "--output", "o.parquet"], ["--step-size", "> 0"]),
    ("train-step-size-text", [*TRAIN, "--step-size", "fast", "--output", "o.parquet"], ["--step-size", "'fast'"]),
    (
        "train-step-size-duplicate",
        [*TRAIN, "--step-size", "0.1,0.10", "--output", "o.parquet"],
        ["--step-size", "twice"],
    ),
    ("train-seed-duplicate", [*TRAIN, "--seed", "0,0", "--output", "o.parquet"], ["--seed", "twice", "distinct"]),
    ("train-seed-negative", [*TRAIN, "--seed", "0,-1", "--output", "o.parquet"], ["--seed", "[0, 92233720368"]),
    (
        "train-checkpoint-beyond",
        [*TRAIN, "--checkpoints", "0,100", "--output", "o.parquet"],
        ["--checkpoints", "--iterations 5", "[0, 5]"],
    ),
    (
        "train-checkpoint-negative",
        [*TRAIN, "--checkpoints", "-1", "--output", "o.parquet"],
        ["--checkpoints", "[0, 5]"],
    ),
    (
        "train-checkpoint-duplicate",
        [*TRAIN, "--checkpoints", "0,0", "--output", "o.parquet"],
        ["--checkpoints", "twice"],
    ),
    (
        "train-checkpoints-with-grid",
        [*TRAIN, "--seed", "0,1", "--checkpoints", "0", "--output", "o.parquet"],
        ["--checkpoints", "one --seed"],
    ),
    ("train-iterations-negative", [*TRAIN, "--iterations", "-1", "--output", "o.parquet"], ["--iterations", ">= 0"]),
    ("train-batch-0", [*TRAIN, "--batch-size", "0", "--output", "o.parquet"], ["--batch-size", ">= 1"]),
    ("train-lam-2", [*TRAIN, "--lam", "2", "--output", "o.parquet"], ["--lam", "[0, 1]"]),
    ("train-eval-episodes-0", [*TRAIN, "--eval-episodes", "0", "--output", "o.parquet"], ["--eval-episodes", ">= 1"]),
    (
        "train-optimizer",
        [*TRAIN, "--optimizer", "sgd", "--output", "o.parquet"],
        ["--optimizer", "invalid choice", "adam"],
    ),
    (
        "metrics-confidence-above-1",
        ["metrics", "{est}", "--confidence", "1.5", "--output", "m.parquet"],
        ["--confidence", "(0, 1)"],
    ),
    (
        "metrics-confidence-1",
        ["metrics", "{est}", "--confidence", "1", "--output", "m.parquet"],
        ["--confidence", "(0, 1)"],
    ),
    (
        "metrics-confidence-0",
        ["metrics", "{est}", "--confidence", "0", "--output", "m.parquet"],
        ["--confidence", "(0, 1)"],
    ),
    ("metrics-resamples-0", ["metrics", "{est}", "--resamples", "0", "--output", "m.parquet"], ["--resamples", ">= 1"]),
    (
        "metrics-reference-horizon-0",
        ["metrics", "{est}", "--reference-horizon", "0", "--output", "m.parquet"],
        ["--reference-horizon", "positive"],
    ),
    (
        "metrics-reference-batch-0",
        ["metrics", "{est}", "--reference-batch-size", "0", "--output", "m.parquet"],
        ["--reference-batch-size", ">= 1"],
    ),
    (
        "slopes-confidence",
        ["slopes", "{est}", "--confidence", "95", "--output", "s.parquet"],
        ["--confidence", "(0, 1)"],
    ),
    (
        "slopes-resamples-negative",
        ["slopes", "{est}", "--resamples", "-5", "--output", "s.parquet"],
        ["--resamples", ">= 1"],
    ),
    (
        "compare-confidence",
        ["compare", "{est}", "--confidence", "-0.5", "--output", "c.parquet"],
        ["--confidence", "(0, 1)"],
    ),
    ("compare-resamples-0", ["compare", "{est}", "--resamples", "0", "--output", "c.parquet"], ["--resamples", ">= 1"]),
    ("compare-cell-malformed", ["compare", "{est}", "--cell", "4", "--output", "c.parquet"], ["--cell", "H:N"]),
    ("compare-cell-batch-0", ["compare", "{est}", "--cell", "4:0", "--output", "c.parquet"], ["--cell", "H:N"]),
    (
        "compare-cell-twice",
        ["compare", "{est}", "--cell", "3:2", "--cell", "3:2", "--output", "c.parquet"],
        ["--cell", "twice"],
    ),
    (
        "curves-threshold-0",
        ["curves", "{train}", "--threshold", "0", "--curves", "c.parquet", "--summary", "s.parquet"],
        ["--threshold", "(0, 1]"],
    ),
    (
        "curves-threshold-above-1",
        ["curves", "{train}", "--threshold", "1.5", "--curves", "c.parquet", "--summary", "s.parquet"],
        ["--threshold", "(0, 1]"],
    ),
    (
        "curves-confidence",
        ["curves", "{train}", "--confidence", "1", "--curves", "c.parquet", "--summary", "s.parquet"],
        ["--confidence", "(0, 1)"],
    ),
    (
        "curves-resamples-0",
        ["curves", "{train}", "--resamples", "0", "--curves", "c.parquet", "--summary", "s.parquet"],
        ["--resamples", ">= 1"],
    ),
    ("curves-same-output", ["curves", "{train}", "--curves", "x.parquet", "--summary", "x.parquet"], ["same file"]),
    ("exact-indent-negative", ["exact", *CORRIDOR, "--indent", "-1"], ["--indent", "[0, 16]"]),
    (
        "exact-variance-fixed-nan",
        ["exact-variance", *CORRIDOR, "--horizon", "4", "--estimator", "reinforce", "--baseline", "fixed:c=nan"],
        ["--baseline", "fixed:c=VALUE", "finite"],
    ),
    (
        "exact-variance-value-unused",
        ["exact-variance", *CORRIDOR, "--horizon", "4", "--estimator", "reinforce", "--baseline", "none",
         "--value", "v.npy"],
        ["--value", "value_table"],
    ),
    (
        "exact-variance-method",
        ["exact-variance", *CORRIDOR, "--horizon", "4", "--estimator", "reinforce", "--method", "mc"],
        ["--method", "invalid choice"],
    ),
    (
        "exact-variance-estimator",
        ["exact-variance", *CORRIDOR, "--horizon", "4", "--estimator", "actor_critic"],
        ["--estimator", "invalid choice"],
    ),
    (
        "exact-curves-unknown-pair",
        ["exact-curves", *CORRIDOR, "--horizon", "4", "--pairs", "reinforce~mean", "--output", "e.parquet"],
        ["--pairs", "reinforce~mean", "ESTIMATOR~BASELINE"],
    ),
    (
        "exact-curves-duplicate-pair",
        [
            "exact-curves",
            *CORRIDOR,
            "--horizon",
            "4",
            "--pairs",
            "reinforce~none,reinforce~none",
            "--output",
            "e.parquet",
        ],
        ["--pairs", "twice"],
    ),
    (
        "exact-curves-duplicate-horizon",
        ["exact-curves", *CORRIDOR, "--horizon", "4,4", "--output", "e.parquet"],
        ["--horizon", "twice"],
    ),
    (
        "exact-curves-tag-horizon",
        ["exact-curves", *CORRIDOR, "--horizon", "4", "--tag", "horizon=3", "--output", "e.parquet"],
        ["--tag horizon=3", "column"],
    ),
    (
        "decompose-lam-out-of-range",
        ["decompose", *CORRIDOR, "--horizon", "4", "--lam", "1.5", "--output", "d.parquet"],
        ["--lam", "[0, 1]"],
    ),
    (
        "decompose-tag-estimator",
        ["decompose", *CORRIDOR, "--horizon", "4", "--tag", "estimator=x", "--output", "d.parquet"],
        ["--tag estimator=x", "column"],
    ),
    ("bench-states-0", ["bench", "exact", "--states", "0"], ["--states", ">= 1"]),
    ("bench-repeats-0", ["bench", "sampler", "--repeats", "0"], ["--repeats", "[1, 1000]"]),
    ("bench-unknown", ["bench", "everything"], ["argument what", "invalid choice"]),
    # ---- files and sizes
    (
        "output-missing-directory",
        [*EST, "--output", "nowhere/o.parquet"],
        ["--output nowhere/o.parquet", "does not exist"],
    ),
    ("output-is-directory", [*EST, "--output", "{dir}"], ["--output", "is a directory"]),
    ("output-trailing-slash", [*EST, "--output", "results/"], ["--output results/", "is a directory"]),
    (
        "exact-output-missing-directory",
        ["exact", *CORRIDOR, "--output", "nowhere/x.json"],
        ["--output", "does not exist"],
    ),
    ("metrics-output-is-directory", ["metrics", "{est}", "--output", "{dir}"], ["--output", "is a directory"]),
    ("train-output-missing-directory", [*TRAIN, "--output", "nowhere/o.parquet"], ["--output", "does not exist"]),
    (
        "plot-output-missing-directory",
        ["plot", "bias_variance", "--metrics", "{metrics}", "--output", "nowhere/f.pdf"],
        ["--output", "does not exist"],
    ),
    (
        "garnet-billion-states",
        ["exact", "--env", "garnet:states=1000000000"],
        ["garnet:states=1000000000", "needs about", "GiB"],
    ),
    ("chain-huge", ["exact", "--env", "chain:length=10000000"], ["chain:length=10000000", "needs about"]),
    (
        "horizon-petabytes",
        ["exact", *CORRIDOR, "--horizon", "1000000000000000"],
        ["--horizon 1000000000000000", "needs about", "PiB"],
    ),
    (
        "estimate-horizon-huge",
        [*EST, "--horizon", "4,1000000000000000", "--output", "o.parquet"],
        ["--horizon", "needs about"],
    ),
    (
        "features-huge",
        ["exact", "--env", "garnet:states=1000,actions=4", "--features", "random:d=100000000"],
        ["--features random:d=100000000", "needs about"],
    ),
    # ---- problem specs
    ("env-negative-states", ["exact", "--env", "garnet:states=-1"], ["garnet", "states=-1", "positive integer"]),
    ("env-unknown", ["exact", "--env", "gridworld"], ["--env", "unknown problem", "garnet"]),
    ("env-unknown-key", ["exact", "--env", "garnet:size=3"], ["unknown key", "size", "states"]),
    ("env-chain-text-reward", ["exact", "--env", "chain:small=abc"], ["chain", "small='abc'", "finite number"]),
    ("env-chain-negative-seed", ["exact", "--env", "chain:seed=-2"], ["chain", "seed=-2", "non-negative"]),
    ("env-continuous-for-exact", ["exact", "--env", "gym:CartPole-v1"], ["CartPole-v1", "toy-text"]),
    ("env-missing-file", ["exact", "--env", "file:nothere.npz"], ["nothere.npz"]),
    (
        "features-d-0",
        ["exact", *CORRIDOR, "--features", "random:d=0"],
        ["--features random", "d=0", "positive integer"],
    ),
    ("features-unknown", ["exact", *CORRIDOR, "--features", "onehot"], ["--features", "onehot", "tabular"]),
    ("policy-unknown", ["exact", *CORRIDOR, "--policy", "rnn"], ["--policy", "rnn", "linear"]),
    ("theta-ones", ["exact", *CORRIDOR, "--theta", "ones"], ["--theta", "'ones'", "zeros"]),
    ("theta-missing-file", ["exact", *CORRIDOR, "--theta", "nothere.npy"], ["--theta", "nothere.npy"]),
    ("theta-wrong-length", ["exact", *CORRIDOR, "--theta", "{theta68}"], ["theta68.npy", "68 entries", "dim = 2"]),
    ("theta-non-finite", ["exact", *CORRIDOR, "--theta", "{theta_nan}"], ["theta_nan.npy", "non-finite"]),
    (
        "gamma-episodic-no-absorbing",
        ["exact", "--env", "chain", "--gamma", "1", "--horizon", "inf"],
        ["no absorbing", "--gamma < 1"],
    ),
    # ---- table content (pgexp.tables.check_estimates) and the same cells twice
    ("metrics-grad-nan", ["metrics", "{grad_nan}", "--output", "m.parquet"],
     ["grad_nan.parquet", "row 4 reinforce~none horizon 5 batch size 2 replicate 1", "grad has a non-finite value"]),
    ("slopes-grad-inf", ["slopes", "{grad_inf}", "--output", "s.parquet"],
     ["grad_inf.parquet", "row 4", "non-finite value (-inf)"]),
    ("compare-grad-exact-nan", ["compare", "{exact_nan}", "--output", "c.parquet"],
     ["exact_nan.parquet", "grad_exact has a non-finite value"]),
    ("metrics-grad-exact-differs", ["metrics", "{exact_differs}", "--output", "m.parquet"],
     ["exact_differs.parquet", "row 4", "grad_exact differs from row 3", "one exact gradient per problem"]),
    ("metrics-grad-length", ["metrics", "{grad_length}", "--output", "m.parquet"],
     ["grad_length.parquet", "different lengths [2, 3]"]),
    ("metrics-replicate-twice", ["metrics", "{replicate_twice}", "--output", "m.parquet"],
     ["replicate_twice.parquet", "replicate 1 appears twice", "each replicate once"]),
    ("metrics-same-file-twice", ["metrics", "{est}", "{est}", "--output", "m.parquet"],
     ["est.parquet", "given twice", "each input once"]),
    ("metrics-same-cells-in-a-copy", ["metrics", "{est}", "{est_copy}", "--output", "m.parquet"],
     ["est_copy.parquet", "is also in", "est.parquet", "each cell in one file"]),
    ("slopes-same-file-twice", ["slopes", "{est}", "{est}", "--output", "s.parquet"], ["given twice"]),
    ("practice-audit-same-file-twice", ["practice-audit", "{pairs}", "{pairs}", "--output", "a.parquet"],
     ["given twice"]),
    # ---- options that do not apply, or name what the tables do not have
    ("metrics-reference-horizon-absent", ["metrics", "{est}", "--reference-horizon", "7", "--output", "m.parquet"],
     ["--reference-horizon 7", "no cell has this horizon", "(3, 5)"]),
    ("metrics-reference-horizon-inf-absent", ["metrics", "{est}", "--reference-horizon", "inf", "--output",
                                              "m.parquet"], ["--reference-horizon inf", "(3, 5)"]),
    ("metrics-reference-batch-absent", ["metrics", "{est}", "--reference-batch-size", "3", "--output", "m.parquet"],
     ["--reference-batch-size 3", "no cell has this batch size", "(2)"]),
    ("compare-one-pair", ["compare", "{est}", "--output", "c.parquet"],
     ["one estimator~baseline pair (reinforce~none)", "needs two"]),
    ("compare-cell-absent", ["compare", "{pairs}", "--cell", "7:2", "--output", "c.parquet"],
     ["--cell 7:2", "not a cell of the tables", "3:2, 3:4, 5:2, 5:4"]),
    ("curves-selection-seed-absent", ["curves", "{train}", "--selection-seeds", "7", "--curves", "c.parquet",
                                      "--summary", "s.parquet"], ["--selection-seeds", "seed 7", "(0, 1)"]),
    ("train-trace-seed-absent", [*TRAIN, "--trace-seeds", "3", "--output", "o.parquet"],
     ["--trace-seeds", "seed 3", "not one of --seed"]),
    ("estimate-lam-with-reinforce", [*EST, "--lam", "0.5", "--output", "o.parquet"],
     ["--lam", "reinforce has no lam", "gae"]),
    ("train-lam-with-reinforce", [*TRAIN, "--lam", "0.5", "--output", "o.parquet"], ["--lam", "reinforce has no lam"]),
    ("estimate-fit-batch-without-fit", [*EST, "--fit-batch-size", "8", "--output", "o.parquet"],
     ["--fit-batch-size", "no pair fits anything", "value_learned"]),
    ("estimate-reference-batch-tabular", [*EST, "--reference-batch", "100", "--output", "o.parquet"],
     ["--reference-batch 100", "only for continuous-state problems"]),
    ("train-eval-episodes-tabular", [*TRAIN, "--eval-episodes", "5", "--output", "o.parquet"],
     ["--eval-episodes 5", "only for continuous-state problems"]),
    ("estimate-pairs-empty", ["estimate", *CORRIDOR, "--pairs", "", "--batch-size", "2", "--replicates", "3", "--seed",
                              "0", "--output", "o.parquet"], ["--pairs", "empty"]),
    ("report-table-unknown-key", ["report", "--metrics", "{metrics}", "--slopes", "{slopes}", "--table",
                                  "nosuchsection={est}", "--output", "r.html"],
     ["--table nosuchsection", "no report section reads", "--metrics"]),
    ("study-report-generic-tables", ["study-report", "--study-json", STUDY_JSON, "--curves", "{curves}", "--summary",
                                     "{summary}", "--outdir", "."],
     ["--curves", "not the tables of study sutton_barto_fig13_1", "arms (none)"]),
    ("study-report-train-table", ["study-report", "--study-json", STUDY_JSON, "--curves", "{train}", "--summary",
                                  "{summary}", "--outdir", "."], ["train.parquet", "not a learning-curves table"]),
    # ---- outputs: the format, the inputs
    ("estimate-parquet-named-csv", [*EST, "--output", "o.csv"], ["--output o.csv", "writes parquet", ".parquet"]),
    ("exact-json-named-parquet", ["exact", *CORRIDOR, "--output", "x.parquet"], ["--output x.parquet", "json"]),
    ("report-html-named-parquet", ["report", "--metrics", "{metrics}", "--slopes", "{slopes}", "--output",
                                   "r.parquet"], ["--output r.parquet", "html"]),
    ("metrics-output-is-input", ["metrics", "{est}", "--output", "{est}"], ["--output", "is also an input"]),
    ("slopes-output-is-input", ["slopes", "{est}", "--output", "{est}"], ["is also an input"]),
    ("train-checkpoint-is-theta-input", [*TRAIN, "--theta", "{run_theta0}", "--checkpoints", "0", "--output",
                                         "{dir}/run.parquet"], ["run.theta0.npy", "is also an input"]),
    ("aggregate-outdir-holds-input", ["aggregate", "--metrics", "{metrics}", "--slopes", "{slopes}", "--outdir",
                                      "{dir}"], ["--outdir", "metrics.parquet", "is also an input"]),
    # ---- spec values: typed, bounded
    ("estimate-seed-2-to-64", [*EST, "--seed", "18446744073709551616", "--output", "o.parquet"],
     ["--seed", "18446744073709551616", "[0, 9223372036854775807]"]),
    ("train-seed-2-to-64", [*TRAIN, "--seed", "0,18446744073709551616", "--output", "o.parquet"],
     ["--seed", "18446744073709551616"]),
    ("theta-seed-negative", ["exact", *CORRIDOR, "--theta", "random:seed=-1"],
     ["--theta random", "seed=-1", "[0, 2^63 - 1]"]),
    ("theta-scale-nan", ["exact", *CORRIDOR, "--theta", "random:seed=0,scale=nan"],
     ["--theta random", "scale=nan", "finite number"]),
    ("theta-scale-inf", ["exact", *CORRIDOR, "--theta", "random:scale=inf"], ["scale=inf", "finite number"]),
    ("features-seed-negative", ["exact", *CORRIDOR, "--features", "random:d=2,seed=-3"], ["seed=-3", "a seed"]),
    ("features-d-float", ["exact", *CORRIDOR, "--features", "random:d=2.5"], ["d=2.5", "an integer"]),
    ("garnet-seed-huge", ["exact", "--env", "garnet:states=5,seed=18446744073709551616"],
     ["--env", "seed=18446744073709551616"]),
    ("frozenlake-slippery-maybe", ["exact", "--env", "gym:FrozenLake-v1:is_slippery=maybe"],
     ["--env gym:FrozenLake-v1", "is_slippery='maybe'", "true or false"]),
    ("estimate-frozenlake-slippery-maybe", [*EST, "--env", "gym:FrozenLake-v1:is_slippery=maybe", "--output",
                                            "o.parquet"], ["is_slippery='maybe'", "true or false"]),
    ("chain-rewards-1e308", ["exact", "--env", "chain:large=1e308"],
     ["--env chain:large=1e308", "field 'r'", "|r| <= 1e+100"]),
    ("exact-indent-huge", ["exact", *CORRIDOR, "--indent", "100000000"], ["--indent", "[0, 16]"]),
    ("exact-variance-indent-huge", ["exact-variance", *CORRIDOR, "--horizon", "4", "--estimator", "reinforce",
                                    "--indent", "100000000"], ["--indent", "[0, 16]"]),
    # ---- work and memory estimated before anything runs
    ("estimate-replicates-huge", [*EST[:-4], "--replicates", "99999999999", "--seed", "0", "--output", "o.parquet"],
     ["--replicates 99999999999", "needs about", "TiB"]),
    ("estimate-min-trajectories-huge", [*EST, "--min-trajectories", "1000000000000", "--output", "o.parquet"],
     ["--min-trajectories 1000000000000", "needs about"]),
    ("estimate-batch-huge", [*EST[:-6], "--batch-size", "99999999999", "--replicates", "3", "--seed", "0", "--output",
                             "o.parquet"], ["--batch-size 99999999999", "needs about", "PiB"]),
    ("estimate-trajectories-for-hours", [*EST[:-6], "--batch-size", "100000", "--replicates", "400000", "--seed",
                                         "0", "--output", "o.parquet"],
     ["--replicates 400000 x --batch-size 100000", "of computing", "PGEXP_NO_LIMITS=1"]),
    ("train-iterations-huge", [*TRAIN[:-4], "--iterations", "10000000000", "--seed", "0", "--output", "o.parquet"],
     ["--iterations 10000000000", "needs about", "GiB"]),
    ("train-iterations-for-hours", [*TRAIN[:-4], "--iterations", "2000000000", "--seed", "0,1,2,3", "--output",
                                    "o.parquet"], ["--iterations 2000000000", "4 run(s)"]),
    ("decompose-horizon-huge", ["decompose", *CORRIDOR, "--horizon", "100000000", "--output", "d.parquet"],
     ["--horizon 100000000", "needs about", "GiB"]),
    ("decompose-horizon-for-hours", ["decompose", *CORRIDOR, "--horizon", "3000000", "--output", "d.parquet"],
     ["--horizon 3000000", "of computing", "PGEXP_NO_LIMITS=1"]),
    ("exact-curves-horizon-for-hours", ["exact-curves", *CORRIDOR, "--horizon", "3000000", "--output", "e.parquet"],
     ["--horizon 3000000", "of computing"]),
    ("exact-variance-horizon-huge", ["exact-variance", *CORRIDOR, "--horizon", "100000000", "--estimator",
                                     "reinforce"], ["--horizon 100000000", "needs about"]),
    ("lambda-tradeoff-horizon-huge", ["lambda-tradeoff", *CORRIDOR, "--horizon", "100000000", "--batch-size", "1",
                                      "--output", "l.parquet"], ["--horizon 100000000", "needs about"]),
    ("features-random-d-huge-small-problem", ["exact", "--env", "garnet:states=10,actions=2", "--features",
                                              "random:d=100000000"], ["--features random:d=100000000", "needs about"]),
    # ---- bootstraps, searches and batches sized before they run
    ("metrics-resamples-huge", ["metrics", "{est}", "--resamples", "1000000000", "--output", "m.parquet"],
     ["--resamples 1000000000", "needs about"]),
    ("slopes-resamples-huge", ["slopes", "{est}", "--resamples", "1000000000", "--output", "s.parquet"],
     ["--resamples 1000000000"]),
    ("compare-resamples-huge", ["compare", "{pairs}", "--resamples", "1000000000", "--output", "c.parquet"],
     ["--resamples 1000000000"]),
    ("curves-resamples-huge", ["curves", "{train}", "--resamples", "10000000000", "--curves", "c.parquet",
                               "--summary", "s.parquet"], ["--resamples 10000000000"]),
    ("practice-audit-resamples-huge", ["practice-audit", "{pairs}", "--resamples", "1000000000", "--output",
                                       "a.parquet"], ["--resamples 1000000000"]),
    ("train-batch-huge", [*TRAIN[:-8], "--batch-size", "1000000000", "--step-size", "0.1", "--iterations", "5",
                          "--seed", "0", "--output", "o.parquet"], ["--batch-size 1000000000", "needs about"]),
    ("sign-flip-samples-huge", ["sign-flip", "--features", "tabular", "--gamma", "0.5", "--horizon", "6",
                                "--samples", "100000000000", "--output", "f.parquet"], ["--samples 100000000000"]),
    ("sign-flip-confirm-huge", ["sign-flip", "--features", "tabular", "--gamma", "0.5", "--horizon", "6",
                                "--samples", "5", "--confirm-replicates", "100000000000", "--output", "f.parquet"],
     ["--confirm-replicates 100000000000"]),
    ("normalization-bias-replicates-huge", ["normalization-bias", "--env", "garnet:states=1,actions=2,branching=1",
                                            "--gamma", "1", "--horizon", "1", "--batch-size", "2,4,8", "--replicates",
                                            "100000000000", "--output", "n.parquet"], ["--replicates 100000000000"]),
    ("normalization-bias-too-large", ["normalization-bias", "--env", "garnet:states=30,actions=4,branching=4",
                                      "--gamma", "1", "--horizon", "10", "--output", "n.parquet"],
     ["--env garnet:states=30,actions=4,branching=4 --horizon 10", "trajectories to enumerate", "shorter horizon"]),
    ("mlp-huge", ["exact", *CORRIDOR, "--policy", "mlp:hidden=100000x100000"],
     ["--policy mlp:hidden=100000x100000", "parameters", "needs about"]),
    ("threads-huge", [*EST, "--threads", "100000", "--output", "o.parquet"], ["--threads", "four per core"]),
    ("theta-2d", ["exact", *CORRIDOR, "--theta", "{theta2d}"], ["theta2d.npy", "shape (2, 1)", "1-d array"]),
    ("theta-text", ["exact", *CORRIDOR, "--theta", "{theta_text}"], ["theta_text.npy", "allowed: numbers"]),
    ("theta-not-npy", ["exact", *CORRIDOR, "--theta", "{fake}"], ["fake.npy", "not a .npy array"]),
    ("aggregate-same-file-twice", ["aggregate", "--metrics", "{metrics}", "{metrics}", "--slopes", "{slopes}",
                                   "--outdir", "."], ["--metrics", "given twice"]),
    ("plot-output-trailing-slash", ["plot", "bias_variance", "--metrics", "{metrics}", "--output", "nowhere/"],
     ["--output nowhere/", "is a directory"]),
    ("decompose-lam-without-gae", ["decompose", *CORRIDOR, "--horizon", "4", "--pairs", "reinforce~none", "--lam",
                                   "0.5", "--output", "d.parquet"], ["--lam 0.5", "reinforce has no lam", "gae"]),
    ("exact-curves-lam-without-gae", ["exact-curves", *CORRIDOR, "--horizon", "4", "--pairs", "reinforce~none",
                                      "--lam", "0.5", "--output", "e.parquet"], ["--lam 0.5", "has no lam"]),
    ("exact-variance-lam-without-gae", ["exact-variance", *CORRIDOR, "--horizon", "4", "--estimator", "reinforce",
                                        "--lam", "0.5"], ["--lam 0.5", "reinforce has no lam"]),
    # ---- second wave (after the merge of metrics --slopes --comparisons and pgexp compile)
    ("compile-output-is-a-table", ["compile", "exact", "--output", "{est}"],
     ["--output", "est.parquet", "writes json"]),
    ("compile-output-csv", ["compile", "all", "--output", "c.csv"], ["--output c.csv", "writes json", ".json"]),
    ("metrics-slopes-same-as-output", ["metrics", "{est}", "--output", "m.parquet", "--slopes", "m.parquet"],
     ["--output", "named twice"]),
    ("metrics-slopes-is-the-input", ["metrics", "{est}", "--output", "m.parquet", "--slopes", "{est}"],
     ["--slopes", "est.parquet", "also an input"]),
    ("metrics-slopes-csv", ["metrics", "{est}", "--output", "m.parquet", "--slopes", "s.csv"],
     ["--slopes s.csv", "writes parquet"]),
    ("metrics-comparisons-without-cell", ["metrics", "{pairs}", "--output", "m.parquet", "--comparisons", "c.parquet"],
     ["--comparisons", "--reference-horizon", "--reference-batch-size"]),
    ("metrics-comparisons-cell-not-in-tables", ["metrics", "{pairs}", "--output", "m.parquet", "--comparisons",
                                                "c.parquet", "--reference-horizon", "4", "--reference-batch-size", "2"],
     ["--reference-horizon 4", "allowed", "3, 5"]),
    ("metrics-comparisons-json", ["metrics", "{pairs}", "--output", "m.parquet", "--comparisons", "c.json",
                                  "--reference-horizon", "3", "--reference-batch-size", "2"],
     ["--comparisons c.json", "writes parquet"]),
    ("decompose-pairs-empty", ["decompose", *CORRIDOR, "--horizon", "4", "--pairs", "", "--output", "d.parquet"],
     ["--pairs", "allowed"]),
    ("exact-curves-pairs-empty", ["exact-curves", *CORRIDOR, "--horizon", "4", "--pairs", "", "--output", "e.parquet"],
     ["--pairs", "allowed"]),
    ("normalization-bias-pairs-empty", ["normalization-bias", *CORRIDOR, "--horizon", "4", "--pairs", "", "--output",
                                        "n.parquet"], ["--pairs", "allowed"]),
    ("normalization-bias-zero-gradient", ["normalization-bias", *CORRIDOR, "--horizon", "3", "--batch-size", "2",
                                          "--output", "n.parquet"],
     ["--pairs reward_to_go~value_exact", "exact gradient is zero", "--theta"]),
    ("plot-output-parquet", ["plot", "bias_variance", "--metrics", "{metrics}", "--output", "p.parquet"],
     ["--output p.parquet", "figure", ".pdf or .png"]),
    # what a batch's arrays and the exact truth cost, from the arguments (the sampler pads every trajectory to the
    # horizon, the discount's effective horizon or --truncate; the truth is one recursion per horizon step)
    ("estimate-horizon-truth-for-hours", [*EST, "--horizon", "100000000", "--output", "o.parquet"],
     ["--horizon 100000000", "exact gradient", "1 h limit"]),
    ("estimate-gamma-near-one", ["estimate", "--env", "garnet:states=5", "--gamma", "0.99999999", "--estimator",
                                 "reinforce", "--batch-size", "2", "--replicates", "3", "--seed", "0", "--output",
                                 "o.parquet"], ["--gamma 0.99999999", "steps", "needs about"]),
    ("estimate-truncate-huge", [*EST, "--truncate", "100000000000", "--output", "o.parquet"],
     ["--truncate 100000000000", "needs about", "TiB"]),
    ("train-horizon-truth-for-hours", ["train", *CORRIDOR, "--horizon", "100000000", *TRAIN[5:], "--output",
                                       "o.parquet"], ["--horizon 100000000", "exact gradient", "1 h limit"]),
    ("train-gamma-near-one", ["train", "--env", "garnet:states=5", "--gamma", "0.99999999", *TRAIN[5:], "--output",
                              "o.parquet"], ["--gamma 0.99999999", "needs about"]),
    ("bench-repeats-huge", ["bench", "exact", "--repeats", "1000000000"], ["--repeats", "[1, 1000]"]),
    ("bench-configfile-missing", ["bench", "study", "--configfile", "{missing}"], ["--configfile", "no such file"]),
    ("bench-batch-size-not-used", ["bench", "estimate", "--batch-size", "100000000000"],
     ["--batch-size", "bench estimate does not use it", "pergrad"]),
    ("bench-states-not-used", ["bench", "sampler", "--states", "5"], ["--states", "allowed only with bench exact"]),
    # table content: whole numbers where the readers count (a cell, a replicate, a run's iteration)
    ("metrics-batch-size-0", ["metrics", "{batch_size_0}", "--output", "m.parquet"],
     ["batch_size_0.parquet", "row 0", "batch_size 0", "an integer >= 1"]),
    ("metrics-horizon-nan", ["metrics", "{horizon_nan}", "--output", "m.parquet"],
     ["horizon_nan.parquet", "row 0", "horizon nan", "-1 (inf)"]),
    ("metrics-replicate-fraction", ["metrics", "{replicate_half}", "--output", "m.parquet"],
     ["replicate_half.parquet", "replicate 0.5", "an integer >= 0"]),
    ("slopes-env-steps-negative", ["slopes", "{env_steps_negative}", "--output", "s.parquet"],
     ["env_steps_negative.parquet", "env_steps -5", "an integer >= 0"]),
    ("curves-run-twice", ["curves", "{train_run_twice}", "--curves", "c.parquet", "--summary", "s.parquet"],
     ["train_run_twice.parquet", "appears twice", "each run's iteration once"]),
    ("curves-iteration-negative", ["curves", "{train_iteration_negative}", "--curves", "c.parquet", "--summary",
                                   "s.parquet"], ["train_iteration_negative.parquet", "iteration -1", ">= 0"]),
    ("gym-task-unknown", ["exact", "--env", "gym:NoSuch-v0"], ["--env gym:NoSuch-v0", "doesn't exist", "allowed",
                                                             "pgexp envs"]),
    # ---- argparse, in pgexp's one-line style
    ("no-command", [], ["pgexp: error", "COMMAND"]),
    ("unknown-command", ["estimates"], ["invalid choice", "estimate"]),
    ("unknown-option", ["exact", *CORRIDOR, "--horizn", "4"], ["unrecognized arguments", "--horizn"]),
    ("missing-required", ["estimate", *CORRIDOR], ["required", "--batch-size", "--output"]),
    ("missing-estimator", ["estimate", *CORRIDOR, "--batch-size", "4", "--replicates", "3", "--seed", "0", "--output",
                           "out.parquet"], ["one of the arguments", "--estimator", "--pairs", "required"]),
    ("estimator-and-pairs", ["estimate", *CORRIDOR, "--estimator", "reinforce", "--pairs", "reinforce~none",
                             "--batch-size", "4", "--replicates", "3", "--seed", "0", "--output", "out.parquet"],
     ["--pairs", "not allowed with", "--estimator"]),
]


def expand(argv: list[str], inputs: dict[str, str]) -> list[str]:
    return [a.format(**inputs) if "{" in a and "{{" not in a else a.replace("{{", "{").replace("}}", "}")
            for a in argv]


def check_one_line(err: str, command: str | None, must: list[str]) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{err}"
    line = lines[0]
    assert "Traceback" not in err and "usage:" not in err
    prefix = f"pgexp {command}: error: " if command else "pgexp: error: "
    assert line.startswith(prefix), line
    for text in must:
        assert text in line, f"{text!r} not in {line!r}"


@pytest.mark.parametrize("argv,must", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input(argv, must, inputs, tmp_path, monkeypatch, capsys):
    if "{unwritable}" in argv and not inputs["unwritable"]:
        pytest.skip("no unwritable directory on this platform")
    monkeypatch.chdir(tmp_path)
    before = listing(inputs["dir"])
    args = expand(argv, inputs)
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 2, (rc, err)
    command = args[0] if args and not args[0].startswith("-") and args[0] in _commands() else None
    check_one_line(err, command, must)
    assert list(tmp_path.iterdir()) == [], "something was written"
    assert listing(inputs["dir"]) == before, "an input changed"


def _commands() -> set[str]:
    from pgexp.cli import COMMANDS

    return set(COMMANDS)


def test_unwritable_output_directory(inputs, tmp_path, monkeypatch, capsys):
    if not inputs["unwritable"]:
        pytest.skip("no unwritable directory on this platform (running as root without /proc/sys)")
    monkeypatch.chdir(tmp_path)
    assert main([*EST, "--output", inputs["unwritable"]]) == 2
    check_one_line(capsys.readouterr().err, "estimate", ["--output", "not writable"])
    assert list(tmp_path.iterdir()) == []


def test_memory_limit_is_the_available_memory(monkeypatch, tmp_path, capsys):
    """``--horizon 1000000000`` on exact quantities: 8 GB of V_h(s) for 1 state; refused when less is available."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(memory, "available_bytes", lambda: 4.0 * 2**30)
    assert main(["exact", *CORRIDOR, "--horizon", "1000000000"]) == 2
    check_one_line(
        capsys.readouterr().err, "exact", ["--horizon 1000000000", "needs about 29.8 GiB", "4.0 GiB available"]
    )
    monkeypatch.setattr(memory, "available_bytes", lambda: 4.0 * 2**30)
    assert main(["exact", "--env", "garnet:states=10000000,actions=4,branching=5"]) == 2
    check_one_line(capsys.readouterr().err, "exact", ["garnet:states=10000000", "needs about 7.5 GiB"])
    assert list(tmp_path.iterdir()) == []


def test_practice_audit_of_a_zero_gradient_cell_is_nan_not_a_crash(inputs, tmp_path, monkeypatch):
    """The short corridor at H = 3 cannot reach the goal: grad J = 0, so every column relative to it is NaN (as
    metrics' rel_mse), not a ZeroDivisionError."""
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "practice-audit", inputs["est"], "--resamples", "20", "--output", "p.parquet"]) == 0
    df = pd.read_parquet("p.parquet")
    zero = df[df["horizon"] == 3]
    assert len(zero) and (zero["grad_norm_exact"] == 0).all()
    for col in ("rel_bias_sq", "rel_bias_sq_exact", "rel_mse_exact", "cosine_mean", "mean_norm_ratio_exact"):
        assert zero[col].isna().all(), col
    assert np.isfinite(zero["bias_sq"]).all()


def test_every_case_names_a_distinct_input():
    ids = [c[0] for c in CLI_CASES]
    assert len(ids) == len(set(ids))


# --------------------------------------------------------------------------------------------- config


NULL = "<null>"  # a value of config_with that sets the key to null (None deletes it)


def config_with(**changes) -> dict:
    """The `.test` study config with ``changes`` applied: ``a__b=value`` sets ``config[a][b]``; ``None`` deletes,
    :data:`NULL` sets null."""
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    for path, value in changes.items():
        keys = path.split("__")
        node = cfg
        for k in keys[:-1]:
            node = node[k]
        if value is None:
            del node[keys[-1]]
        else:
            node[keys[-1]] = None if value == NULL else value
    return cfg


CONFIG_CASES: list[tuple[str, dict, list[str]]] = [
    # schema (one line, the key path; not jsonschema's dump)
    ("replicates-text", {"replicates": "many"}, ["'replicates'", "not of type 'integer'"]),
    ("replicates-1", {"replicates": 1}, ["'replicates'", "minimum of 3"]),
    ("unknown-top-key", {"replicate": 5}, ["(top level)", "'replicate' was unexpected"]),
    ("no-environments", {"environments": None}, ["'environments' is a required property"]),
    ("env-missing", {"environments__corridor__env": None}, ["environments.corridor", "'env' is a required property"]),
    ("horizon-0", {"horizons": [0, 3]}, ["'horizons.0'"]),
    ("horizon-text", {"horizons": ["long"]}, ["'horizons.0'"]),
    ("batch-size-0", {"batch_sizes": [0, 2]}, ["'batch_sizes.0'", "minimum of 1"]),
    ("seed-negative", {"seeds": [-1]}, ["'seeds.0'", "minimum of 0"]),
    ("seeds-duplicate", {"seeds": [0, 0]}, ["'seeds'", "non-unique"]),
    ("horizons-duplicate", {"horizons": [3, 3]}, ["'horizons'", "non-unique"]),
    ("estimator-unknown", {"estimators": ["reinforce", "ppo"]}, ["'estimators.1'", "'ppo' is not one of"]),
    ("baseline-unknown", {"baselines": ["mean"]}, ["baselines'", "unknown 'mean'", "fixed:c=VALUE"]),
    ("confidence-1.5", {"bootstrap": {"resamples": 200, "confidence": 1.5}}, ["'bootstrap.confidence'", "maximum"]),
    ("resamples-0", {"bootstrap": {"resamples": 0, "confidence": 0.95}}, ["'bootstrap.resamples'", "minimum of 100"]),
    ("figure-unknown", {"figures": ["pie"]}, ["'figures'", "unknown figure 'pie'", "bias_variance"]),
    (
        "figure-without-section",
        {"figures": ["deep_learning_curves"], "deep__training": None},
        ["'figures'", "deep.training"],
    ),
    ("lam-2", {"lam": 2}, ["'lam'", "maximum of 1"]),
    (
        "reference-extra-key",
        {"reference": {"horizon": 6, "batch_size": 2, "cell": 1}},
        ["'reference'", "'cell' was unexpected"],
    ),
    ("training-step-size-0", {"training__step_sizes": [0, 0.1]}, ["'training.step_sizes.0'"]),
    ("training-threshold-0", {"training__threshold": 0}, ["'training.threshold'"]),
    (
        "deep-env-missing",
        {"deep__environments__cartpole__env": None},
        ["deep.environments.cartpole", "'env' is a required"],
    ),
    ("env-gamma-2", {"environments__garnet__gamma": 2.0}, ["'environments.garnet.gamma'", "maximum of 1"]),
    ("env-name-slash", {"environments": {"a/b": {"env": "short_corridor"}}}, ["'environments'", "a/b"]),
    # every spec built at validation
    (
        "garnet-negative-states",
        {"environments__garnet__env": "garnet:states=-1"},
        ["'environments.garnet.env'", "states=-1", "positive integer"],
    ),
    (
        "problem-unknown",
        {"environments__garnet__env": "gridworld"},
        ["'environments.garnet.env'", "unknown problem 'gridworld'"],
    ),
    (
        "problem-unknown-key",
        {"environments__garnet__env": "garnet:size=3"},
        ["'environments.garnet.env'", "unknown key(s) size"],
    ),
    (
        "continuous-in-tabular",
        {"environments__corridor__env": "gym:CartPole-v1"},
        ["'environments.corridor.env'", "toy-text"],
    ),
    (
        "theta-ones",
        {"environments__corridor__thetas": {"init": "ones"}},
        ["'environments.corridor.thetas.init'", "'ones'", "zeros"],
    ),
    (
        "theta-missing-file",
        {"environments__corridor__thetas": {"start": "nothere.npy"}},
        ["'environments.corridor.thetas.start'", "nothere.npy"],
    ),
    ("theta-bad-key", {"thetas": {"r": "random:seed=0,size=3"}}, ["thetas.r'", "unknown key(s) size"]),
    ("features-d-0", {"environments__garnet__features": "random:d=0"}, ["'environments.garnet.features'", "d=0"]),
    ("policy-unknown", {"environments__garnet__policy": "rnn"}, ["'environments.garnet.policy'", "'rnn'"]),
    (
        "horizon-too-big",
        {"environments__garnet__horizons": [3, 6, 10**15]},
        ["'environments.garnet.horizons'", "needs about"],
    ),
    (
        "reference-horizon-not-swept",
        {"reference": {"horizon": 7, "batch_size": 2}},
        ["reference.horizon'", "not one of the horizons"],
    ),
    (
        "constant-batch-1",
        {"baselines": ["none", "constant"], "batch_sizes": [1, 2], "reference": {"horizon": 6, "batch_size": 2}},
        ["batch_sizes'", "constant"],
    ),
    (
        "rollin-episodic",
        {"horizons": [3, "inf"], "reference": {"horizon": 3, "batch_size": 2}},
        ["'environments.corridor.estimators'", "rollin_rollout", "horizon inf"],
    ),
    (
        "training-unknown-env",
        {"training__environments": {"maze": {"horizon": 5}}},
        ["'training.environments.maze'", "corridor"],
    ),
    (
        "training-checkpoint-beyond",
        {"training__checkpoints": [0, 50]},
        ["'training.checkpoints'", "beyond training.iterations = 20"],
    ),
    (
        "training-theta-bad",
        {"training__environments": {"corridor": {"horizon": 12, "theta": "ones"}}},
        ["'training.environments.corridor.theta'", "'ones'"],
    ),
    (
        "training-horizon-too-big",
        {"training__environments": {"corridor": {"horizon": 10**15}}},
        ["'training.environments.corridor.horizon'", "needs about"],
    ),
    (
        "deep-tabular-task",
        {"deep__environments__cartpole__env": "gym:FrozenLake-v1"},
        ["'deep.environments.cartpole.env'", "continuous-state"],
    ),
    (
        "deep-policy-negative",
        {"deep__environments__cartpole__policy": "mlp:hidden=-8"},
        ["'deep.environments.cartpole.policy'", "positive"],
    ),
    # what a job would hit, found by the full check (snakemake -n)
    ("seeds-2-to-64", {"seeds": [2**64]}, ["'seeds.0'", "maximum of 9223372036854775807"]),
    ("training-seeds-2-to-64", {"training__seeds": [0, 2**64]}, ["'training.seeds.1'", "maximum"]),
    ("bootstrap-null", {"bootstrap": NULL}, ["'bootstrap'", "None is not of type 'object'"]),
    ("resamples-null", {"bootstrap": {"resamples": NULL, "confidence": 0.95}}, ["'bootstrap.resamples'"]),
    ("garnet-episodic-no-absorbing", {"environments__garnet__horizons": [3, "inf"],
                                      "environments__garnet__reference": {"horizon": 3, "batch_size": 2}},
     ["'environments.garnet.horizons'", "inf with gamma = 1", "no absorbing", "allowed: finite horizons"]),
    ("two-theta-names-one-point", {"environments__corridor__thetas": {"a": "zeros", "b": "zeros"}},
     ["'environments.corridor.thetas.b'", "same point as environments.corridor.thetas.a", "distinct points"]),
    ("two-theta-names-one-point-reordered", {"thetas": {"a": "random:seed=3,scale=1", "b": "random:scale=1,seed=3"}},
     ["thetas.b'", "same point"]),
    ("theta-seed-negative", {"thetas": {"r": "random:seed=-1"}}, ["thetas.r'", "seed=-1", "a seed"]),
    ("theta-scale-nan", {"thetas": {"r": "random:seed=0,scale=nan"}}, ["thetas.r'", "scale=nan", "finite"]),
    ("garnet-seed-2-to-64",
     {"environments__garnet__env": "garnet:states=5,actions=2,branching=2,seed=18446744073709551616"},
     ["'environments.garnet.env'", "seed=18446744073709551616"]),
    ("frozenlake-slippery-maybe", {"environments__garnet__env": "gym:FrozenLake-v1:is_slippery=maybe",
                                   "environments__garnet__gamma": 0.9},
     ["'environments.garnet.env'", "is_slippery='maybe'", "true or false"]),
    ("rewards-1e308", {"environments__garnet__env": "chain:large=1e308"}, ["'environments.garnet.env'", "|r| <="]),
    ("replicates-huge", {"replicates": 99999999999}, ["'environments.", "a job of it", "replicates 99999999999",
                                                      "needs about"]),
    ("training-step-sizes-repeated", {"training__step_sizes": [0.1, 0.1]}, ["'training.step_sizes'", "non-unique"]),
    ("env-lam-without-gae", {"environments__garnet__lam": 0.5},
     ["'environments.garnet.lam'", "reinforce, reward_to_go", "has lam", "allowed only with gae"]),
    ("sign-flip-samples-huge", {"practice_audit__sign_flip__samples": 10**12},
     ["'practice_audit.sign_flip'", "the job: samples 1000000000000", "needs about"]),
    ("sign-flip-for-hours", {"practice_audit__sign_flip__samples": 10**6, "practice_audit__sign_flip__horizon": 1000},
     ["'practice_audit.sign_flip'", "samples 1000000", "horizon 1000", "1 h limit"]),
    ("horizon-truth-for-hours", {"horizons": [3, 6, 100000000]},
     ["'environments.corridor'", "a job of it", "horizon 100000000", "exact gradient", "1 h limit"]),
    ("gamma-near-one-with-an-infinite-horizon", {"environments__garnet__gamma": 0.99999999,
                                                  "environments__garnet__horizons": [3, 6, "inf"]},
     ["'environments.garnet'", "a job of it", "gamma 0.99999999", "needs about"]),
    ("min-trajectories-huge", {"environments__corridor__min_trajectories": 10**13},
     ["'environments.corridor'", "min_trajectories 10000000000000", "needs about"]),
    ("training-iterations-huge", {"training__iterations": 10**10, "training__checkpoints": [0]},
     ["'training.iterations'", "needs about"]),
    ("normalization-too-large", {"practice_audit__normalization__problems__bandit__env":
                                 "garnet:states=30,actions=4,branching=4,seed=0",
                                 "practice_audit__normalization__problems__bandit__horizon": 10},
     ["'practice_audit.normalization.problems.bandit'", "trajectories to enumerate", "a shorter horizon"]),
    ("normalization-infinite-horizon", {"practice_audit__normalization__problems__bandit__horizon": "inf",
                                        "practice_audit__normalization__problems__bandit__gamma": 0.5},
     ["'practice_audit.normalization.problems.bandit.horizon'", "not of type 'integer'"]),
    (
        "deep-policy-unknown",
        {"deep__environments__cartpole__policy": "rnn:size=3"},
        ["'deep.environments.cartpole.policy'", "'rnn:size=3'"],
    ),
]


@pytest.mark.parametrize("changes,must", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_config_bad_input(changes, must, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = config_with(**copy.deepcopy(changes))
    with pytest.raises(UserError) as info:
        load_config(cfg, ROOT / SCHEMA)
    message = str(info.value)
    assert "\n" not in message and message.startswith("config key '"), message
    for text in must:
        assert text in message, f"{text!r} not in {message!r}"
    assert list(tmp_path.iterdir()) == []


def test_the_test_config_is_valid():
    studies, training, deep = load_config(config_with(), ROOT / SCHEMA)
    assert set(studies) == {"corridor", "garnet", "lqr"} and training is not None and deep is not None


def test_schema_errors_are_short():
    """jsonschema's own message for a large instance is cut, never the whole instance."""
    cfg = config_with(environments={"x": {"env": "short_corridor", "thetas": {f"t{i}": 1 for i in range(200)}}})
    with pytest.raises(UserError) as info:
        load_config(cfg, ROOT / SCHEMA)
    assert len(str(info.value)) < 400 and "environments.x.thetas" in str(info.value)


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("workflow")
    for item in ("Snakefile", "workflow", "config", ".test", "profiles"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / item)
    return dest


@pytest.mark.parametrize(
    "changes,must",
    [
        ({"environments__garnet__env": "garnet:states=-1"}, ["'environments.garnet.env'", "states=-1"]),
        ({"replicates": "many"}, ["'replicates'", "not of type 'integer'"]),
        ({"environments__garnet__horizons": [3, "inf"], "environments__garnet__reference": {"horizon": 3,
                                                                                            "batch_size": 2}},
         ["'environments.garnet.horizons'", "inf with gamma = 1"]),
        ({"seeds": [2**64]}, ["'seeds.0'", "maximum"]),
    ],
    ids=["spec-built", "schema", "episodic-without-end", "seed-2-to-64"],
)
def test_snakemake_dry_run_prints_one_line(changes, must, workflow_copy, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(config_with(**changes)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(config)],
        cwd=workflow_copy,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode != 0
    lines = [
        line for line in proc.stderr.strip().splitlines() if not line.startswith("Using workflow specific profile")
    ]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("invalid config: config key ")
    for text in must:
        assert text in lines[0]
    assert not (workflow_copy / "results").exists()


def test_the_work_limit_is_refused_up_front_and_can_be_lifted(tmp_path, monkeypatch, capsys):
    """A request over the work limit is one line naming the options and the estimate, before anything runs;
    ``PGEXP_NO_LIMITS=1`` is the documented way to insist (memory is still checked)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(memory, "WORK_LIMIT_SECONDS", 1e-9)
    monkeypatch.delenv(memory.NO_LIMITS_VAR, raising=False)
    assert main([*EST, "--output", "o.parquet"]) == 2
    check_one_line(capsys.readouterr().err, "estimate", ["--replicates 3 x --batch-size 2", "of computing",
                                                         "PGEXP_NO_LIMITS=1"])
    assert main(["decompose", *CORRIDOR, "--horizon", "4", "--output", "d.parquet"]) == 2
    check_one_line(capsys.readouterr().err, "decompose", ["--horizon 4", "of computing"])
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv(memory.NO_LIMITS_VAR, "1")
    assert main(["-q", *EST, "--output", "o.parquet"]) == 0
    monkeypatch.setattr(memory, "available_bytes", lambda: 1.0)
    assert main([*EST, "--output", "p.parquet"]) == 2  # memory stays checked
    assert "needs about" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ config files

CONFIG_FILE_CASES = [
    ("syntax", "replicates: 12\nseeds: [0\n", ["line 3, column 1", "did not find expected"]),
    ("tab", "replicates: 12\nenvironments:\n\tcorridor: {env: short_corridor}\n", ["line 3", "a tab"]),
    ("empty", "", ["empty", "a mapping of config keys"]),
    ("comments-only", "# nothing here\n", ["empty"]),
    ("top-level-list", "- replicates\n- seeds\n", ["line 1", "the top level is a list"]),
    ("top-level-scalar", "12\n", ["the top level is a int"]),
    ("duplicate-key", "replicates: 12\nseeds: [0]\nreplicates: 13\n",
     ["line 3, column 1", "key 'replicates' given twice (first on line 1)"]),
    ("duplicate-nested-key", "environments:\n  a: {env: short_corridor}\n  a: {env: chain}\n",
     ["line 3", "key 'a' given twice"]),
]


@pytest.mark.parametrize("text,must", [c[1:] for c in CONFIG_FILE_CASES], ids=[c[0] for c in CONFIG_FILE_CASES])
def test_config_file_mistakes_name_the_file_and_line(text, must, tmp_path):
    from pgexp.study.files import read_config_file

    path = tmp_path / "study.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as info:
        read_config_file(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)), message
    for word in must:
        assert word in message, (word, message)


def test_merge_keys_and_anchors_are_no_duplicates(tmp_path):
    from pgexp.study.files import read_config_file

    path = tmp_path / "study.yaml"
    path.write_text("base: &b {replicates: 3, seeds: [0]}\nother:\n  <<: *b\n  replicates: 4\n")
    assert read_config_file(path)["other"] == {"replicates": 4, "seeds": [0]}
    for config in (ROOT / "config" / "config.yaml", TEST_CONFIG, *sorted((ROOT / "config" / "studies").glob("*.yaml"))):
        assert read_config_file(config) == yaml.safe_load(config.read_text()), config


def snakemake_dry_run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", *args], cwd=workdir,
                          capture_output=True, text=True, env=env, timeout=300)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.strip().splitlines()
             if not line.startswith("Using workflow specific profile")]
    assert proc.returncode != 0 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr + proc.stdout
    return lines[0]


@pytest.mark.parametrize("name", ["syntax", "tab", "empty", "top-level-list", "duplicate-key"])
def test_snakemake_dry_run_names_the_default_config_file_and_line(name, workflow_copy, tmp_path):
    """The default config/config.yaml is read strictly before Snakemake's own loader sees it."""
    text, must = next((t, m) for n, t, m in CONFIG_FILE_CASES if n == name)
    work = tmp_path / "wf"
    shutil.copytree(workflow_copy, work)
    (work / "config" / "config.yaml").write_text(text)
    line = one_error_line(snakemake_dry_run(work))
    assert line.startswith("invalid config: config/config.yaml"), line
    for word in must:
        assert word in line, (word, line)
    assert not (work / "results").exists()


def test_snakemake_dry_run_refuses_a_repeated_key_in_a_configfile(workflow_copy, tmp_path):
    """A file given with --configfile: Snakemake's loader lets the last key win; the workflow refuses it."""
    config = tmp_path / "study.yaml"
    config.write_text(TEST_CONFIG.read_text() + "\nreplicates: 13\n")
    line = one_error_line(snakemake_dry_run(workflow_copy, "--configfile", str(config)))
    assert "invalid config: " in line and "study.yaml, line" in line and "key 'replicates' given twice" in line


def test_a_plugin_hyperparameter_named_like_a_config_key_is_refused(tmp_path, monkeypatch):
    """It would become a config key: ``thetas`` is one (read off the schema template), named at the 'plugins' key."""
    from pgexp.estimators import ESTIMATORS

    monkeypatch.chdir(tmp_path)
    plugin = tmp_path / "clash_plugin.py"
    plugin.write_text("import pgexp\npgexp.register_estimator('clash', lambda b: b.rewards,\n"
                      "    hyperparameters=[pgexp.Hyperparameter('thetas', 1.0, 'clash')])\n")
    try:
        with pytest.raises(UserError) as info:
            load_config(config_with(plugins=[str(plugin)]), ROOT / SCHEMA)
    finally:
        ESTIMATORS.pop("clash", None)
    message = str(info.value)
    assert message.startswith("config key 'plugins': ") and "'thetas' is taken (a key of the study config)" in message


def test_a_paper_study_seed_beyond_64_bits_is_refused():
    from pgexp.study.paper import load_paper_study

    study = {"name": "sutton_barto_fig13_1", "env": "short_corridor", "seeds": [2**64],
             "arms": {"a": {"estimator": "reinforce", "step_sizes": [0.1], "iterations": 5}}}
    with pytest.raises(UserError, match=r"config key 'study.seeds': expected a list of integers in \[0, 2\^63 - 1\]"):
        load_paper_study({"study": study})
