"""``pgexp report``: the self-contained HTML report."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pgexp.cli.common import TABLE_OPTIONS, read_tables
from pgexp.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "report",
        help="the self-contained HTML report",
        description="One HTML file that opens offline: a one-screen summary, sections generated from "
        "the tables (registered in pgexp/report/sections/), interactive tables, embedded "
        "figures with their registry captions, a glossary and the provenance.",
    )
    p.add_argument(
        "--config-json", default=None, help="the study config as JSON (shown in the report, in its key order)"
    )
    p.add_argument("--metrics", required=True, metavar="metrics.parquet")
    p.add_argument("--slopes", required=True, metavar="slopes.parquet")
    p.add_argument("--curves", default=None, metavar="learning_curves.parquet", help="training: learning curves")
    p.add_argument(
        "--summary", default=None, metavar="training_summary.parquet", help="training: per-configuration summary"
    )
    p.add_argument(
        "--training-variance",
        default=None,
        metavar="variance_along_training.parquet",
        help="training: estimator quality at the checkpoints",
    )
    p.add_argument("--exact", default=None, metavar="exact_variance.parquet", help="exact variance curves")
    p.add_argument("--comparisons", default=None, metavar="comparisons.parquet", help="paired comparisons")
    p.add_argument("--decomposition", default=None, metavar="decomposition.parquet", help="variance by source")
    p.add_argument(
        "--lambda-tradeoff", default=None, metavar="gae_lambda_tradeoff.parquet", help="GAE's exact lambda trade-off"
    )
    p.add_argument(
        "--deep-quality", default=None, metavar="deep_quality.parquet", help="neural track: gradient quality"
    )
    p.add_argument(
        "--deep-summary", default=None, metavar="deep_training_summary.parquet", help="neural track: training"
    )
    p.add_argument(
        "--table",
        action="append",
        default=[],
        metavar="KEY=PATH.parquet",
        help="any other table a registered section needs, by key (repeatable)",
    )
    p.add_argument("--figures", nargs="*", default=[], metavar="FIGURE.pdf", help="figures (their PNGs are embedded)")
    p.add_argument("--output", required=True, metavar="report.html")
    p.set_defaults(func=run)
    return p


def _extra_tables(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, path = item.partition("=")
        if not sep or not key.isidentifier() or not path:
            raise UserError(f"--table: {item!r}; allowed: KEY=PATH.parquet with KEY an identifier")
        out[key] = path
    return out


def run(args: argparse.Namespace) -> int:
    import json

    from pgexp.io import read_frame
    from pgexp.provenance import provenance
    from pgexp.report.html import build_report
    from pgexp.study import config_hash

    config = json.loads(args.config_json) if args.config_json else {}
    extra = _extra_tables(args.table)
    tables = read_tables(args) | {k: read_frame(p) for k, p in extra.items()}
    paths = {k: getattr(args, k) for k in TABLE_OPTIONS if getattr(args, k, None)} | extra
    out_dir = Path(args.output).resolve().parent
    links = {}
    for key, path in paths.items():  # the CSV beside each parquet, linked relative to the page
        csv = Path(path).with_suffix(".csv")
        if csv.is_file():
            links[key] = Path(os.path.relpath(csv.resolve(), out_dir)).as_posix()
    prov = provenance(kind="report")
    prov["config_hash"] = prov.get("config_hash") or config_hash(config)
    build_report(
        config=config,
        tables=tables,
        figures={Path(f).stem: f for f in args.figures},
        provenance=prov,
        output=args.output,
        table_links=links,
    )
    return 0
