"""Layout helpers the multi-panel figures share: a legend strip under the panels, outer tick labels
only, row labels, log-axis ticks, panel titles that wrap instead of running into the next panel.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, LogFormatterSciNotation, NullFormatter, NullLocator, ScalarFormatter

from pgexp.figures.style import new_figure, set_spacing

BLANK = Line2D([], [], linestyle="none")  # a legend handle that draws nothing: row headings, spacers
LEGEND_ROW_IN = 0.2  # inches (at print size) per legend line under a grid
_LEGEND_PT = 7.5  # legend text size at print size

LegendRow = tuple[list[str], list[Any]]  # (labels, handles)


def figure_with_legend(width: float, panels_height: float, rows: Sequence[LegendRow], scale: float,
                       title: str | None = None) -> tuple[Figure, SubFigure]:
    """A figure: a panel subfigure (returned) above a strip with the legend ``rows``.

    A row whose labels do not fit the print width is broken over several lines; a label with the
    :data:`BLANK` handle that ends in ``":"`` is a bold row heading.
    """
    lines = _legend_lines(rows, width / scale)
    n = len(lines) + (1 if title else 0)
    legend_height = (n * LEGEND_ROW_IN + 0.05) * scale
    fig = new_figure(width, panels_height + legend_height)
    set_spacing(fig, wspace=0.07, hspace=0.07)
    grid, strip = fig.subfigures(2, 1, squeeze=False, height_ratios=[panels_height, legend_height], hspace=0.0)[:, 0]
    if title:
        strip.text(0.5, 1 - 0.5 / n, title, ha="center", va="center", fontsize=matplotlib.rcParams["legend.fontsize"])
    for i, (labels, handles) in enumerate(lines, start=1 if title else 0):
        legend = strip.legend(handles, labels, loc="center", bbox_to_anchor=(0.5, 1 - (i + 0.5) / n),
                              ncols=len(handles), handlelength=1.8, handletextpad=0.5, columnspacing=1.3,
                              borderaxespad=0.0, borderpad=0.1)
        for handle, text in zip(handles, legend.get_texts()):
            if handle is BLANK and text.get_text().endswith(":"):
                text.set_fontweight("bold")
    return fig, grid


def _legend_lines(rows: Sequence[LegendRow], print_width: float) -> list[LegendRow]:
    """``rows`` broken into lines that fit ``print_width`` inches (widths estimated from label lengths)."""
    avail = print_width * 72.0 * 0.96
    out: list[LegendRow] = []
    for labels, handles in rows:
        line: LegendRow = ([], [])
        used = 0.0
        for label, handle in zip(labels, handles):
            need = _LEGEND_PT * (1.8 + 0.5 + 1.3) + 0.6 * _LEGEND_PT * len(label)
            if line[0] and used + need > avail:
                out.append(line)
                line, used = ([], []), 0.0
            line[0].append(label)
            line[1].append(handle)
            used += need
        if line[0]:
            out.append(line)
    return out


def outer_labels(axes: np.ndarray, visible: np.ndarray) -> None:
    """Hide invisible panels; tick labels on the outer visible panels only (lowest per column, leftmost per row)."""
    nrows, ncols = axes.shape
    for r in range(nrows):
        for c in range(ncols):
            if not visible[r, c]:
                axes[r, c].set_visible(False)
                continue
            axes[r, c].tick_params(labelbottom=not visible[r + 1:, c].any(), labelleft=not visible[r, :c].any())


def row_titles(axes: np.ndarray, visible: np.ndarray, labels: Sequence[str]) -> None:
    """Row labels in the right margin, rotated, beside the rightmost visible panel of each row."""
    for r, label in enumerate(labels):
        cols = np.flatnonzero(visible[r])
        if cols.size:
            text = label.replace(" (θ: ", "\nθ: ").rstrip(")") if " (θ: " in label else label
            label = axes[r, cols[-1]].annotate(text, xy=(1.0, 0.5), xycoords="axes fraction", xytext=(5, 0),
                                               textcoords="offset points", rotation=270, ha="left", va="center",
                                               fontsize=matplotlib.rcParams["axes.titlesize"], fontweight="bold",
                                               annotation_clip=False)
            # a label inside the grid (hidden panels to its right) must not widen the gap between columns
            label.set_in_layout(cols[-1] == axes.shape[1] - 1)


def log_ticks(ax: Any, lo: float, hi: float, max_ticks: int = 5, axis: str = "y") -> None:
    """Decade ticks on a log axis spanning ``[lo, hi]`` (every k-th decade, at most ``max_ticks``)."""
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        return
    d0, d1 = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    if d1 < d0:  # less than a decade: matplotlib's own ticks
        return
    stride = next((k for k in (1, 2, 3, 4, 5, 10, 20) if (d1 - d0) // k + 1 <= max_ticks), 50)
    first = math.ceil(d0 / stride) * stride
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(FixedLocator((10.0 ** np.arange(first, d1 + 1, stride)).tolist()))
    target.set_major_formatter(LogFormatterSciNotation(base=10.0))
    target.set_minor_locator(NullLocator())


def value_ticks(ax: Any, values: np.ndarray) -> None:
    """Plain-number x ticks at the measured values (a log axis otherwise labels only powers of ten)."""
    if 1 <= len(values) <= 8:
        ax.xaxis.set_major_locator(FixedLocator(np.asarray(values, dtype=float).tolist()))
        fmt = ScalarFormatter()
        fmt.set_scientific(False)
        ax.xaxis.set_major_formatter(fmt)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())


def padded_limits(values: np.ndarray, *, log: bool, pad: float = 2.5) -> tuple[float, float] | None:
    """Axis limits around the finite (and, on a log axis, positive) ``values``: a factor ``pad`` on a log
    axis, ``6 %`` of the span on a linear one; None when there is nothing to show."""
    v = values[np.isfinite(values) & ((values > 0) if log else True)]
    if not v.size:
        return None
    if log:
        return float(v.min() / pad), float(v.max() * pad)
    span = float(v.max() - v.min()) or 1.0
    return float(v.min() - 0.06 * span), float(v.max() + 0.06 * span)


def cosine_limits(values: np.ndarray) -> tuple[float, float] | None:
    """y limits of a cosine axis: up to just above 1, down to the lowest value (not below -1)."""
    v = values[np.isfinite(values)]
    if not v.size:
        return None
    lo = max(-1.0, float(v.min()))
    pad = max(0.03, 0.06 * (1.0 - lo))
    return max(-1.05, lo - pad), 1.0 + pad


def wrapped_title(ax: Any, text: str, ncols: int, scale: float = 1.0) -> None:
    """A panel title wrapped to the panel width, long names broken after an underscore (else at a space)."""
    width = max(16, int(ax.get_figure(root=True).get_figwidth() / scale / max(ncols, 1) / 0.078))
    out = []
    for line in text.split("\n"):
        while len(line) > width:
            cut = line.rfind("_", 0, width) + 1 or line.rfind(" ", 0, width) + 1 or width
            out.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        out.append(line)
    ax.set_title("\n".join(out))


def wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width))
