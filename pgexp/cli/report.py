"""``pgexp report``: the self-contained HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path

from pgexp.cli.common import TABLE_OPTIONS, check_outputs, read_tables

EXAMPLE = ("pgexp report --metrics results/tables/metrics.parquet --slopes results/tables/slopes.parquet "
           "--figures results/figures/variance_vs_horizon.pdf --output results/report.html")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="the self-contained HTML report",
                       description="Write one self-contained HTML page (opens offline): a one-screen summary, sections "
                                   "generated from the tables (registered in pgexp/report/sections/), interactive "
                                   "tables, embedded figures with their registry captions, a glossary, the config and "
                                   "the provenance.")
    p.add_argument("--config-json", default=None, metavar="JSON", help="the study config as JSON (shown in the report)")
    p.add_argument("--metrics", required=True, metavar="metrics.parquet",
                   help="metrics table (pgexp metrics / aggregate)")
    p.add_argument("--metrics-heldout", default=None, metavar="metrics_heldout.parquet",
                   help="metrics of the coverage seeds, joined with the exact values (pgexp aggregate "
                        "--metrics-heldout): the coverage judged on seeds not used to choose the interval method")
    p.add_argument("--slopes", required=True, metavar="slopes.parquet", help="slopes table (pgexp slopes / aggregate)")
    p.add_argument("--curves", default=None, metavar="learning_curves.parquet", help="training: learning curves")
    p.add_argument("--summary", default=None, metavar="training_summary.parquet",
                   help="training: per-configuration summary")
    p.add_argument("--profiles", default=None, metavar="performance_profiles.parquet",
                   help="training: performance profiles (pgexp curves --profiles)")
    p.add_argument("--training-variance", default=None, metavar="variance_along_training.parquet",
                   help="training: estimator quality at the checkpoints")
    p.add_argument("--exact", default=None, metavar="exact_variance.parquet", help="exact variance curves")
    p.add_argument("--comparisons", default=None, metavar="comparisons.parquet", help="paired comparisons")
    p.add_argument("--decomposition", default=None, metavar="decomposition.parquet", help="variance by source")
    p.add_argument("--lambda-tradeoff", default=None, metavar="gae_lambda_tradeoff.parquet",
                   help="GAE's exact lambda trade-off")
    p.add_argument("--practice-audit", default=None, metavar="practice_audit.parquet",
                   help="the practice audit (pgexp practice-audit)")
    p.add_argument("--practice-audit-normalization", default=None, metavar="practice_audit_normalization.parquet",
                   help="the practice audit: exact normalisation bias (pgexp normalization-bias)")
    p.add_argument("--practice-audit-sign-flip", default=None, metavar="practice_audit_sign_flip.parquet",
                   help="the practice audit: sign-flip search (pgexp sign-flip)")
    p.add_argument("--practice-audit-training", default=None, metavar="practice_audit_training.parquet",
                   help="the practice audit: training summary (pgexp curves --summary)")
    p.add_argument("--deep-quality", default=None, metavar="deep_quality.parquet",
                   help="neural track: gradient quality")
    p.add_argument("--deep-summary", default=None, metavar="deep_training_summary.parquet",
                   help="neural track: training")
    p.add_argument("--table", action="append", default=[], metavar="KEY=PATH.parquet",
                   help="any other table a registered report section needs, by key (repeatable)")
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


def extra_tables(items: list[str]) -> dict[str, str]:
    """``--table KEY=PATH`` options -> ``{KEY: PATH}`` (one-line error otherwise)."""
    from pgexp.errors import UserError

    out = {}
    for item in items:
        key, sep, path = item.partition("=")
        if not sep or not key.isidentifier() or not path:
            raise UserError(f"--table: {item!r}; allowed: KEY=PATH.parquet with KEY an identifier")
        if key in TABLE_OPTIONS or key in out:
            raise UserError(f"--table {key}: given twice (or a named option); give each table once")
        out[key] = path
    if out:
        from pgexp.report.registry import load_sections

        wanted = {k for section in load_sections().values() for k in section.needs} - set(TABLE_OPTIONS)
        for key in out:
            if key not in wanted:
                named = ", ".join(f"--{k.replace('_', '-')}" for k in TABLE_OPTIONS)
                raise UserError(f"--table {key}: no report section reads a table {key!r}; allowed: "
                                f"{', '.join(sorted(wanted)) or 'none besides the named options'} ({named})")
    return out


def csv_links(paths: dict[str, str], output: str) -> dict[str, str]:
    """Table key -> the CSV beside its parquet, relative to the page (only those that exist)."""
    import os

    out_dir = Path(output).resolve().parent
    links = {}
    for key, path in paths.items():
        csv = Path(path).with_suffix(".csv")
        if csv.is_file():
            links[key] = Path(os.path.relpath(csv.resolve(), out_dir)).as_posix()
    return links


def run(args: argparse.Namespace) -> int:
    from pgexp.io import read_frame
    from pgexp.provenance import provenance
    from pgexp.report.html import build_report
    from pgexp.study import config_hash

    check_outputs(args.output, fmt="html")
    config = parse_config_json(args.config_json)
    figures = check_figures(args.figures)
    extra = extra_tables(args.table)
    tables = read_tables(args) | {k: read_frame(p) for k, p in extra.items()}
    paths = {k: getattr(args, k) for k in TABLE_OPTIONS if getattr(args, k, None)} | extra
    prov = provenance(kind="report")
    prov["config_hash"] = prov.get("config_hash") or config_hash(config)
    build_report(config=config, tables=tables, figures=figures, provenance=prov, output=args.output,
                 table_links=csv_links(paths, args.output))
    return 0
