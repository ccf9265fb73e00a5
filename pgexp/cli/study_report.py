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
    p.add_argument("--curves", default=None, metavar="learning_curves.parquet",
                   help="the study's learning curves (pgexp curves --curves; training studies)")
    p.add_argument("--summary", default=None, metavar="training_summary.parquet",
                   help="the study's training summary (pgexp curves --summary; training studies)")
    p.add_argument("--traces", default=None, metavar="policy_traces.parquet",
                   help="the traced seeds' policies (pgexp curves --traces), for the simplex figure")
    p.add_argument("--variance", default=None, metavar="baseline_variance.parquet",
                   help="the exact variance table (pgexp baseline-variance), where the study has one")
    p.add_argument("--tucker", default=None, metavar="tucker_terms.parquet",
                   help="variance studies: the per-step decomposition of every problem (pgexp tucker)")
    p.add_argument("--metrics", default=None, metavar="metrics.parquet",
                   help="variance studies: the Monte-Carlo arm's metrics (pgexp metrics)")
    p.add_argument("--comparisons", default=None, metavar="comparisons.parquet",
                   help="variance studies: the Monte-Carlo arm's paired comparisons (pgexp compare)")
    p.add_argument("--length-curves", default=None, metavar="length_curves.parquet",
                   help="group studies: the response lengths along training (pgexp group-curves --curves)")
    p.add_argument("--length-summary", default=None, metavar="length_summary.parquet",
                   help="group studies: their summary and paired differences (pgexp group-curves --summary)")
    p.add_argument("--group-variance", default=None, metavar="group_variance.parquet",
                   help="group studies: the exact table against G (pgexp group-variance --output)")
    p.add_argument("--prompt-weights", default=None, metavar="prompt_weights.parquet",
                   help="group studies: the per-prompt weights (pgexp group-variance --prompt-output)")
    p.add_argument("--difficulty", default=None, metavar="difficulty_weights.parquet",
                   help="group studies: the weight against the success probability (--difficulty-output)")
    p.add_argument("--outdir", required=True, metavar="DIR",
                   help="writes DIR/figures/NAME.{pdf,png} and DIR/report.html")
    p.set_defaults(func=run)
    return p


def check_study_tables(study, tables: dict) -> None:
    """The curves and the summary are this study's: its training jobs are tagged ``env_name=NAME`` and ``arm=ARM``
    (:meth:`pgexp.study.paper.PaperStudy.train_args`), so a generic training table -- another study's, or one
    without arms -- is refused rather than drawn as this paper's figure."""
    from pgexp.errors import UserError

    if not getattr(study, "arms", None):  # a study without training arms (mirage, groups)
        return
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
    from pgexp.report.tucker2018 import mirage_html
    from pgexp.study.mirage import MirageStudy
    from pgexp.study.paper import load_paper_study

    try:
        raw = json.loads(args.study_json)
    except json.JSONDecodeError as exc:
        raise UserError(f"--study-json: not JSON ({exc.msg})") from None
    study = load_paper_study({"study": raw})
    if study is None:
        raise UserError("--study-json: empty study section")
    check_output_dir(args.outdir)
    needed = {"mirage": ("tucker",), "groups": ("length_curves", "length_summary", "group_variance")}.get(
        study.kind, ("curves", "summary"))
    for key in needed:
        if not getattr(args, key):
            raise UserError(f"--{key.replace('_', '-')}: required for the {study.kind} study {study.name}")
    outdir = Path(args.outdir)
    figures = [str(outdir / "figures" / f"{name}.{ext}") for name in study.figures for ext in ("pdf", "png")]
    # OUTDIR/figures/ is made when the first figure is written
    check_outputs(str(outdir / "report.html"), *(figures if (outdir / "figures").is_dir() else []), option="--outdir")
    roles = ("curves", "summary", "traces", "variance", "tucker", "metrics", "comparisons", "length_curves",
             "length_summary", "group_variance", "prompt_weights", "difficulty")
    kinds = {"curves": "learning_curves", "summary": "training_summary"}  # checked as such (the others: any table)
    tables = {k: read_frame(getattr(args, k), kinds.get(k)) for k in roles if getattr(args, k)}
    check_study_tables(study, tables)
    pngs, captions = {}, {}
    for name in study.figures:
        spec = get_figure(name)
        save_figure(spec.make({role: df for role, df in tables.items() if role in spec.tables}),
                    outdir / "figures" / f"{name}.pdf")
        pngs[name] = outdir / "figures" / f"{name}.png"
        captions[name] = spec.caption
    if isinstance(study, MirageStudy):
        page = mirage_html(study, tables, pngs, captions, provenance(kind="study_report"))
    else:
        page = study_html(study, tables, pngs, captions, provenance(kind="study_report"))
    atomic_write_text(outdir / "report.html", page)
    return 0
