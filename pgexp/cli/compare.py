"""``pgexp compare``: paired bootstrap comparisons of estimator~baseline pairs (CRN)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import CONFIDENCE, POSITIVE_INT, check_outputs, check_resamples, int_or_text, read_inputs

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


def check_comparable(frames: list, cells: list[tuple[int, int]] | None, texts: list[str]) -> None:
    """Every ``--cell`` is a (horizon, batch size) cell of the tables, and some cell holds two pairs or more (a
    comparison needs two; one pair would give an empty table)."""
    import pandas as pd

    from pgexp.errors import UserError
    from pgexp.tables import pair_columns

    df = pd.concat([f[[*pair_columns(f.columns), "horizon", "batch_size"]] for f in frames], ignore_index=True)
    have = {(int(h), int(n)) for h, n in df[["horizon", "batch_size"]].drop_duplicates().itertuples(index=False)}
    shown = ", ".join(f"{'inf' if h == -1 else h}:{n}" for h, n in sorted(have))
    for cell, text in zip(cells or [], texts, strict=False):
        if cell not in have:
            raise UserError(f"--cell {text}: not a cell of the tables; allowed: {shown}")
    chosen = df if not cells else df[[(int(h), int(n)) in set(cells) for h, n in zip(df["horizon"], df["batch_size"],
                                                                                    strict=True)]]
    pairs = chosen.drop(columns=["horizon", "batch_size"]).drop_duplicates()
    if len(pairs) < 2:
        names = ", ".join(sorted({f"{e}~{b}" for e, b in zip(pairs["estimator"], pairs["baseline"], strict=True)}))
        raise UserError(f"the tables hold one estimator~baseline pair ({names}); a comparison needs two or "
                        "more (give the files of the other pairs, or an estimate table of --pairs)")


def run(args: argparse.Namespace) -> int:
    """Paired comparisons of every two estimator~baseline pairs of a cell (common random numbers)."""
    from pathlib import Path

    from pgexp.analysis.compare import paired_comparisons
    from pgexp.io import write_frame_csv
    from pgexp.memory import reuse_freed_memory
    from pgexp.provenance import provenance

    reuse_freed_memory()  # the bootstrap allocates MiB-sized temporaries per pair
    check_outputs(args.output, str(Path(args.output).with_suffix(".csv")), fmt="parquet")
    cells = parse_cells(args.cell)
    frames = read_inputs(args.inputs, "estimate")
    check_comparable(frames, cells, args.cell or [])
    check_resamples(args.resamples, frames)
    out = paired_comparisons(frames, cells=cells, confidence=args.confidence, n_resamples=args.resamples)
    write_frame_csv(out, args.output, provenance(kind="comparisons"))
    return 0
