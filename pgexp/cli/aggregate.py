"""``pgexp aggregate``: concatenate per-environment tables into results/tables (parquet + CSV)."""

from __future__ import annotations

import argparse

EXAMPLE = ("pgexp aggregate --metrics results/tables/metrics/*.parquet --slopes results/tables/slopes/*.parquet "
           "--outdir results/tables")

# option -> (output table name, table kind)
INPUTS = {"metrics": ("metrics", "metrics"), "slopes": ("slopes", "slopes"),
          "exact": ("exact_variance", "exact_variance"), "comparisons": ("comparisons", "comparisons"),
          "decomposition": ("decomposition", "decomposition"),
          "lambda_tradeoff": ("gae_lambda_tradeoff", "gae_lambda_tradeoff"), "tucker": ("tucker_terms", "tucker"),
          "metrics_heldout": ("metrics_heldout", "metrics")}


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("aggregate", help="concatenate per-environment tables into results/tables (parquet + CSV)",
                       description="Concatenate the per-environment tables of a study into one parquet + CSV each in "
                                   "--outdir, sorted so that reruns are identical bit for bit; metrics are joined with "
                                   "the exact variance curves (var_per_traj_exact, exact_in_ci) when --exact is given.")
    p.add_argument("--metrics", nargs="*", default=[], metavar="M.parquet", help="metrics tables (pgexp metrics)")
    p.add_argument("--slopes", nargs="*", default=[], metavar="S.parquet", help="slopes tables (pgexp slopes)")
    p.add_argument("--exact", nargs="*", default=[], metavar="E.parquet",
                   help="exact variance curves (pgexp exact-curves)")
    p.add_argument("--comparisons", nargs="*", default=[], metavar="C.parquet",
                   help="paired comparisons (pgexp compare)")
    p.add_argument("--decomposition", nargs="*", default=[], metavar="D.parquet",
                   help="variance decomposition (pgexp decompose)")
    p.add_argument("--lambda-tradeoff", nargs="*", default=[], metavar="L.parquet",
                   help="GAE's exact lambda trade-off (pgexp lambda-tradeoff)")
    p.add_argument("--tucker", nargs="*", default=[], metavar="T.parquet",
                   help="Tucker et al.'s per-step decomposition (pgexp tucker): tucker_terms")
    p.add_argument("--metrics-heldout", nargs="*", default=[], metavar="H.parquet",
                   help="metrics of the held-out coverage seeds (pgexp metrics --exact: joined already): "
                        "metrics_heldout")
    p.add_argument("--outdir", required=True, metavar="DIR", help="existing directory for NAME.parquet and NAME.csv")
    p.set_defaults(func=run)
    return p


def check_distinct(paths: list[str] | None, option: str) -> None:
    """Each table once: a file given twice (by any name) would count its rows twice."""
    from pgexp.errors import UserError
    from pgexp.io import identity

    seen: dict = {}
    for p in paths or []:
        ident = identity(p)
        if ident is not None and ident in seen:
            raise UserError(f"{option}: {p} given twice (also as {seen[ident]}); allowed: each table once")
        seen[ident] = p


def run(args: argparse.Namespace) -> int:
    """Concatenate per-environment tables into one parquet + CSV each (sorted: bit-for-bit reruns)."""
    from pathlib import Path

    from pgexp.analysis.aggregate import concat_sorted, join_exact
    from pgexp.cli.common import check_outputs
    from pgexp.errors import UserError
    from pgexp.io import check_output_dir, read_frame, write_frame_csv
    from pgexp.provenance import provenance

    if not any(getattr(args, option) for option in INPUTS):
        raise UserError("aggregate: no tables given; give at least one of "
                        + ", ".join("--" + o.replace("_", "-") for o in INPUTS))
    check_output_dir(args.outdir)
    outdir = Path(args.outdir)
    for option, (name, _) in INPUTS.items():  # an input inside --outdir under an output's name is not replaced
        if getattr(args, option):
            check_outputs(str(outdir / f"{name}.parquet"), str(outdir / f"{name}.csv"), option="--outdir")
    tables = {}
    for option, (name, kind) in INPUTS.items():
        paths = getattr(args, option)
        check_distinct(paths, f"--{option.replace('_', '-')}")
        if paths:
            tables[name] = concat_sorted([read_frame(p, kind) for p in paths])
    if "exact_variance" in tables and "metrics" in tables and len(tables["metrics"]):
        tables["metrics"] = join_exact(tables["metrics"], tables["exact_variance"])
    for name, df in tables.items():
        write_frame_csv(df, outdir / f"{name}.parquet", provenance(kind=name))
    return 0
