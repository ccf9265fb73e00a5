"""``pgexp compare``: paired bootstrap comparisons of estimator~baseline pairs (CRN)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import int_or_text
from pgexp.io import write_frame_csv


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("compare", help="paired bootstrap comparisons of estimator~baseline pairs (CRN)",
                       description="Within each cell, every two estimator~baseline pairs: ratio of tr Cov and "
                                   "difference of MSE with paired BCa bootstrap CIs (replicates matched: common "
                                   "random numbers), significance flags and the correlation of their errors.")
    p.add_argument("inputs", nargs="+", metavar="IN.parquet", help="files written by pgexp estimate")
    p.add_argument("--cell", action="append", metavar="H:N", help="only these (horizon, batch size) cells (repeatable)")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--resamples", type=int, default=2000)
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
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
            ph = parse_horizon(int_or_text(h), what="--cell")
            cells.append((-1 if ph is None else ph, int(n)))
    out = paired_comparisons([read_frame(p) for p in args.inputs], cells=cells, confidence=args.confidence,
                             n_resamples=args.resamples)
    write_frame_csv(out, args.output, provenance(kind="comparisons"))
    return 0
