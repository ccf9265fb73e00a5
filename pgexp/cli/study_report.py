"""``pgexp study-report``: a paper study's figures (PDF + PNG) and its one-page HTML report, from its tables."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EXAMPLE = ("pgexp study-report --study-json \"$(python -c 'import json, yaml; print(json.dumps(yaml.safe_load("
           "open(\"config/studies/sutton_barto_fig13_1.yaml\"))[\"study\"]))')\" --curves curves.parquet "
           "--summary summary.parquet --outdir results/studies/sutton_barto_fig13_1")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("study-report", help="a paper study's figures and report (config/studies/NAME.yaml)",
                       description="Draw the figures of a named paper study (OUTDIR/figures/NAME.{pdf,png}) and write "
                                   "OUTDIR/report.html: the paper's claim, the setup, what pgexp measured (every "
                                   "number from the tables), the figures and the summary table.")
    p.add_argument("--study-json", required=True, metavar="JSON", help="the config's study section as JSON")
    p.add_argument("--curves", required=True, metavar="learning_curves.parquet",
                   help="the study's learning curves (pgexp curves --curves)")
    p.add_argument("--summary", required=True, metavar="training_summary.parquet",
                   help="the study's training summary (pgexp curves --summary)")
    p.add_argument("--traces", default=None, metavar="policy_traces.parquet",
                   help="the traced seeds' policies (pgexp curves --traces), for the simplex figure")
    p.add_argument("--variance", default=None, metavar="baseline_variance.parquet",
                   help="the exact variance table (pgexp baseline-variance), where the study has one")
    p.add_argument("--outdir", required=True, metavar="DIR",
                   help="writes DIR/figures/NAME.{pdf,png} and DIR/report.html")
    p.set_defaults(func=run)
    return p


def check_study_tables(study, tables: dict) -> None:
    """The curves and the summary are this study's: its training jobs are tagged ``env_name=NAME`` and ``arm=ARM``
    (:meth:`pgexp.study.paper.PaperStudy.train_args`), so a generic training table -- another study's, or one
    without arms -- is refused rather than drawn as this paper's figure."""
    from pgexp.errors import UserError

    want = sorted(arm.name for arm in study.arms)
    for key in ("curves", "summary"):
        df = tables.get(key)
        if df is None:
            continue
        arms = sorted({str(a) for a in df["arm"].dropna() if str(a)}) if "arm" in df.columns else []
        names = set(df["env_name"].astype(str)) if "env_name" in df.columns else set()
        missing = [a for a in want if a not in arms]
        if missing or names != {study.name}:
            raise UserError(f"--{key}: not the tables of study {study.name} (arms {', '.join(want)}); this table has "
                            f"env_name {', '.join(sorted(names)) or '(none)'} and arms {', '.join(arms) or '(none)'}; "
                            f"allowed: pgexp curves over this study's pgexp train jobs (snakemake --configfile "
                            f"config/studies/{study.name}.yaml)")


def run(args: argparse.Namespace) -> int:
    from pgexp.cli.common import check_outputs
    from pgexp.errors import UserError
    from pgexp.figures import get_figure
    from pgexp.io import atomic_write_text, check_output_dir, read_frame, save_figure
    from pgexp.provenance import provenance
    from pgexp.report.paper_studies import study_html
    from pgexp.study.paper import load_paper_study

    try:
        raw = json.loads(args.study_json)
    except json.JSONDecodeError as exc:
        raise UserError(f"--study-json: not JSON ({exc.msg})") from None
    study = load_paper_study({"study": raw})
    if study is None:
        raise UserError("--study-json: empty study section")
    check_output_dir(args.outdir)
    outdir = Path(args.outdir)
    figures = [str(outdir / "figures" / f"{name}.{ext}") for name in study.figures for ext in ("pdf", "png")]
    # OUTDIR/figures/ is made when the first figure is written
    check_outputs(str(outdir / "report.html"), *(figures if (outdir / "figures").is_dir() else []), option="--outdir")
    kinds = {"curves": "learning_curves", "summary": "training_summary", "traces": None, "variance": None}
    tables = {k: read_frame(getattr(args, k), kind) for k, kind in kinds.items() if getattr(args, k)}
    check_study_tables(study, tables)
    pngs, captions = {}, {}
    for name in study.figures:
        spec = get_figure(name)
        save_figure(spec.make({role: df for role, df in tables.items() if role in spec.tables}),
                    outdir / "figures" / f"{name}.pdf")
        pngs[name] = outdir / "figures" / f"{name}.png"
        captions[name] = spec.caption
    page = study_html(study, tables, pngs, captions, provenance(kind="study_report"))
    atomic_write_text(outdir / "report.html", page)
    return 0
