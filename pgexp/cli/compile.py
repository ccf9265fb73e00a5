"""``pgexp compile``: compile the numba kernels into numba's cache (once per installation: the workflow's first
jobs)."""

from __future__ import annotations

import argparse

EXAMPLE = "pgexp compile all"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from pgexp.study.warmup import FAMILIES

    p = sub.add_parser("compile", help="compile the numba kernels into numba's cache (prints one JSON line)",
                       description="Compile a family of pgexp's numba kernels into numba's on-disk cache by running "
                                   "tiny versions of what its jobs run: estimate (the estimate engine and its fused "
                                   "kernels), train (the compiled trainer), exact (the exact engine's loops), or all. "
                                   "A fresh clone's first jobs would otherwise each compile what they use, side by "
                                   "side; cached kernels make this a second's work. Prints the seconds per family.")
    p.add_argument("family", choices=[*FAMILIES, "all"], help="which kernels")
    p.add_argument("--output", default=None, metavar="OUT.json", help="write the JSON there (atomically) instead of "
                   "printing it: the workflow's record that the family is compiled")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pgexp.cli.common import check_outputs
    from pgexp.io import dump
    from pgexp.study.warmup import warm

    check_outputs(args.output, fmt="json")
    dump({"compiled": args.family, "seconds": warm(args.family)}, args.output)
    return 0
