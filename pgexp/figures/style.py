"""The look every figure shares: colours, markers, labels and order of estimators and baselines (from
their registries), axis labels that carry the definitions, print scaling, and the empty figure.

Colours: hue by estimator (:attr:`pgexp.estimators.Estimator.color`), shade and marker by baseline
(:class:`pgexp.estimators.Baseline`) in figures coloured by ``estimator~baseline`` pair; figures
coloured by baseline use the baseline's own Okabe-Ito colour.  Names the registries do not know
(a plug-in that set no colour) get a spare colour and marker picked from a hash of the name, so
they are the same in every figure and every run.

Print scaling: a figure wider than :data:`PRINT_WIDTH` (7 in, a page's text width) is shrunk to it
in print, so its fonts and lines are scaled up by ``width / PRINT_WIDTH`` (:func:`print_scale`) and
every text still prints at >= 6 pt; printed, no figure is taller than :data:`MAX_PRINT_HEIGHT` (the text
block of a page: :func:`max_height` gives the drawn height that prints that tall).  Figures are
:class:`matplotlib.figure.Figure` objects on the Agg canvas: drawing needs no display and never touches
pyplot's global state.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.layout_engine import ConstrainedLayoutEngine

from pgexp.estimators import BASELINE_SPECS, ESTIMATORS
from pgexp.io import PRINT_WIDTH  # inches: a wider figure is shrunk to this in print; its fonts are scaled up

FIG_WIDTH = 7.0  # inches: full text width; multi-panel figures never go narrower
MAX_PRINT_HEIGHT = 9.0  # inches, printed: the text block of a Letter page (1 in margins; A4's is 9.7 in)
PANEL_W, PANEL_H = 2.0, 1.8  # inches per facet-grid column / row (before shrinking to PRINT_WIDTH)
MARKER_PT = 3.4  # marker size in facet grids, points at print size
REF_COLOR = "0.55"  # guide lines (the lecture's H^3, 1/N)
_SPARE_COLORS = ("#ca9161", "#56b4e9", "#b59f00", "#8c6d31")
_SPARE_MARKERS = ("P", "X", "*", "h")

# Axis labels: the definitions go on the page (cosine depends on N; SNR is of the batch mean).
COSINE_LABEL = "cosine cos(ĝ, ∇J)\n(mean over batches)"
MC_COSINE_LABEL = "cosine to the Monte-Carlo\nreference (mean over batches)"
REL_MSE_LABEL = "relative MSE\n‖ĝ − ∇J‖² / ‖∇J‖²"
MC_REL_MSE_LABEL = "relative MSE to the\nMonte-Carlo reference"
VAR_LABEL = "per-trajectory\nvariance tr Cov[g]"
WNV_LABEL = "work-normalised var.\ntr Cov[ĝ] × env steps"
BATCH_LABEL = "batch size N (trajectories)"
PROGRESS_LABEL = "progress (J − J₀)/(J* − J₀)"


# ------------------------------------------------------------------------------- names and colours


def _spare(name: str, options: tuple[str, ...]) -> str:
    return options[zlib.crc32(name.encode()) % len(options)]


def estimator_label(name: str) -> str:
    spec = ESTIMATORS.get(name)
    return spec.label if spec is not None and spec.label else name


def baseline_label(name: str) -> str:
    spec = BASELINE_SPECS.get(name)
    return spec.label if spec is not None else name


def pair_label(estimator: str, baseline: str) -> str:
    """``"REINFORCE, exact V"``: the estimator~baseline pair in legends and tick labels."""
    return f"{estimator_label(estimator)}, {baseline_label(baseline)}"


def estimator_color(name: str) -> tuple[float, float, float]:
    """The estimator's hue (that of ``estimator~none`` in :func:`pair_style`)."""
    spec = ESTIMATORS.get(name)
    color = spec.color if spec is not None and spec.color else _spare(name, _SPARE_COLORS)
    r, g, b = to_rgb(color)
    return (float(r), float(g), float(b))


def baseline_style(name: str) -> dict[str, Any]:
    """``color`` (RGB) and ``marker`` of a baseline in figures coloured by baseline."""
    spec = BASELINE_SPECS.get(name)
    color = spec.color if spec is not None and spec.color else _spare(name, _SPARE_COLORS)
    marker = spec.marker if spec is not None else _spare(name, _SPARE_MARKERS)
    return {"color": tuple(float(c) for c in to_rgb(color)), "marker": marker}


def pair_style(estimator: str, baseline: str) -> dict[str, Any]:
    """``color`` (RGB: the estimator's hue, shaded by the baseline) and ``marker`` (the baseline's)."""
    spec = BASELINE_SPECS.get(baseline)
    shade = spec.shade if spec is not None else 0.2
    rgb = np.asarray(estimator_color(estimator))
    rgb = rgb * (1 + shade) if shade < 0 else rgb + (1 - rgb) * shade
    return {"color": tuple(float(c) for c in np.clip(rgb, 0, 1)), "marker": baseline_style(baseline)["marker"]}


def estimator_sort_key(name: str) -> tuple[int, str]:
    spec = ESTIMATORS.get(name)
    return (spec.order if spec is not None else 10**6, name)


def baseline_sort_key(name: str) -> tuple[int, str]:
    spec = BASELINE_SPECS.get(name)
    return (spec.order if spec is not None else 10**6, name)


def pair_sort_key(estimator: str, baseline: str) -> tuple:
    return (*estimator_sort_key(estimator), *baseline_sort_key(baseline))


def ordered_estimators(names: Iterable[Any]) -> list[str]:
    return sorted({str(n) for n in names}, key=estimator_sort_key)


def ordered_baselines(names: Iterable[Any]) -> list[str]:
    return sorted({str(n) for n in names}, key=baseline_sort_key)


# ---------------------------------------------------------------------------------- rc and canvas


def print_scale(width: float) -> float:
    """Font and line scale of a figure ``width`` inches wide that is shrunk to :data:`PRINT_WIDTH` in print."""
    return max(1.0, width / PRINT_WIDTH)


def max_height(width: float) -> float:
    """The tallest figure ``width`` inches wide that prints within :data:`MAX_PRINT_HEIGHT`."""
    return MAX_PRINT_HEIGHT * print_scale(width)


_SCALED = ("axes.titlesize", "axes.labelsize", "xtick.labelsize", "ytick.labelsize", "legend.fontsize",
           "legend.title_fontsize", "font.size", "figure.titlesize", "figure.labelsize", "grid.linewidth",
           "lines.linewidth", "lines.markersize", "errorbar.capsize", "hatch.linewidth", "axes.linewidth",
           "xtick.major.size", "ytick.major.size", "xtick.major.width", "ytick.major.width", "xtick.minor.size",
           "ytick.minor.size", "xtick.minor.width", "ytick.minor.width", "xtick.major.pad", "ytick.major.pad",
           "axes.titlepad", "axes.labelpad", "patch.linewidth", "lines.markeredgewidth")


# seaborn's ``whitegrid`` style and ``paper`` context, written out: importing seaborn (and the scipy.stats it
# loads) cost a figure job ~1 s of its ~2 s.
_BASE_RC: dict[str, Any] = {
    "figure.facecolor": "white", "axes.facecolor": "white", "axes.labelcolor": ".15", "text.color": ".15",
    "xtick.color": ".15", "ytick.color": ".15", "xtick.direction": "out", "ytick.direction": "out",
    "xtick.top": False, "ytick.right": False, "xtick.bottom": False, "ytick.left": False, "axes.axisbelow": True,
    "axes.grid": True, "grid.linestyle": "-", "lines.solid_capstyle": "round", "patch.edgecolor": "w",
    "patch.force_edgecolor": True, "axes.spines.left": True, "axes.spines.bottom": True, "axes.spines.right": True,
    "axes.spines.top": True, "patch.linewidth": 0.8, "xtick.major.width": 1.0, "ytick.major.width": 1.0,
    "xtick.minor.width": 0.8, "ytick.minor.width": 0.8, "xtick.major.size": 4.8, "ytick.major.size": 4.8,
    "xtick.minor.size": 3.2, "ytick.minor.size": 3.2, "font.size": 9.6,
}


def rc(scale: float = 1.0) -> dict[str, Any]:
    """seaborn's ``whitegrid``/``paper`` look with pgexp's sizes, every size multiplied by ``scale``."""
    params: dict[str, Any] = dict(_BASE_RC)
    params.update({
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans", "Arial", "Liberation Sans", "sans-serif"],
        "axes.titlesize": 9.5, "axes.titleweight": "bold", "axes.labelsize": 9.0,
        "xtick.labelsize": 8.0, "ytick.labelsize": 8.0, "legend.fontsize": 7.5, "legend.title_fontsize": 7.5,
        "legend.frameon": False, "grid.linewidth": 0.5, "grid.color": "0.9", "axes.edgecolor": "0.6",
        "axes.linewidth": 0.6, "lines.linewidth": 1.2, "lines.markersize": 4.5, "errorbar.capsize": 2.0,
        "hatch.linewidth": 0.6,
    })
    if scale != 1.0:
        for key in _SCALED:
            val = params.get(key, cast(dict[str, Any], matplotlib.rcParams)[key])
            if val is None:
                continue
            if isinstance(val, str):  # "medium" etc.
                val = FontProperties(size=val).get_size_in_points()
            params[key] = float(val) * scale
    return params


@contextmanager
def style(scale: float = 1.0) -> Iterator[None]:
    """Draw inside this context.  Axes read the rc when they are created (their first tick too, which
    later ticks copy), so a figure drawn here saves with the same look outside it."""
    with matplotlib.rc_context(cast(Any, rc(scale))):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure on the Agg canvas (no pyplot)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    set_spacing(fig, w_pad=0.04, h_pad=0.04, wspace=0.04, hspace=0.06)
    return fig


def set_spacing(fig: Figure, *, w_pad: float | None = None, h_pad: float | None = None,
                wspace: float | None = None, hspace: float | None = None) -> None:
    """Set the constrained-layout pads and spaces of ``fig`` (inches / fractions, as matplotlib's)."""
    engine = fig.get_layout_engine()
    assert isinstance(engine, ConstrainedLayoutEngine)
    engine.set(w_pad=w_pad, h_pad=h_pad, wspace=wspace, hspace=hspace)


def no_data(title: str, note: str) -> Figure:
    """The figure drawn when the tables hold nothing for it: its ``title`` and why (``note``)."""
    with style():
        fig = new_figure(FIG_WIDTH, 1.6)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_title(title)
        ax.text(0.5, 0.45, f"no data: {note}", ha="center", va="center", fontsize=9, color="0.35", wrap=True,
                transform=ax.transAxes)
        return fig
