"""The figure registry: one :class:`Figure` spec per figure, Gymnasium-style.

A spec carries everything the rest of the system asks of a figure, so nothing else repeats it:

* ``pgexp plot NAME --ROLE PATH ... --output X.pdf`` takes one ``--ROLE`` option per table role of
  the registered figures (:func:`table_roles`) and draws through :meth:`Figure.make`;
* the workflow's one ``rule figure`` builds ``results/figures/{figure}.{pdf,png}`` from
  ``results/tables/<table>.parquet`` (:attr:`Figure.tables`), with the caption :attr:`Figure.caption`
  (the Snakemake report and the HTML report read the same text); the figures a study builds are the
  registered figures whose :attr:`Figure.section` the config has (:func:`figures_for`).

The registry imports neither matplotlib nor the figure modules: ``draw`` may be given as
``"module:function"`` and is imported on first use (Snakemake reads the registry on every call,
including a no-op ``snakemake -n``).

Missing data, decided once for every figure: a *required* table that is not given, or a table that
has rows but lacks a column the figure needs (a table of the wrong kind), raises
:class:`~pgexp.errors.UserError` naming the table; a table without rows, or whose rows hold nothing
this figure draws, gives a "no data" figure that says so (a study section may legitimately have
nothing for a figure, and the workflow must still finish).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pgexp.errors import UserError

if TYPE_CHECKING:
    import matplotlib.figure
    import pandas as pd

#: Section names that are not a config key of their own: estimation is the ``environments`` section.
SECTION_KEYS = {"estimation": "environments"}
#: ``pgexp plot`` options that are not tables.
RESERVED_ROLES = {"figure", "output", "plugin", "help"}


@dataclass(frozen=True)
class Figure:
    """A registered figure.

    Attributes:
        name: registry key: ``pgexp plot NAME``, ``results/figures/NAME.{pdf,png}``.
        draw: ``draw(tables) -> matplotlib.figure.Figure`` or ``"module:function"`` naming it.  ``tables``
            maps each role of :attr:`tables` that was given to a DataFrame; it only draws (no file I/O).
        tables: role -> table name.  ``draw`` gets ``tables[role]``; ``pgexp plot`` takes ``--ROLE PATH``
            (underscores as dashes); the workflow passes ``results/tables/<table name>.parquet``.
        caption: the figure's one caption (plain text, valid reStructuredText).
        section: the config section that enables it: ``"estimation"`` (always present), or a config
            key, dotted for a nested one (``"training"``, ``"deep"``, ``"deep.training"``).
        order: position among the figures (report, ``figures_for``); lower first, ties by name.
        optional: roles ``draw`` does without (e.g. exact curves beside Monte-Carlo points); the
            workflow passes them when the study makes that table.
        columns: role -> columns a table with rows must have.
    """

    name: str
    draw: Callable[[dict[str, pd.DataFrame]], matplotlib.figure.Figure] | str
    tables: Mapping[str, str]
    caption: str
    section: str = "estimation"
    order: int = 100
    optional: tuple[str, ...] = ()
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = (set(self.optional) | set(self.columns)) - set(self.tables)
        if unknown:
            raise ValueError(f"figure {self.name}: roles {sorted(unknown)} are not in tables {sorted(self.tables)}")
        if not self.name.isidentifier() or not all(role.isidentifier() for role in self.tables):
            raise ValueError(f"figure {self.name}: the name and table roles must be identifiers")
        if RESERVED_ROLES & set(self.tables):
            raise ValueError(f"figure {self.name}: table roles cannot be {sorted(RESERVED_ROLES)} (pgexp plot options)")

    @property
    def draw_fn(self) -> Callable[[dict[str, pd.DataFrame]], matplotlib.figure.Figure]:
        """The draw function (imported on first use when ``draw`` names it)."""
        if callable(self.draw):
            return self.draw
        module, _, func = self.draw.partition(":")
        return getattr(importlib.import_module(module), func)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(role for role in self.tables if role not in self.optional)

    def check(self, tables: Mapping[str, pd.DataFrame], sources: Mapping[str, str] | None = None) -> None:
        """Refuse missing required tables and tables of the wrong kind (rows but missing columns).

        ``sources`` names where each table came from (e.g. ``--metrics results/tables/metrics.parquet``)
        for the message.
        """
        sources = sources or {}
        for role in self.required:
            if tables.get(role) is None:
                raise UserError(f"figure {self.name} needs the {self.tables[role]} table: give {option(role)} PATH")
        for role, needed in self.columns.items():
            df = tables.get(role)
            if df is None or len(df) == 0:
                continue
            missing = [c for c in needed if c not in df.columns]
            if missing:
                where = sources.get(role, option(role))
                raise UserError(f"{where}: not a {self.tables[role]} table (figure {self.name}): "
                                f"no column {', '.join(missing)}")

    def make(self, tables: Mapping[str, pd.DataFrame],
             sources: Mapping[str, str] | None = None) -> matplotlib.figure.Figure:
        """:meth:`check` the tables, then draw the figure from the roles it declares; intervals an axis cuts
        are marked (:func:`pgexp.figures.layout.mark_clipped`), the same for every figure."""
        from pgexp.figures.layout import mark_clipped

        self.check(tables, sources)
        fig = self.draw_fn({role: df for role, df in tables.items() if role in self.tables and df is not None})
        mark_clipped(fig)
        return fig


FIGURES: dict[str, Figure] = {}


def register_figure(spec: Figure | None = None, /, **fields: Any) -> Figure:
    """Register ``spec`` (or ``Figure(**fields)``), replacing any figure of that name; returns it."""
    spec = spec if spec is not None else Figure(**fields)
    FIGURES[spec.name] = spec
    return spec


def get_figure(name: str) -> Figure:
    if name not in FIGURES:
        raise UserError(f"figure: unknown {name!r}; allowed: {', '.join(ordered())}")
    return FIGURES[name]


def ordered(names: Iterable[str] | None = None) -> list[str]:
    """Figure names (default: all registered) in registry order."""
    names = list(FIGURES) if names is None else list(names)
    return sorted(names, key=lambda n: (FIGURES[n].order, n) if n in FIGURES else (10**9, n))


def option(role: str) -> str:
    """The ``pgexp plot`` option of a table role: ``training_variance`` -> ``--training-variance``."""
    return "--" + role.replace("_", "-")


def table_roles() -> dict[str, list[str]]:
    """Every table role of the registered figures -> the table names it stands for, in registry order."""
    roles: dict[str, list[str]] = {}
    for name in ordered():
        for role, table in FIGURES[name].tables.items():
            if table not in roles.setdefault(role, []):
                roles[role].append(table)
    return roles


def section_enabled(section: str, config: Mapping[str, Any]) -> bool:
    """Whether ``config`` has the (dotted) ``section``, non-empty."""
    node: Any = config
    for key in SECTION_KEYS.get(section, section).split("."):
        if not isinstance(node, Mapping) or not node.get(key):
            return False
        node = node[key]
    return True


def figures_for(config: Mapping[str, Any]) -> list[str]:
    """The figures a study config builds, in registry order.

    Every registered figure whose section the config has; the optional ``figures`` key narrows that
    to the figures it lists (each must be registered and enabled).
    """
    enabled = [n for n in ordered() if section_enabled(FIGURES[n].section, config)]
    chosen = config.get("figures")
    if chosen is None:
        return enabled
    for name in chosen:
        if name not in FIGURES:
            raise UserError(f"figures: unknown figure {name!r}; allowed: {', '.join(ordered())}")
        if name not in enabled:
            raise UserError(f"figures: {name} needs the {FIGURES[name].section!r} section of the config")
    return [n for n in enabled if n in chosen]
