"""``pgexp report``: the self-contained HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path

from pgexp.cli.common import check_outputs, read_tables

EXAMPLE = ("pgexp report --metrics results/tables/metrics.parquet --slopes results/tables/slopes.parquet "
           "--figures results/figures/variance_vs_horizon.pdf --output results/report.html")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="the self-contained HTML report",
                       description="Write one self-contained HTML page (figures embedded, opens offline) with the "
                                   "study's setup, findings generated from the tables, figures, tables and provenance.")
    p.add_argument("--config-json", default=None, metavar="JSON", help="the study config as JSON (shown in the report)")
    p.add_argument("--metrics", required=True, metavar="metrics.parquet",
                   help="metrics table (pgexp metrics / aggregate)")
    p.add_argument("--slopes", required=True, metavar="slopes.parquet", help="slopes table (pgexp slopes / aggregate)")
    p.add_argument("--curves", default=None, metavar="learning_curves.parquet", help="training: learning curves")
    p.add_argument("--summary", default=None, metavar="training_summary.parquet",
                   help="training: per-configuration summary")
    p.add_argument("--training-variance", default=None, metavar="variance_along_training.parquet",
                   help="training: estimator quality at the checkpoints")
    p.add_argument("--exact", default=None, metavar="exact_variance.parquet", help="exact variance curves")
    p.add_argument("--comparisons", default=None, metavar="comparisons.parquet", help="paired comparisons")
    p.add_argument("--decomposition", default=None, metavar="decomposition.parquet", help="variance by source")
    p.add_argument("--lambda-tradeoff", default=None, metavar="gae_lambda_tradeoff.parquet",
                   help="GAE's exact lambda trade-off")
    p.add_argument("--deep-quality", default=None, metavar="deep_quality.parquet",
                   help="neural track: gradient quality")
    p.add_argument("--deep-summary", default=None, metavar="deep_training_summary.parquet",
                   help="neural track: training")
    p.add_argument("--figures", nargs="*", default=[], metavar="FIGURE.pdf", help="figures (their PNGs are embedded)")
    p.add_argument("--output", required=True, metavar="report.html", help="the HTML page (written atomically)")
    p.set_defaults(func=run)
    return p


def parse_config_json(text: str | None) -> dict:
    """``--config-json`` as a mapping (one-line error otherwise)."""
    import json

    from pgexp.errors import UserError

    if not text:
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"--config-json: not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(config, dict):
        raise UserError("--config-json: expected a JSON object (the study config)")
    return config


def check_figures(figures: list[str]) -> dict[str, str]:
    """``--figures`` by name; each needs its PNG beside it (that is what the page embeds)."""
    from pgexp.errors import UserError

    out = {}
    for f in figures:
        png = Path(f).with_suffix(".png")
        if not png.is_file():
            raise UserError(f"--figures {f}: no {png.name} beside it; give figures written by pgexp plot")
        out[Path(f).stem] = f
    return out


def run(args: argparse.Namespace) -> int:
    import datetime

    from pgexp.provenance import provenance
    from pgexp.report.html import build_report
    from pgexp.study import config_hash

    check_outputs(args.output)
    config = parse_config_json(args.config_json)
    figures = check_figures(args.figures)
    tables = read_tables(args)
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
    if "lambda_tradeoff" in tables:
        from pgexp.report.lambda_tradeoff import lambda_tradeoff_section

        block = lambda_tradeoff_section(tables["lambda_tradeoff"])
        if block:
            extra.append(("GAE's λ: bias against variance, exactly", block))
    if "deep_quality" in tables:
        from pgexp.report.deep import deep_section

        extra.append(("Neural policies on continuous-state tasks",
                      deep_section(tables["deep_quality"], tables.get("deep_summary"), figures)))
    build_report(config=config, metrics=tables["metrics"], slopes=tables["slopes"], figures=figures,
                 provenance=prov, output=args.output, training=training or None, extra_sections=extra or None)
    return 0
