"""``pgexp study-report``: a paper study's figures (PDF + PNG) and its one-page HTML report, from its tables."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("study-report", help="a paper study's figures and report (config/studies/NAME.yaml)",
                       description="Draw the figures of a named paper study (OUTDIR/figures/NAME.{pdf,png}) and write "
                                   "OUTDIR/report.html: the paper's claim, the setup, what pgexp measured (every "
                                   "number from the tables), the figures and the summary table.")
    p.add_argument("--study-json", required=True, metavar="JSON", help="the config's study section as JSON")
    p.add_argument("--curves", required=True, metavar="learning_curves.parquet")
    p.add_argument("--summary", required=True, metavar="training_summary.parquet")
    p.add_argument("--traces", default=None, metavar="policy_traces.parquet")
    p.add_argument("--variance", default=None, metavar="baseline_variance.parquet")
    p.add_argument("--outdir", required=True, metavar="DIR")
    p.set_defaults(func=run)
    return p


def save_figure(fig, output: Path) -> None:
    """``fig`` as ``output.pdf`` and ``output.png`` (200 dpi), each written atomically, without timestamps."""
    import io

    from pgexp.io import atomic_write_bytes

    for fmt, kw in (("pdf", {"metadata": {"CreationDate": None}}),
                    ("png", {"dpi": 200, "metadata": {"Software": None}})):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, facecolor="white", **kw)
        atomic_write_bytes(output.with_suffix(f".{fmt}"), buf.getvalue())


def run(args: argparse.Namespace) -> int:
    import importlib

    from pgexp.errors import UserError
    from pgexp.io import atomic_write_text, read_frame
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
    tables = {k: read_frame(getattr(args, k)) for k in ("curves", "summary", "traces", "variance") if getattr(args, k)}
    outdir = Path(args.outdir)
    pngs, captions = {}, {}
    for name in study.figures:
        module = importlib.import_module(f"pgexp.figures.{name}")
        save_figure(module.draw(tables), outdir / "figures" / name)
        pngs[name] = outdir / "figures" / f"{name}.png"
        captions[name] = " ".join((module.__doc__ or name).split())
    page = study_html(study, tables, pngs, captions, provenance(kind="study_report"))
    atomic_write_text(outdir / "report.html", page)
    return 0
