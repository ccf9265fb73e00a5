"""``pgexp report``: the self-contained HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path

from pgexp.cli.common import read_tables


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="the self-contained HTML report")
    p.add_argument("--config-json", default=None, help="the study config as JSON (shown in the report)")
    p.add_argument("--metrics", required=True, metavar="metrics.parquet")
    p.add_argument("--slopes", required=True, metavar="slopes.parquet")
    p.add_argument("--curves", default=None, metavar="learning_curves.parquet", help="training: learning curves")
    p.add_argument("--summary", default=None, metavar="training_summary.parquet", help="training: per-configuration summary")
    p.add_argument("--training-variance", default=None, metavar="variance_along_training.parquet",
                   help="training: estimator quality at the checkpoints")
    p.add_argument("--exact", default=None, metavar="exact_variance.parquet", help="exact variance curves")
    p.add_argument("--comparisons", default=None, metavar="comparisons.parquet", help="paired comparisons")
    p.add_argument("--decomposition", default=None, metavar="decomposition.parquet", help="variance by source")
    p.add_argument("--deep-quality", default=None, metavar="deep_quality.parquet", help="neural track: gradient quality")
    p.add_argument("--deep-summary", default=None, metavar="deep_training_summary.parquet", help="neural track: training")
    p.add_argument("--figures", nargs="*", default=[], metavar="FIGURE.pdf", help="figures (their PNGs are embedded)")
    p.add_argument("--output", required=True, metavar="report.html")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import datetime
    import json

    from pgexp.provenance import provenance
    from pgexp.report.html import build_report
    from pgexp.study import config_hash

    config = json.loads(args.config_json) if args.config_json else {}
    tables = read_tables(args)
    figures = {Path(f).stem: f for f in args.figures}
    prov = provenance(kind="report")
    prov["config_hash"] = prov.get("config_hash") or config_hash(config)
    prov["created"] = datetime.date.today().isoformat()
    training = {k: tables[k] for k in ("curves", "summary", "training_variance") if k in tables}
    extra = []
    if any(k in tables for k in ("exact", "comparisons", "decomposition")):
        from pgexp.report.variance import variance_section

        _, html_block = variance_section(tables["metrics"], tables["slopes"], tables.get("exact"),
                                         tables.get("comparisons"), tables.get("decomposition"))
        if html_block:
            extra.append(("How to reduce variance: exact references, paired comparisons, sources", html_block))
    if "deep_quality" in tables:
        from pgexp.report.deep import deep_section

        extra.append(("Neural policies on continuous-state tasks",
                      deep_section(tables["deep_quality"], tables.get("deep_summary"), figures)))
    build_report(config=config, metrics=tables["metrics"], slopes=tables["slopes"], figures=figures,
                 provenance=prov, output=args.output, training=training or None, extra_sections=extra or None)
    return 0
