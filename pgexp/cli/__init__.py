"""The ``pgexp`` command line: a table from command name to module; each module owns its parser.

Contracts (called by tools outside the project -- keep names, options and fields exactly; docs/cli.md):

    pgexp exact  --env SPEC [--features SPEC] [--policy SPEC] [--theta zeros|random:seed=S,scale=X|PATH.npy]
                 [--gamma G] [--horizon H|inf] [--output PATH.json]
    pgexp estimate (problem options) --estimator NAME [--baseline NAME] [--lam L]
                   --batch-size N --replicates M --seed S --output OUT.parquet
    pgexp metrics IN.parquet... --output OUT.parquet
    pgexp train (problem options) --estimator --baseline | --pairs E~B ... --batch-size --step-size --iterations
                --seed --output
    pgexp exact-variance (problem options) --estimator --baseline --horizon [--batch-size N,...]
                         -> JSON: mean, trace_cov, cov (+ batch: bias_sq, trace_cov, mse, rel_mse, snr per N)
    pgexp check-estimator NAME                                                  -> one line per check, exit 0/1
    pgexp bench exact --states N | bench sampler | bench pergrad

Every command takes ``--plugin MODULE`` (repeatable; also ``PGEXP_PLUGINS=MODULE,...``): the module is
imported before the parser is built, so the estimators it registers are valid choices everywhere.

Each command module ``pgexp.cli.<name>`` defines ``EXAMPLE`` (one command line, shown under ``--help``),
``add_parser(subparsers) -> parser`` (which sets ``func=run``) and ``run(args) -> int``; modules import
their heavy dependencies inside ``run`` so that ``pgexp --help`` stays fast.

Errors look alike: a user's mistake (:class:`~pgexp.errors.UserError`) and an argparse error both print
one line ``pgexp COMMAND: error: ...`` to stderr and exit 2, with no usage dump (``--help`` shows it)
and no traceback.  ``--quiet`` (before or after the command) turns progress bars off.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

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
    "check-estimator": "pgexp.cli.check_estimator",
    "exact-curves": "pgexp.cli.exact_curves",
    "compare": "pgexp.cli.compare",
    "decompose": "pgexp.cli.decompose",
    "tucker": "pgexp.cli.tucker",
    "lambda-tradeoff": "pgexp.cli.lambda_tradeoff",
    "practice-audit": "pgexp.cli.practice_audit",
    "normalization-bias": "pgexp.cli.normalization_bias",
    "sign-flip": "pgexp.cli.sign_flip",
    "curves": "pgexp.cli.curves",
    "plot": "pgexp.cli.plot",
    "report": "pgexp.cli.report",
    "baseline-variance": "pgexp.cli.baseline_variance",
    "group-variance": "pgexp.cli.group_variance",
    "group-train": "pgexp.cli.group_train",
    "group-curves": "pgexp.cli.group_curves",
    "study-report": "pgexp.cli.study_report",
    "bench": "pgexp.cli.bench",
    "compile": "pgexp.cli.compile",
    "envs": "pgexp.cli.envs",
    "estimators": "pgexp.cli.estimators",
}
# commands whose in-process time is logged (to measure what start-up and Snakemake cost around them; README)
TIMED = {"estimate", "metrics", "slopes", "aggregate", "plot", "report", "train", "curves", "exact-curves", "compare",
         "decompose", "tucker", "lambda-tradeoff", "study-report", "practice-audit", "normalization-bias", "sign-flip",
         "baseline-variance", "compile", "group-variance", "group-train", "group-curves"}


class HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions paragraph by paragraph but keeps indented lines (the example) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for line in text.splitlines():
            if line.startswith("  ") or not line.strip():
                out.append(indent + line)
            else:
                out.append(textwrap.fill(line, width, initial_indent=indent, subsequent_indent=indent))
        return "\n".join(out)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``pgexp COMMAND: error: ...``, exit status 2."""

    commands: dict[str, argparse.ArgumentParser]  # set by build_parser on the top-level parser

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"\s+", " ", message).strip()
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but an unknown option is reported by the command it was given to."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            parser = getattr(self, "commands", {}).get(getattr(parsed, "command", None) or "", self)
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="pgexp",
        description="Measure how noisy policy-gradient estimators are, against the exact gradient.",
        formatter_class=HelpFormatter,
        epilog="Run 'pgexp COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"pgexp {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars (they are drawn only on a "
                        "terminal anyway)")
    add_plugin_option(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    parser.commands = {}
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = parser.commands[name] = module.add_parser(sub)
        p.formatter_class = HelpFormatter
        p.epilog = "example:\n  " + module.EXAMPLE.strip().replace("\n", "\n  ")
        # SUPPRESS: a subcommand that is not given --quiet must not reset the top-level one
        p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
        add_plugin_option(p)
    return parser


def add_plugin_option(p: argparse.ArgumentParser) -> None:
    """``--plugin MODULE`` (read before parsing, by :func:`main`; declared so that help shows it)."""
    p.add_argument("--plugin", action="append", metavar="MODULE", default=argparse.SUPPRESS,
                   help="import MODULE (a module name or a .py file) first: the estimators it registers with "
                        "pgexp.register_estimator become valid choices (repeatable)")


def option_names() -> set[str]:
    """Every option of every command, as the name a hyperparameter or config key would have (``--fit-batch-size``
    -> ``fit_batch_size``), read off the real parsers; the registered hyperparameters' own options left out."""
    from pgexp.estimators import hyperparameters

    parser = build_parser()
    assert isinstance(parser, Parser)
    names = {opt[2:].replace("-", "_") for sub in parser.commands.values() for action in sub._actions
             for opt in action.option_strings if opt.startswith("--")}
    return names - set(hyperparameters())


def declare_options() -> None:
    """Tell the estimator registry that the commands' options are taken (a hyperparameter ``--engine`` would
    collide with ``pgexp train --engine``): :data:`pgexp.estimators.spec.RESERVED_SOURCES`."""
    from pgexp.estimators.spec import RESERVED_SOURCES

    RESERVED_SOURCES.setdefault("an option of a pgexp command", option_names)


def process_time() -> str:
    """`` (process P s)``: the wall time since this process started (interpreter, imports and all; what
    ``pgexp bench study`` splits into compute and start-up), or nothing where it cannot be read."""
    try:
        import psutil

        return f" (process {time.time() - psutil.Process().create_time():.3f} s)"
    except Exception:  # an optional figure, never a failure
        return ""


def one_line(message: str) -> str:
    """A message on one line (a UserError must never spill over several)."""
    return re.sub(r"\s*\n\s*", " ", str(message)).strip()


def main(argv: Sequence[str] | None = None) -> int:
    from pgexp.plugins import load_plugins, plugins_from_env, plugins_in

    argv = list(sys.argv[1:] if argv is None else argv)
    declare_options()
    try:  # plug-ins first: their names must be choices of the parser built next
        load_plugins(plugins_from_env() + plugins_in(argv))
    except UserError as exc:
        print(f"pgexp: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a parse error already printed on one line
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    from pgexp import io, progress

    progress.set_quiet(args.quiet)
    func: Callable[[argparse.Namespace], int] = args.func
    start = time.perf_counter()
    io.begin_command(argv)  # the arguments' files are the command's inputs: no output may replace one
    try:
        status = func(args)
        if args.command in TIMED:
            print(f"pgexp {args.command}: computed in {time.perf_counter() - start:.3f} s{process_time()}",
                  file=sys.stderr)
        return status
    except UserError as exc:
        print(f"pgexp {args.command}: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pgexp {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `pgexp exact ... | head`
        sys.stderr.close()
        return 0
    finally:
        io.end_command()
        progress.set_quiet(False)


__all__ = ["COMMANDS", "HelpFormatter", "Parser", "build_parser", "main"]
