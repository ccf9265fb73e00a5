"""``pgexp aggregate``: concatenate per-environment tables into results/tables (parquet + CSV)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("aggregate", help="concatenate per-environment tables into results/tables (parquet + CSV)")
    p.add_argument("--metrics", nargs="*", default=[], metavar="M.parquet")
    p.add_argument("--slopes", nargs="*", default=[], metavar="S.parquet")
    p.add_argument("--exact", nargs="*", default=[], metavar="E.parquet", help="exact variance curves (pgexp exact-curves)")
    p.add_argument("--comparisons", nargs="*", default=[], metavar="C.parquet", help="paired comparisons (pgexp compare)")
    p.add_argument("--decomposition", nargs="*", default=[], metavar="D.parquet", help="variance decomposition (pgexp decompose)")
    p.add_argument("--lambda-tradeoff", nargs="*", default=[], metavar="L.parquet",
                   help="GAE's exact lambda trade-off (pgexp lambda-tradeoff)")
    p.add_argument("--outdir", required=True, metavar="DIR")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Concatenate per-environment tables into one parquet + CSV each (sorted: bit-for-bit reruns)."""
    from pathlib import Path

    from pgexp.analysis.aggregate import concat_sorted, join_exact
    from pgexp.io import read_frame, write_frame_csv
    from pgexp.provenance import provenance

    outdir = Path(args.outdir)
    tables = {}
    optional = {"exact_variance": args.exact, "comparisons": args.comparisons, "decomposition": args.decomposition,
                "gae_lambda_tradeoff": args.lambda_tradeoff}
    for name, paths in (("metrics", args.metrics), ("slopes", args.slopes), *optional.items()):
        if name in optional and not paths:
            continue
        tables[name] = concat_sorted([read_frame(p) for p in paths])
    if "exact_variance" in tables and len(tables["metrics"]):
        tables["metrics"] = join_exact(tables["metrics"], tables["exact_variance"])
    for name, df in tables.items():
        write_frame_csv(df, outdir / f"{name}.parquet", provenance(kind=name))
    return 0
