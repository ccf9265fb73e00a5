"""``pgexp plot``: one figure (PDF + PNG beside it) from the aggregated tables."""

from __future__ import annotations

import argparse

from pgexp.cli.common import check_outputs, read_tables
from pgexp.study import DEEP_FIGURES, TRAINING_FIGURES
from pgexp.study import FIGURES as FIGURE_NAMES

EXAMPLE = ("pgexp plot variance_vs_horizon --metrics results/tables/metrics.parquet "
           "--slopes results/tables/slopes.parquet --output results/figures/variance_vs_horizon.pdf")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("plot", help="one figure (PDF + PNG beside it) from the aggregated tables",
                       description="Draw one figure of the study from its tables and write FIGURE.pdf and FIGURE.png "
                                   "(atomically). Each table option is checked to be a table of its kind.")
    p.add_argument("figure", choices=list(FIGURE_NAMES + TRAINING_FIGURES + DEEP_FIGURES), help="which figure")
    p.add_argument("--metrics", default=None, metavar="metrics.parquet", help="metrics table (pgexp metrics / aggregate)")
    p.add_argument("--slopes", default=None, metavar="slopes.parquet", help="slopes table (pgexp slopes / aggregate)")
    p.add_argument("--exact", default=None, metavar="exact.parquet", help="exact variance curves (optional)")
    p.add_argument("--curves", default=None, metavar="learning_curves.parquet", help="learning curves (pgexp curves)")
    p.add_argument("--summary", default=None, metavar="training_summary.parquet", help="training summary (pgexp curves)")
    p.add_argument("--output", required=True, metavar="FIGURE.pdf", help="the PNG is written beside it")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pgexp.figures.plots import FIGURES

    out = Path(args.output)
    check_outputs(str(out.with_suffix(".pdf")), str(out.with_suffix(".png")))
    FIGURES[args.figure](read_tables(args), args.output)
    return 0
