"""``pgexp plot``: one figure (PDF + PNG beside it) from the aggregated tables."""

from __future__ import annotations

import argparse

from pgexp.cli.common import read_tables
from pgexp.study import DEEP_FIGURES, TRAINING_FIGURES
from pgexp.study import FIGURES as FIGURE_NAMES


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("plot", help="one figure (PDF + PNG beside it) from the aggregated tables")
    p.add_argument("figure", choices=list(FIGURE_NAMES + TRAINING_FIGURES + DEEP_FIGURES))
    p.add_argument("--metrics", default=None, metavar="metrics.parquet")
    p.add_argument("--slopes", default=None, metavar="slopes.parquet")
    p.add_argument("--exact", default=None, metavar="exact.parquet", help="exact variance curves (optional)")
    p.add_argument("--curves", default=None, metavar="learning_curves.parquet", help="(learning_curves)")
    p.add_argument("--summary", default=None, metavar="training_summary.parquet", help="(learning_curves)")
    p.add_argument("--output", required=True, metavar="FIGURE.pdf", help="the PNG is written beside it")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pgexp.figures.plots import FIGURES

    FIGURES[args.figure](read_tables(args), args.output)
    return 0
