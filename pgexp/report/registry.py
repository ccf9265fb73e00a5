"""Report sections: registered functions ``tables -> findings + HTML``, assembled by :mod:`pgexp.report.html`.

A section is a title and a function of a :class:`ReportContext` (the study's tables, figures and
config) that returns a :class:`SectionOutput`: its findings (sentences generated from the tables)
and its HTML body.  A stream that adds a section writes one module in ``pgexp/report/sections/``::

    from pgexp.report.registry import Finding, ReportContext, SectionOutput, register_section

    @register_section("gae_tradeoff", "GAE: the λ trade-off", order=45, needs=("gae_tradeoff",))
    def gae_tradeoff(ctx: ReportContext) -> SectionOutput | None:
        df = ctx.tables["gae_tradeoff"]
        return SectionOutput([Finding("…", headline=30)], ctx.table("gae_tradeoff", df, [...]))

and the page picks it up: every module of :mod:`pgexp.report.sections` is imported by
:func:`load_sections`; the page assembly is never edited.  ``needs`` lists the table keys the section
reads (``pgexp report --table KEY=PATH`` or the named options); a section whose tables are absent is
left out, and one that returns ``None`` too.  ``order`` places it (smaller first; the built-in ones use
10, 20, …, 90).  ``Finding.headline`` (smaller = more important) puts a sentence into the one-screen
summary, which shows at most :data:`SUMMARY_MAX` of them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

SUMMARY_MAX = 8


@dataclass(frozen=True)
class Finding:
    """One sentence generated from a table.

    ``group``: the heading it is listed under within its section (e.g. an environment; ``""``: none).
    ``level``: ``"info"``; ``"biased"`` (a bias the data confirm or the registry declares);
    ``"unconfirmed"`` (a flag a rerun did not confirm).  ``headline``: priority in the summary
    (``None``: not in the summary).
    """

    text: str
    group: str = ""
    level: str = "info"
    headline: float | None = None


@dataclass
class SectionOutput:
    """What a section returns: its findings (listed first) and the HTML that follows them."""

    findings: list[Finding] = field(default_factory=list)
    html: str = ""
    intro: str = ""  # plain text shown under the title (what the section measures, how)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    order: float
    needs: tuple[str, ...]
    build: Callable[[ReportContext], SectionOutput | None]


SECTIONS: dict[str, Section] = {}


def register_section(key: str, title: str, *, order: float, needs: tuple[str, ...] = ()):
    """Decorator: register ``fn(ctx) -> SectionOutput | None`` as a report section (see the module docstring)."""

    def deco(fn: Callable[[ReportContext], SectionOutput | None]):
        SECTIONS[key] = Section(key, title, float(order), tuple(needs), fn)
        return fn

    return deco


def load_sections() -> dict[str, Section]:
    """Import every module of :mod:`pgexp.report.sections` (each registers its sections); the registry."""
    import pgexp.report.sections as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{mod.name}")
    return SECTIONS


@dataclass
class ReportContext:
    """What a section sees: ``tables`` (key -> DataFrame), ``figures`` (name -> PDF path; the PNG beside
    it is embedded), ``config`` (the study config), and helpers that render figures and tables."""

    tables: dict[str, pd.DataFrame]
    figures: dict[str, Path] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    table_links: dict[str, str] = field(default_factory=dict)  # table key -> CSV href (relative to the page)
    used_figures: list[str] = field(default_factory=list)
    _table_ids: list[str] = field(default_factory=list)

    def has(self, *keys: str) -> bool:
        return all(k in self.tables and self.tables[k] is not None and not self.tables[k].empty for k in keys)

    def figure(self, name: str) -> str:
        """The figure ``name`` embedded with its caption (from the figure registry); ``""`` if not built."""
        from pgexp.report.figures import figure_html

        if name not in self.figures or name in self.used_figures:
            return ""
        self.used_figures.append(name)
        return figure_html(name, self.figures[name])

    def table(self, key: str, df: pd.DataFrame, columns: list[str], *, title: str = "", page_size: int = 10) -> str:
        """An interactive table (sort, search, pages, sticky header) of ``df[columns]``, defined columns,
        and a link to the CSV of the table ``key`` when the page has one."""
        from pgexp.report.tables import interactive_table

        tid = f"t{len(self._table_ids) + 1}-{key}"
        self._table_ids.append(tid)
        return interactive_table(tid, df, columns, title=title, csv=self.table_links.get(key), page_size=page_size)
