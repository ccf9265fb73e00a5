"""The ``pgexp`` command line: thin wrappers that parse options and call the library.

Contracts (called by tools outside the project -- keep names, options and fields exactly):

    pgexp exact  --env SPEC [--features SPEC] [--policy SPEC] [--theta zeros|random:seed=S,scale=X|PATH.npy]
                 [--gamma G] [--horizon H|inf] [--output PATH.json]
    pgexp estimate (problem options) --estimator NAME [--baseline NAME] [--lam L]
                   --batch-size N --replicates M --seed S --output OUT.parquet
    pgexp metrics IN.parquet... --output OUT.parquet
    pgexp train (problem options) --estimator --baseline --batch-size --step-size --iterations --seed --output
    pgexp exact-variance (problem options) --estimator --baseline --horizon      -> JSON: mean, trace_cov, cov
    pgexp bench exact --states N | bench sampler

A user's mistake (bad spec, malformed MDP file) prints one line ``pgexp: error: ...`` and exits 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from pgexp import __version__
from pgexp.cli import plot as plot_command
from pgexp.errors import UserError

ENV_HELP = (
    "problem spec NAME or NAME:key=value,...: "
    "garnet:states=100,actions=4,branching=5,seed=0 | chain:length=6 | short_corridor | "
    "gym:FrozenLake-v1:map_name=4x4,is_slippery=true | file:PATH(.npz|.yaml|.json)"
)


def add_problem_options(p: argparse.ArgumentParser) -> None:
    """The options that name a problem and a policy point; shared by every command that takes one."""
    g = p.add_argument_group("problem")
    g.add_argument("--env", required=True, metavar="SPEC", help=ENV_HELP)
    g.add_argument("--features", metavar="SPEC", default=None,
                   help="tabular | random:d=D,seed=S | native (the problem's own phi); "
                        "default: native when the problem brings features, else tabular")
    g.add_argument("--policy", metavar="SPEC", default=None,
                   help="linear (softmax-linear; default) | mlp:hidden=64x64,activation=tanh|relu,seed=0 (torch MLP)")
    g.add_argument("--theta", metavar="SPEC", default=None,
                   help="init (the policy's own initialisation; default for mlp) | zeros (default for linear) | "
                        "random:seed=S,scale=X | PATH.npy (length = policy dim)")
    g.add_argument("--threads", type=int, default=None, metavar="N", help="torch threads (neural policies)")
    g.add_argument("--gamma", type=float, default=None, metavar="G", help="discount in [0, 1]; overrides the problem's")
    g.add_argument("--horizon", default=None, metavar="H|inf", help="positive integer or inf; overrides the problem's "
                   "(pgexp estimate: a comma-separated list sweeps horizons)")


def problem_from_args(args: argparse.Namespace):
    from pgexp.problems.problem import build_problem

    return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                         gamma=args.gamma, horizon=args.horizon)


# ----------------------------------------------------------------------------------- commands

def cmd_exact(args: argparse.Namespace) -> int:
    from pgexp.exact.summary import exact_summary
    from pgexp.io import dump

    problem = problem_from_args(args)
    dump(exact_summary(problem, full=args.full), args.output, indent=args.indent)
    return 0


def _int_or_text(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


def _list(text: str | None, convert, what: str) -> list:
    if text is None:
        return [None]
    try:
        return [convert(x.strip()) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{what}: {text!r}; allowed: a value or a comma-separated list") from None


def _tags(items: list[str] | None) -> dict[str, str]:
    tags = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UserError(f"--tag: {item!r}; allowed: NAME=VALUE with NAME an identifier")
        tags[key] = value
    return tags


def cmd_estimate(args: argparse.Namespace) -> int:
    from pgexp.io import write_table
    from pgexp.problems.problem import build_problem
    from pgexp.provenance import provenance
    from pgexp.runs.estimate import run_estimate_grid

    horizons = _list(args.horizon, str, "--horizon")
    batch_sizes = _list(args.batch_size, int, "--batch-size")
    from pgexp.deep import is_continuous_gym

    if is_continuous_gym(args.env):  # the neural track: no exact gradient, a Monte-Carlo reference instead
        import pyarrow as pa

        from pgexp.deep import deep_estimate

        tables = [deep_estimate(args.env, args.policy, args.theta, args.estimator, args.baseline, args.lam, batch_sizes,
                                args.replicates, args.seed, args.reference_batch, args.gamma, h, args.threads,
                                tags=_tags(args.tag)) for h in horizons]
        write_table(pa.concat_tables(tables), args.output, provenance(seed=args.seed, kind="estimate", track="deep"))
        return 0

    def build(h):
        return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                             gamma=args.gamma, horizon=h)

    table = run_estimate_grid(build, horizons, batch_sizes, args.estimator, args.baseline, lam=args.lam,
                              replicates=args.replicates, seed=args.seed, tags=_tags(args.tag))
    write_table(table, args.output, provenance(seed=args.seed, kind="estimate"))
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from pgexp.analysis.metrics import metrics_frame
    from pgexp.io import read_frame, write_frame
    from pgexp.problems import parse_horizon
    from pgexp.provenance import provenance

    frames = [read_frame(p) for p in args.inputs]
    if args.reference_horizon == "any":
        ref: int | str | None = "any"
    else:
        ref_h = parse_horizon(_int_or_text(args.reference_horizon), what="--reference-horizon") if args.reference_horizon else None
        ref = -1 if args.reference_horizon and ref_h is None else ref_h
    out = metrics_frame(frames, confidence=args.confidence, n_resamples=args.resamples, reference_horizon=ref,
                        reference_batch_size=args.reference_batch_size)
    meta = provenance(kind="metrics", inputs=[str(p) for p in args.inputs])
    if args.csv:
        _write_table_csv(out, args.output, meta)
    else:
        write_frame(out, args.output, meta)
    return 0


def cmd_slopes(args: argparse.Namespace) -> int:
    import pandas as pd

    from pgexp.analysis.slopes import fit_slopes
    from pgexp.io import read_frame, write_frame
    from pgexp.provenance import provenance

    df = pd.concat([read_frame(p) for p in args.inputs], ignore_index=True)
    out = fit_slopes(df, n_resamples=args.resamples, confidence=args.confidence)
    write_frame(out, args.output, provenance(kind="slopes", inputs=[str(p) for p in args.inputs]))
    return 0


def cmd_aggregate(args: argparse.Namespace) -> int:
    """Concatenate per-environment tables into one parquet + CSV each (sorted: bit-for-bit reruns)."""
    from pathlib import Path

    import pandas as pd

    from pgexp.io import atomic_write_text, read_frame, write_frame
    from pgexp.provenance import provenance

    outdir = Path(args.outdir)
    tables = {}
    optional = {"exact_variance": args.exact, "comparisons": args.comparisons, "decomposition": args.decomposition}
    for name, paths in (("metrics", args.metrics), ("slopes", args.slopes), *optional.items()):
        if name in optional and not paths:
            continue
        df = pd.concat([read_frame(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()
        keys = [c for c in ("env_name", "theta_name", "estimator", "baseline", "horizon", "batch_size", "seed") if c in df.columns]
        if keys:
            df = df.sort_values(keys, kind="stable").reset_index(drop=True)
        tables[name] = df
    if "exact_variance" in tables and len(tables["metrics"]):
        tables["metrics"] = _join_exact(tables["metrics"], tables["exact_variance"])
    for name, df in tables.items():
        write_frame(df, outdir / f"{name}.parquet", provenance(kind=name))
        atomic_write_text(outdir / f"{name}.csv", df.to_csv(index=False))
    return 0


def _join_exact(metrics, exact):
    """Add ``var_per_traj_exact`` and ``exact_in_ci`` (the exact value inside the Monte-Carlo CI) to metrics.

    ``exact_in_ci`` judges only pairs whose exact value is the same estimator's variance: the exact
    ``optimal`` baseline is the oracle per-coordinate optimum, a lower bound for the Monte-Carlo one
    fitted on an independent batch, so it is left unjudged (NA).
    """
    keys = ["env_name", "theta_name", "estimator", "baseline", "horizon"]
    ex = exact[keys + ["var_per_traj_exact"]].drop_duplicates(keys)
    out = metrics.merge(ex, on=keys, how="left")
    has = out["var_per_traj_exact"].notna() & (out["baseline"] != "optimal")
    out["exact_in_ci"] = pd_nullable_bool(has, (out["var_per_traj_lo"] <= out["var_per_traj_exact"])
                                          & (out["var_per_traj_exact"] <= out["var_per_traj_hi"]))
    return out


def pd_nullable_bool(mask, values):
    import pandas as pd

    return pd.Series(values.where(mask), dtype="boolean")


def cmd_train(args: argparse.Namespace) -> int:
    """Gradient ascent runs over the grid step sizes x seeds; one parquet, checkpoints beside it."""
    import pyarrow as pa

    from pgexp.io import write_table
    from pgexp.provenance import provenance
    from pgexp.runs.train import run_table, train_run

    step_sizes = _list(args.step_size, float, "--step-size")
    seeds = _list(args.seed, int, "--seed")
    from pgexp.deep import is_continuous_gym

    if is_continuous_gym(args.env):  # the neural track: evaluation return instead of the exact J
        from pgexp.deep import deep_train

        tables = [deep_train(args.env, args.policy, args.estimator, args.baseline, args.lam, args.batch_size, eta,
                             args.iterations, seed, args.optimizer, args.eval_episodes, args.gamma, args.horizon,
                             args.threads, theta=args.theta, tags=_tags(args.tag))
                  for eta in step_sizes for seed in seeds]
        write_table(pa.concat_tables(tables), Path(args.output), provenance(kind="train", track="deep", seed=seeds))
        return 0
    problem = problem_from_args(args)
    checkpoints = tuple(_list(args.checkpoints, int, "--checkpoints")) if args.checkpoints else ()
    if len(step_sizes) * len(seeds) > 1 and checkpoints:
        raise UserError("--checkpoints: give one --step-size and one --seed (checkpoint files are per run)")
    tables = []
    out = Path(args.output)
    for eta in step_sizes:
        for seed in seeds:
            run = train_run(problem, args.estimator, args.baseline, lam=args.lam, batch_size=args.batch_size,
                            step_size=eta, iterations=args.iterations, seed=seed, optimizer=args.optimizer,
                            checkpoints=checkpoints)
            params = {"estimator": args.estimator, "baseline": args.baseline, "batch_size": int(args.batch_size),
                      "step_size": float(eta), "optimizer": args.optimizer, "seed": int(seed),
                      "iterations": int(args.iterations), **_tags(args.tag)}
            tables.append(run_table(problem, run, params))
            last = problem.theta
            for t in checkpoints:  # a diverged run keeps its last finite theta at later checkpoints
                last = run.checkpoints.get(t, last)
                _save_npy(out.with_name(f"{out.stem}.theta{t}.npy"), last)
    write_table(pa.concat_tables(tables), out, provenance(kind="train", seed=seeds))
    return 0


def cmd_exact_variance(args: argparse.Namespace) -> int:
    """Exact mean / covariance of a single-trajectory estimator (enumeration or DP)."""
    from pgexp.exact.moments import exact_variance
    from pgexp.io import dump

    problem = problem_from_args(args)
    out = exact_variance(problem, args.estimator, args.baseline, constant=args.constant, method=args.method)
    out["env"] = problem.mdp.name or problem.env_spec
    dump(out, args.output, indent=args.indent)
    return 0


def cmd_exact_curves(args: argparse.Namespace) -> int:
    """Exact per-trajectory variance over horizons for the pairs with an exact counterpart (a table)."""
    import pandas as pd

    from pgexp.exact.moments import EXACT_PAIRS, exact_curves
    from pgexp.problems.problem import build_problem
    from pgexp.provenance import provenance

    horizons = [int(h) for h in _list(args.horizon, str, "--horizon") if h not in (None, "inf")]
    wanted = [tuple(p.split("~", 1)) for p in _list(args.pairs, str, "--pairs")] if args.pairs else list(EXACT_PAIRS)
    pairs = [p for p in wanted if p in EXACT_PAIRS]

    def build(h):
        return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                             gamma=args.gamma, horizon=h)

    df = pd.DataFrame(exact_curves(build, horizons, pairs),
                      columns=["estimator", "baseline", "horizon", "var_per_traj_exact", "method", "dim"])
    for k, v in _tags(args.tag).items():
        df.insert(0, k, v)
    _write_table_csv(df, args.output, provenance(kind="exact_variance"))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Paired comparisons of every two estimator~baseline pairs of a cell (common random numbers)."""
    from pgexp.analysis.compare import paired_comparisons
    from pgexp.io import read_frame
    from pgexp.problems import parse_horizon
    from pgexp.provenance import provenance

    cells = None
    if args.cell:
        cells = []
        for item in args.cell:
            h, _, n = item.partition(":")
            ph = parse_horizon(_int_or_text(h), what="--cell")
            cells.append((-1 if ph is None else ph, int(n)))
    out = paired_comparisons([read_frame(p) for p in args.inputs], cells=cells, confidence=args.confidence,
                             n_resamples=args.resamples)
    _write_table_csv(out, args.output, provenance(kind="comparisons"))
    return 0


def cmd_decompose(args: argparse.Namespace) -> int:
    """Exact variance decomposition (states visited vs actions given the states) by enumeration."""
    from pgexp.exact.decomposition import decomposition_table
    from pgexp.exact.moments import EXACT_PAIRS
    from pgexp.problems.problem import build_problem
    from pgexp.provenance import provenance

    horizons = [int(h) for h in _list(args.horizon, str, "--horizon") if h not in (None, "inf")]
    wanted = [tuple(p.split("~", 1)) for p in _list(args.pairs, str, "--pairs")] if args.pairs else list(EXACT_PAIRS)

    def build(h):
        return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                             gamma=args.gamma, horizon=h)

    df = decomposition_table(build, horizons, [p for p in wanted if p in EXACT_PAIRS], max_trajectories=args.max_trajectories)
    for k, v in _tags(args.tag).items():
        df.insert(0, k, v)
    _write_table_csv(df, args.output, provenance(kind="decomposition"))
    return 0


def cmd_curves(args: argparse.Namespace) -> int:
    """Learning curves and the per-configuration summary (with the selected step sizes)."""
    import pandas as pd

    from pgexp.analysis.curves import learning_curves, training_summary
    from pgexp.io import read_frame
    from pgexp.provenance import provenance

    runs = pd.concat([read_frame(p) for p in args.inputs], ignore_index=True)
    kw = dict(confidence=args.confidence, n_resamples=args.resamples)
    _write_table_csv(learning_curves(runs, **kw), args.curves, provenance(kind="learning_curves"))
    _write_table_csv(training_summary(runs, threshold=args.threshold, **kw), args.summary,
                     provenance(kind="training_summary", threshold=args.threshold))
    return 0


def _write_table_csv(df, path: str, meta: dict) -> None:
    """Parquet (with provenance) and CSV beside it, both atomic."""
    from pgexp.io import atomic_write_text, write_frame

    write_frame(df, path, meta)
    atomic_write_text(Path(path).with_suffix(".csv"), df.to_csv(index=False))


def _save_npy(path: Path, array) -> None:
    import os
    import tempfile

    import numpy as np

    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy")
    os.close(fd)
    np.save(tmp, array)
    os.replace(tmp, path)


TABLE_OPTIONS = ("metrics", "slopes", "exact", "curves", "summary", "training_variance", "comparisons", "decomposition",
                 "deep_quality", "deep_summary")


def _tables(args: argparse.Namespace) -> dict:
    """The tables named on the command line, by key (those not given are absent)."""
    from pgexp.io import read_frame

    return {k: read_frame(getattr(args, k)) for k in TABLE_OPTIONS if getattr(args, k, None)}


def cmd_report(args: argparse.Namespace) -> int:
    import datetime
    import json

    from pgexp.provenance import provenance
    from pgexp.report.html import build_report
    from pgexp.study.config import config_hash

    config = json.loads(args.config_json) if args.config_json else {}
    tables = _tables(args)
    figures = {Path(f).stem: f for f in args.figures}
    prov = provenance(kind="report")
    prov["config_hash"] = prov.get("config_hash") or config_hash(config)
    prov["created"] = datetime.date.today().isoformat()
    training = {k: tables[k] for k in ("curves", "summary", "training_variance") if k in tables}
    extra = []
    if any(k in tables for k in ("exact", "comparisons", "decomposition")):
        from pgexp.report.variance import variance_section

        _, html_block = variance_section(tables["metrics"], tables["slopes"], tables.get("exact"),
                                         tables.get("comparisons"), tables.get("decomposition"))
        if html_block:
            extra.append(("How to reduce variance: exact references, paired comparisons, sources", html_block))
    if "deep_quality" in tables:
        from pgexp.report.deep import deep_section

        extra.append(("Neural policies on continuous-state tasks",
                      deep_section(tables["deep_quality"], tables.get("deep_summary"), figures)))
    build_report(config=config, metrics=tables["metrics"], slopes=tables["slopes"], figures=figures,
                 provenance=prov, output=args.output, training=training or None, extra_sections=extra or None)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pgexp import bench
    from pgexp.io import dump

    result = bench.run(args.what, states=args.states, repeats=args.repeats, batch_size=args.batch_size, threads=args.threads)
    dump(result, None)
    return 0


def cmd_envs(args: argparse.Namespace) -> int:
    from pgexp.problems import REGISTRY

    for name, entry in sorted(REGISTRY.items()):
        keys = ", ".join(f"{k}={v}" for k, v in entry.defaults.items()) or "-"
        print(f"{name:16s} {entry.doc}\n{'':16s} keys: {keys}; gamma, horizon")
    return 0


# ----------------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgexp",
        description="Measure how noisy policy-gradient estimators are, against the exact gradient.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'pgexp COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"pgexp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("exact", help="exact J, grad J, J*, V, Q, A, pi and occupancy of a problem (JSON)",
                       description="Print (or write) one JSON object with the exact quantities of a problem at theta: "
                                   "J, grad, J_star, V, Q, A, pi, d (normalised occupancy), num_states, num_actions, dim. "
                                   "For a finite horizon V/Q/A are the h = 0 values (--full adds the time-indexed ones).")
    add_problem_options(p)
    p.add_argument("--output", metavar="PATH.json", default=None, help="write the JSON here (atomically) instead of stdout")
    p.add_argument("--full", action="store_true", help="add time-indexed V_steps, Q_steps and state_dist (finite horizon)")
    p.add_argument("--indent", type=int, default=None, help="pretty-print the JSON with this indent")
    p.set_defaults(func=cmd_exact)

    from pgexp.estimators import BASELINES, ESTIMATORS

    p = sub.add_parser("estimate", help="M independent batch estimates of grad J with one estimator (parquet)",
                       description="Draw --replicates independent batch estimates (each the mean of --batch-size "
                                   "trajectories) and write one parquet row per replicate: the job's parameters, "
                                   "replicate, grad (list, length dim), env_steps, batch_return_mean, and the exact "
                                   "J_exact, J_star, grad_exact. Trajectories depend on the problem, theta, horizon, "
                                   "batch size and seed -- not on the estimator -- so estimators are compared on the "
                                   "same trajectories.")
    add_problem_options(p)
    g = p.add_argument_group("estimator")
    g.add_argument("--estimator", required=True, choices=list(ESTIMATORS), help="; ".join(f"{k}: {v.doc}" for k, v in ESTIMATORS.items()))
    g.add_argument("--baseline", default="none", choices=list(BASELINES), help="baseline (default none)")
    g.add_argument("--lam", type=float, default=0.95, metavar="L", help="GAE lambda in [0, 1] (gae only; default 0.95)")
    g.add_argument("--batch-size", required=True, metavar="N", help="trajectories per batch estimate "
                   "(a comma-separated list with --horizon list runs the grid of cells in one process)")
    g.add_argument("--replicates", type=int, required=True, metavar="M", help="independent batch estimates per cell")
    g.add_argument("--seed", type=int, required=True, metavar="S", help="seed of the job's random stream")
    p.add_argument("--tag", action="append", metavar="NAME=VALUE", help="add a constant string column (repeatable)")
    p.add_argument("--reference-batch", type=int, default=2000, metavar="N",
                   help="continuous-state problems (gym:CartPole-v1, gym:Acrobot-v1): episodes of the Monte-Carlo "
                        "reference gradient that stands in for the exact one (default 2000)")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="written atomically")
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("metrics", help="bias, variance, MSE, cosine, SNR with BCa CIs; one row per job cell",
                       description="Read estimate files and write one row per job cell (file x horizon x batch size) with bias_sq, trace_cov, "
                                   "var_per_traj, mse, rel_mse, cosine, snr, each with _lo/_hi BCa bootstrap bounds.")
    p.add_argument("inputs", nargs="+", metavar="IN.parquet", help="files written by pgexp estimate")
    p.add_argument("--output", required=True, metavar="OUT.parquet")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--reference-horizon", default=None, metavar="H|inf|any",
                   help="label cells at this horizon (any: every horizon) as the batch-size sweep (column 'sweep')")
    p.add_argument("--reference-batch-size", type=int, default=None, metavar="N",
                   help="label cells at this batch size as the horizon sweep (column 'sweep')")
    p.add_argument("--csv", action="store_true", help="also write OUT.csv beside the parquet")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("slopes", help="log-log slopes of per-trajectory variance vs horizon, with bootstrap CIs",
                       description="Fit log var_per_traj = a + slope log H per (env_name, theta_name, estimator, "
                                   "baseline, batch_size, seed) over the finite horizons of the estimate files; "
                                   "percentile-bootstrap CI from resampling each horizon's replicates.")
    p.add_argument("inputs", nargs="+", metavar="IN.parquet", help="files written by pgexp estimate")
    p.add_argument("--output", required=True, metavar="OUT.parquet")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--resamples", type=int, default=2000)
    p.set_defaults(func=cmd_slopes)

    p = sub.add_parser("aggregate", help="concatenate per-environment tables into results/tables (parquet + CSV)")
    p.add_argument("--metrics", nargs="*", default=[], metavar="M.parquet")
    p.add_argument("--slopes", nargs="*", default=[], metavar="S.parquet")
    p.add_argument("--exact", nargs="*", default=[], metavar="E.parquet", help="exact variance curves (pgexp exact-curves)")
    p.add_argument("--comparisons", nargs="*", default=[], metavar="C.parquet", help="paired comparisons (pgexp compare)")
    p.add_argument("--decomposition", nargs="*", default=[], metavar="D.parquet", help="variance decomposition (pgexp decompose)")
    p.add_argument("--outdir", required=True, metavar="DIR")
    p.set_defaults(func=cmd_aggregate)

    p = sub.add_parser("train", help="stochastic gradient ascent with an estimator; exact J per iteration (parquet)",
                       description="theta <- theta + eta g for --iterations steps. One row per iteration: iteration, J "
                                   "(exact), J_star, env_steps (cumulative), grad_norm, step_norm, diverged. A NaN or "
                                   "overflow stops the run, recorded as diverged (exit 0). --estimator exact ascends "
                                   "the exact gradient. Comma-separated --step-size / --seed lists run the grid in one "
                                   "process. --checkpoints T1,T2 writes theta at those iterations beside the output "
                                   "as OUT.theta<T>.npy.")
    add_problem_options(p)
    g = p.add_argument_group("training")
    g.add_argument("--estimator", required=True, choices=["exact", *ESTIMATORS], help="estimator, or exact")
    g.add_argument("--baseline", default="none", choices=list(BASELINES))
    g.add_argument("--lam", type=float, default=0.95, metavar="L", help="GAE lambda (gae only)")
    g.add_argument("--batch-size", type=int, required=True, metavar="N")
    g.add_argument("--step-size", required=True, metavar="ETA", help="step size (or a comma-separated list)")
    g.add_argument("--optimizer", default="sga", choices=["sga", "adam"])
    g.add_argument("--iterations", type=int, required=True, metavar="T")
    g.add_argument("--checkpoints", default=None, metavar="0,50,100", help="iterations whose theta is saved")
    g.add_argument("--seed", required=True, metavar="S", help="seed (or a comma-separated list)")
    g.add_argument("--eval-episodes", type=int, default=20, help="continuous-state problems: episodes per evaluation")
    p.add_argument("--tag", action="append", metavar="NAME=VALUE", help="add a constant string column (repeatable)")
    p.add_argument("--output", required=True, metavar="OUT.parquet")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("exact-variance", help="exact mean and covariance of a single-trajectory estimator (JSON)",
                       description="Exact mean, trace of covariance and covariance (when dim <= 64) of one "
                                   "trajectory's estimate, by enumerating trajectories (<= 1e6) or by a dynamic "
                                   "programme over (time, state) second moments. Finite horizons; softmax-linear policies.")
    add_problem_options(p)
    p.add_argument("--estimator", required=True, choices=["reinforce", "reward_to_go", "advantage_exact"])
    p.add_argument("--baseline", default="none", choices=["none", "value_exact", "constant", "optimal"],
                   help="constant: a fixed constant (--constant, default J); optimal: the exact per-coordinate optimum")
    p.add_argument("--constant", type=float, default=None, help="the constant of --baseline constant")
    p.add_argument("--method", default="auto", choices=["auto", "enumeration", "dp"])
    p.add_argument("--output", default=None, metavar="PATH.json")
    p.add_argument("--indent", type=int, default=None)
    p.set_defaults(func=cmd_exact_variance)

    p = sub.add_parser("exact-curves", help="exact per-trajectory variance over horizons (table for the figures)",
                       description="For each finite --horizon (comma list) and each estimator~baseline of --pairs "
                                   "that has an exact counterpart (reinforce / reward_to_go with none, value_exact, "
                                   "optimal; advantage_exact), the exact per-trajectory tr Cov; others are skipped.")
    add_problem_options(p)
    p.add_argument("--pairs", default=None, metavar="EST~BASE,...", help="default: every pair with an exact counterpart")
    p.add_argument("--tag", action="append", metavar="NAME=VALUE")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=cmd_exact_curves)

    p = sub.add_parser("compare", help="paired bootstrap comparisons of estimator~baseline pairs (CRN)",
                       description="Within each cell, every two estimator~baseline pairs: ratio of tr Cov and "
                                   "difference of MSE with paired BCa bootstrap CIs (replicates matched: common "
                                   "random numbers), significance flags and the correlation of their errors.")
    p.add_argument("inputs", nargs="+", metavar="IN.parquet", help="files written by pgexp estimate")
    p.add_argument("--cell", action="append", metavar="H:N", help="only these (horizon, batch size) cells (repeatable)")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--resamples", type=int, default=2000)
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("decompose", help="exact variance decomposition: states visited vs actions given the states",
                       description="Law of total variance over the trajectory's state sequence (Tucker et al. 2018): "
                                   "tr Cov g = tr Cov E[g|S] + E tr Cov(g|S), by enumerating trajectories; horizons "
                                   "with more than --max-trajectories are skipped with a reason.")
    add_problem_options(p)
    p.add_argument("--pairs", default=None, metavar="EST~BASE,...")
    p.add_argument("--max-trajectories", type=int, default=500_000)
    p.add_argument("--tag", action="append", metavar="NAME=VALUE")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=cmd_decompose)

    p = sub.add_parser("curves", help="learning curves with bootstrap bands over seeds; steps-to-threshold; step-size choice",
                       description="From pgexp train outputs: per (env_name, estimator, baseline, step_size, iteration) "
                                   "the mean progress (J - J_0)/(J* - J_0) and J with percentile-bootstrap bands over "
                                   "seeds; per configuration the final progress, final J/J*, env steps to reach "
                                   "--threshold progress, diverged seeds, and the selected step size (highest final "
                                   "progress among step sizes with no diverged seed; ties: the smaller).")
    p.add_argument("inputs", nargs="+", metavar="TRAIN.parquet")
    p.add_argument("--curves", required=True, metavar="CURVES.parquet", help="also writes CURVES.csv")
    p.add_argument("--summary", required=True, metavar="SUMMARY.parquet", help="also writes SUMMARY.csv")
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--resamples", type=int, default=2000)
    p.set_defaults(func=cmd_curves)

    plot_command.add_parser(sub)

    p = sub.add_parser("report", help="the self-contained HTML report")
    p.add_argument("--config-json", default=None, help="the study config as JSON (shown in the report)")
    p.add_argument("--metrics", required=True, metavar="metrics.parquet")
    p.add_argument("--slopes", required=True, metavar="slopes.parquet")
    p.add_argument("--curves", default=None, metavar="learning_curves.parquet", help="training: learning curves")
    p.add_argument("--summary", default=None, metavar="training_summary.parquet", help="training: per-configuration summary")
    p.add_argument("--training-variance", default=None, metavar="variance_along_training.parquet",
                   help="training: estimator quality at the checkpoints")
    p.add_argument("--exact", default=None, metavar="exact_variance.parquet", help="exact variance curves")
    p.add_argument("--comparisons", default=None, metavar="comparisons.parquet", help="paired comparisons")
    p.add_argument("--decomposition", default=None, metavar="decomposition.parquet", help="variance by source")
    p.add_argument("--deep-quality", default=None, metavar="deep_quality.parquet", help="neural track: gradient quality")
    p.add_argument("--deep-summary", default=None, metavar="deep_training_summary.parquet", help="neural track: training")
    p.add_argument("--figures", nargs="*", default=[], metavar="FIGURE.pdf", help="figures (their PNGs are embedded)")
    p.add_argument("--output", required=True, metavar="report.html")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("bench", help="benchmarks; print one JSON line",
                       description="Benchmarks (not tests): print one JSON line with the timing and the problem it ran. "
                                   "exact: exact grad J on a sparse garnet with --states N (A=4, branching 5, gamma 0.9, H=inf). "
                                   "sampler: sampling + a reward-to-go estimate on garnet:states=100,actions=4,branching=5 "
                                   "with H=100, single thread; steps_per_second is the median over repeats. "
                                   "pergrad: per-sample gradients of a 64x64 MLP at --batch-size (default 1000) "
                                   "with torch.func.vmap vs a loop of backward(); vmap_seconds, loop_seconds.")
    p.add_argument("what", choices=["exact", "sampler", "pergrad"], help="what to benchmark")
    p.add_argument("--threads", type=int, default=1, help="torch threads (pergrad)")
    p.add_argument("--batch-size", type=int, default=1000, help="trajectories per batch (sampler)")
    p.add_argument("--states", type=int, default=100_000, help="number of states of the garnet (exact)")
    p.add_argument("--repeats", type=int, default=3, help="timed repetitions; the median is reported")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("envs", help="list the problems and their spec keys")
    p.set_defaults(func=cmd_envs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    start = time.perf_counter()
    try:
        status = func(args)
        if args.command in {"estimate", "metrics", "slopes", "aggregate", "plot", "report", "train", "curves",
                            "exact-curves", "compare", "decompose"}:
            # in-process time, for measuring what start-up and Snakemake cost around it (see README)
            print(f"pgexp {args.command}: computed in {time.perf_counter() - start:.3f} s", file=sys.stderr)
        return status
    except UserError as exc:
        print(f"pgexp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pgexp: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `pgexp exact ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
