"""Figures: a registry of :class:`Figure` specs and one module per figure.

Each figure module has ``draw(tables: dict[str, DataFrame]) -> matplotlib.figure.Figure``: it draws,
it decides nothing about files (:func:`pgexp.io.save_figure` writes PDF + PNG).  Shared look:
:mod:`pgexp.figures.style` (colours and labels from the estimator and baseline registries),
:mod:`pgexp.figures.layout`, :mod:`pgexp.figures.data`.  A new figure is one module and one
:func:`register_figure` call (see :mod:`pgexp.figures.registry`); importing this package loads the
registry without matplotlib.
"""

from pgexp.figures import catalog, paper_catalog  # noqa: F401  (registers the built-in and paper-study figures)
from pgexp.figures.registry import (
    FIGURES,
    Figure,
    figures_for,
    get_figure,
    option,
    ordered,
    register_figure,
    section_enabled,
    table_roles,
)

__all__ = ["FIGURES", "Figure", "figures_for", "get_figure", "option", "ordered", "register_figure",
           "section_enabled", "table_roles"]
