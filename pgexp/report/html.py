"""The page: a one-screen summary, a table of contents that stays in view, the registered sections,
the setup, the data tables, a glossary and the provenance -- one self-contained HTML file.

The page assembles; it decides no content.  Sections are registered functions of the tables
(:mod:`pgexp.report.registry`, modules in :mod:`pgexp.report.sections`); the summary opens with the headline
figure (:data:`pgexp.report.figures.SUMMARY_FIGURE`, where the study built it) and lists the sections'
headline findings by priority.  Figures are embedded as base64 PNGs with the figure registry's
captions, tables are interactive (Grid.js, MIT, inlined from ``assets/``), the stylesheet is inline:
nothing is fetched, the file opens offline.  All text is escaped; only section HTML built by the
helpers is inserted as given.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pgexp.io import atomic_write_text
from pgexp.report.figures import SUMMARY_FIGURE
from pgexp.report.format import esc
from pgexp.report.glossary import GLOSSARY
from pgexp.report.registry import SUMMARY_MAX, Finding, ReportContext, SectionOutput, load_sections
from pgexp.report.tables import CELL_COLUMNS

__all__ = ["QUESTION", "build_report", "render_page"]

TITLE = "pgexp: how noisy are policy-gradient estimators?"
QUESTION = (
    "How noisy is each policy-gradient estimator, against the exact gradient of small problems: how does its "
    "variance grow with the horizon, what do baselines and critics buy per trajectory and per environment "
    "step, and which claims hold up?"
)
LEVEL_LABEL = {"biased": "biased", "unconfirmed": "not confirmed"}


def _asset(name: str) -> str:
    text = resources.files("pgexp.report").joinpath("assets", name).read_text(encoding="utf-8")
    # the vendored bundle names a source map that is not shipped: drop the line so nothing is requested
    return "\n".join(line for line in text.splitlines() if not line.startswith("//# sourceMappingURL"))


@dataclass
class _Rendered:
    key: str
    title: str
    out: SectionOutput


def _findings_html(findings: list[Finding]) -> str:
    if not findings:
        return ""
    parts, groups = [], list(dict.fromkeys(f.group for f in findings))
    for g in groups:
        items = []
        for f in findings:
            if f.group != g:
                continue
            tag = (
                f'<span class="tag {esc(f.level)}">{esc(LEVEL_LABEL[f.level])}</span> '
                if f.level in LEVEL_LABEL
                else ""
            )
            items.append(f'<li class="{esc(f.level)}">{tag}{esc(f.text)}</li>')
        head = f"<h3>{esc(g)}</h3>" if g else ""
        parts.append(f'{head}<ul class="findings">{"".join(items)}</ul>')
    return "".join(parts)


def _summary_html(rendered: list[_Rendered], figure: str = "") -> str:
    """The one-screen summary: the headline figure (``figure``, its HTML; ``""``: none), the question, the
    headline findings by priority and links to the sections."""
    heads = sorted(
        ((f.headline, i, f, r.key) for i, r in enumerate(rendered) for f in r.out.findings if f.headline is not None),
        key=lambda t: (t[0], t[1]),
    )[:SUMMARY_MAX]
    items = "".join(f'<li>{esc(f.text)} <a class="more" href="#{esc(key)}">more</a></li>' for _, _, f, key in heads)
    links = " · ".join(f'<a href="#{esc(r.key)}">{esc(r.title)}</a>' for r in rendered)
    body = f'<ol class="headlines">{items}</ol>' if items else '<p class="muted">No findings: the tables are empty.</p>'
    return (
        f'<section id="summary" class="summary"><h2>Summary</h2>{figure}'
        f'<p class="question"><strong>The question.</strong> '
        f'{esc(QUESTION)}</p>{body}<p class="sections">Sections: {links}</p></section>'
    )


def _config_html(config: dict[str, Any], provenance: dict[str, Any], ctx: ReportContext) -> SectionOutput:
    envs = config.get("environments") or {}
    rows = []
    for name, e in envs.items():
        if isinstance(e, dict):
            rows.append(
                {
                    "env_name": name,
                    "env": e.get("env", ""),
                    "theta_name": ", ".join(f"{k}: {v}" for k, v in (e.get("thetas") or {"init": "zeros"}).items()),
                }
            )
    body = ""
    if rows:
        body += ctx.table(
            "config", pd.DataFrame(rows), ["env_name", "env", "theta_name"], title="Environments and θ points"
        )
    config_yaml = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)
    body += (
        f'<details class="config"><summary>The study config (YAML, in its own key order; hash '
        f'<span class="mono">{esc(provenance.get("config_hash") or "–")}</span>)</summary>'
        f"<pre>{esc(config_yaml)}</pre></details>"
    )
    return SectionOutput([], body, "What was run: the environments and policy points, and the whole config.")


def _data_html(ctx: ReportContext) -> SectionOutput:
    body = ""
    if ctx.has("metrics"):
        m = ctx.tables["metrics"]
        body += ctx.table(
            "metrics",
            m,
            [
                *CELL_COLUMNS,
                "var_per_traj",
                "work_normalized_variance",
                "bias_sq",
                "mse",
                "cosine",
                "var_per_traj_exact",
            ],
            title="Metrics: every cell",
            page_size=15,
        )
    links = "".join(f'<li><a href="{esc(href)}">{esc(key)}</a></li>' for key, href in sorted(ctx.table_links.items()))
    if links:
        body += f'<h4>Every table as CSV (beside this page)</h4><ul class="links">{links}</ul>'
    return SectionOutput([], body, "Search, sort and page through the tables; the CSV files hold every column.")


def _glossary_html() -> SectionOutput:
    items = "".join(f"<dt>{esc(t)}</dt><dd>{esc(d)}</dd>" for t, d in GLOSSARY)
    return SectionOutput([], f'<dl class="glossary">{items}</dl>')


def _provenance_html(provenance: dict[str, Any]) -> SectionOutput:
    rows = [
        ("pgexp version", provenance.get("pgexp_version", "–")),
        ("config hash", provenance.get("config_hash") or "–"),
        ("created", provenance.get("created", "–")),
    ]
    for k, v in provenance.items():
        if k not in ("pgexp_version", "config_hash", "created", "libraries"):
            rows.append((k, v if isinstance(v, str) else yaml.safe_dump(v, default_flow_style=True).strip()))
    libs = provenance.get("libraries") or {}
    body = '<dl class="prov">' + "".join(f'<dt>{esc(k)}</dt><dd class="mono">{esc(v)}</dd>' for k, v in rows) + "</dl>"
    if libs:
        body += (
            '<details><summary>Library versions</summary><dl class="prov">'
            + "".join(f'<dt>{esc(k)}</dt><dd class="mono">{esc(v)}</dd>' for k, v in sorted(libs.items()))
            + "</dl></details>"
        )
    return SectionOutput([], body)


def render_page(ctx: ReportContext, provenance: dict[str, Any], *, title: str = TITLE) -> str:
    """The HTML of the page for a context (tables, figures, config)."""
    headline = ctx.figure(SUMMARY_FIGURE)  # claimed first: no section shows it again
    rendered: list[_Rendered] = []
    for sec in sorted(load_sections().values(), key=lambda s: (s.order, s.key)):
        if not ctx.has(*sec.needs):
            continue
        out = sec.build(ctx)
        if out is not None and (out.findings or out.html):
            rendered.append(_Rendered(sec.key, sec.title, out))
    rest = [n for n in ctx.figures if n not in ctx.used_figures]
    if rest:
        rendered.append(_Rendered("figures", "Other figures", SectionOutput([], "".join(ctx.figure(n) for n in rest))))
    tail = [
        _Rendered("data", "Data tables", _data_html(ctx)),
        _Rendered("glossary", "Glossary", _glossary_html()),
        _Rendered("provenance", "Provenance", _provenance_html(provenance)),
    ]
    setup = _Rendered("setup", "Setup", _config_html(ctx.config, provenance, ctx))
    pages = [setup, *rendered, *tail]
    numbered = [(r, f"{i}. {r.title}") for i, r in enumerate(pages, start=1)]
    toc = "".join(f'<li><a href="#{esc(r.key)}">{esc(t)}</a></li>' for r, t in numbered)
    sections = "".join(
        f'<section id="{esc(r.key)}"><h2>{esc(t)}</h2>'
        + (f'<p class="intro">{esc(r.out.intro)}</p>' if r.out.intro else "")
        + _findings_html(r.out.findings)
        + r.out.html
        + "</section>"
        for r, t in numbered
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
        f"<style>{_asset('gridjs.css')}\n{_asset('report.css')}</style></head>\n"
        f'<body><div class="layout"><nav id="toc"><div class="toc-title">Contents</div><ul>'
        f'<li><a href="#summary">Summary</a></li>{toc}</ul></nav>'
        f"<main><h1>{esc(title)}</h1>{_summary_html(rendered, headline)}{sections}</main></div>"
        f"<script>{_asset('gridjs.umd.js')}</script><script>{_asset('report.js')}</script></body></html>\n"
    )


def build_report(
    *,
    config: dict,
    tables: dict[str, pd.DataFrame],
    figures: Mapping[str, str | Path],
    provenance: dict,
    output: str | Path,
    table_links: dict[str, str] | None = None,
    title: str = TITLE,
) -> None:
    """Write the self-contained HTML report to ``output`` (atomically).

    Args:
        config: the study config (shown as YAML in its own key order).
        tables: table key -> DataFrame (``metrics``, ``slopes``, ``exact``, ``comparisons``, ``decomposition``,
            ``curves``, ``summary``, ``training_variance``, ``deep_quality``, ``deep_summary``, and any key a
            registered section needs).
        figures: figure name -> path of its ``.pdf``; the ``.png`` beside it is embedded with its registry caption.
        provenance: ``pgexp_version``, ``libraries`` (name -> version), ``config_hash``, ``created``; other keys
            are listed too.
        table_links: table key -> href of its CSV, relative to the page (the data section links them).
    """
    prov = {"created": datetime.date.today().isoformat(), **provenance}
    ctx = ReportContext(
        tables={k: v for k, v in tables.items() if v is not None},
        figures={k: Path(v) for k, v in figures.items()},
        config=config or {},
        table_links=dict(table_links or {}),
    )
    atomic_write_text(output, render_page(ctx, prov, title=title))
