"""The ``pgexp`` command line: a table from command name to module; each module owns its parser.

Contracts (called by tools outside the project -- keep names, options and fields exactly):

    pgexp exact  --env SPEC [--features SPEC] [--policy SPEC] [--theta zeros|random:seed=S,scale=X|PATH.npy]
                 [--gamma G] [--horizon H|inf] [--output PATH.json]
    pgexp estimate (problem options) --estimator NAME [--baseline NAME] [--lam L]
                   --batch-size N --replicates M --seed S --output OUT.parquet
    pgexp metrics IN.parquet... --output OUT.parquet
    pgexp train (problem options) --estimator --baseline --batch-size --step-size --iterations --seed --output
    pgexp exact-variance (problem options) --estimator --baseline --horizon [--batch-size N,...]
                         -> JSON: mean, trace_cov, cov (+ batch: bias_sq, trace_cov, mse, rel_mse, snr per N)
    pgexp bench exact --states N | bench sampler

Each command module ``pgexp.cli.<name>`` defines ``add_parser(subparsers) -> parser`` (which sets
``func=run``) and ``run(args) -> int``; modules import their heavy dependencies inside ``run`` so that
``pgexp --help`` stays fast.  A user's mistake (:class:`~pgexp.errors.UserError`) prints one line
``pgexp: error: ...`` and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from typing import Callable, Sequence

from pgexp import __version__
from pgexp.errors import UserError

# command -> module, in the order `pgexp --help` lists them
COMMANDS: dict[str, str] = {
    "exact": "pgexp.cli.exact",
    "estimate": "pgexp.cli.estimate",
    "metrics": "pgexp.cli.metrics",
    "slopes": "pgexp.cli.slopes",
    "aggregate": "pgexp.cli.aggregate",
    "train": "pgexp.cli.train",
    "exact-variance": "pgexp.cli.exact_variance",
    "exact-curves": "pgexp.cli.exact_curves",
    "compare": "pgexp.cli.compare",
    "decompose": "pgexp.cli.decompose",
    "lambda-tradeoff": "pgexp.cli.lambda_tradeoff",
    "curves": "pgexp.cli.curves",
    "plot": "pgexp.cli.plot",
    "report": "pgexp.cli.report",
    "bench": "pgexp.cli.bench",
    "envs": "pgexp.cli.envs",
}
# commands whose in-process time is logged (to measure what start-up and Snakemake cost around them; README)
TIMED = {"estimate", "metrics", "slopes", "aggregate", "plot", "report", "train", "curves", "exact-curves", "compare",
         "decompose", "lambda-tradeoff"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgexp",
        description="Measure how noisy policy-gradient estimators are, against the exact gradient.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'pgexp COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"pgexp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    start = time.perf_counter()
    try:
        status = func(args)
        if args.command in TIMED:
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


__all__ = ["COMMANDS", "build_parser", "main"]
