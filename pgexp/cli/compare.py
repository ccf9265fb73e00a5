"""``pgexp compare``: paired bootstrap comparisons of estimator~baseline pairs (CRN)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import CONFIDENCE, POSITIVE_INT, check_outputs, int_or_text, read_inputs

EXAMPLE = "pgexp compare reinforce.parquet reward_to_go.parquet --cell 10:16 --output comparisons.parquet"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("compare", help="paired bootstrap comparisons of estimator~baseline pairs (CRN)",
                       description="Within each cell, every two estimator~baseline pairs: ratio of tr Cov and "
                                   "difference of MSE with paired BCa bootstrap CIs (replicates matched: common "
                                   "random numbers), significance flags and the correlation of their errors.")
    p.add_argument("inputs", nargs="+", metavar="IN.parquet", help="files written by pgexp estimate")
    p.add_argument("--cell", action="append", metavar="H:N",
                   help="only this (horizon, batch size) cell, e.g. 10:16 or inf:16 (repeatable; default: every cell)")
    p.add_argument("--confidence", type=CONFIDENCE, default=0.95, help="confidence level in (0, 1) (default 0.95)")
    p.add_argument("--resamples", type=POSITIVE_INT, default=2000, help="bootstrap resamples, >= 1 (default 2000)")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=run)
    return p


def parse_cells(items: list[str] | None) -> list[tuple[int, int]] | None:
    """``--cell H:N`` options -> ``[(horizon, batch_size)]`` (``horizon = -1``: infinite); ``None`` when not given."""
    from pgexp.errors import UserError
    from pgexp.problems import parse_horizon

    if not items:
        return None
    cells = []
    for item in items:
        h, sep, n = item.partition(":")
        if not sep or not n.strip().isdigit() or int(n) < 1:
            raise UserError(f"--cell {item!r}; allowed: H:N with H a positive integer or inf and N a positive integer")
        ph = parse_horizon(int_or_text(h), what="--cell")
        cell = (-1 if ph is None else ph, int(n))
        if cell in cells:
            raise UserError(f"--cell {item!r} given twice")
        cells.append(cell)
    return cells


def run(args: argparse.Namespace) -> int:
    """Paired comparisons of every two estimator~baseline pairs of a cell (common random numbers)."""
    from pathlib import Path

    from pgexp.analysis.compare import paired_comparisons
    from pgexp.io import write_frame_csv
    from pgexp.provenance import provenance

    check_outputs(args.output, str(Path(args.output).with_suffix(".csv")), fmt="parquet")
    cells = parse_cells(args.cell)
    out = paired_comparisons(read_inputs(args.inputs, "estimate"), cells=cells, confidence=args.confidence,
                             n_resamples=args.resamples)
    write_frame_csv(out, args.output, provenance(kind="comparisons"))
    return 0
