"""Publication-ready figures from the result tables (metrics and slopes parquet files).

Every figure is written twice, side by side: a vector PDF and a PNG (200 dpi) -- given ``X.pdf`` the
functions also write ``X.png``.  Both are written atomically (temporary file in the same directory,
then ``os.replace``), so a reader never sees a half-written figure.

Style: seaborn ``whitegrid`` / ``paper``.  ``variance_vs_horizon`` is a facet grid (row = environment,
column = estimator) coloured by baseline (:func:`baseline_style`: one Okabe-Ito colour-blind-safe colour
and marker per baseline, the same in every panel); ``quality_vs_batch_size`` colours by estimator (the
hue of :func:`pair_style`) and shows each estimator once, with its lowest-MSE baseline, marker = that
baseline; ``bias_variance`` uses one fixed colour per ``estimator~baseline`` pair (:func:`pair_style`:
hue by estimator, shade and marker by baseline).  Figures wider than :data:`PRINT_WIDTH` (7 in) get
fonts and lines scaled up by ``width / PRINT_WIDTH``, so that shrunk to the page width every text is
still at least 7 pt.  Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg
canvas, so importing this module neither needs a display nor changes the global pyplot backend.

Units: horizons ``H`` in environment steps, batch sizes ``N`` in trajectories; variances and squared
errors are in squared gradient-norm units (``||.||^2`` of ``grad J`` in policy-parameter coordinates);
cosine similarity, relative MSE and slopes are dimensionless.
"""

from __future__ import annotations

import math
import os
import tempfile
import textwrap
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pgexp.analysis.aggregate import exact_per_trajectory

__all__ = [
    "FIGURES",
    "baseline_style",
    "bias_variance",
    "figure_paths",
    "pair_label",
    "pair_style",
    "quality_vs_batch_size",
    "variance_vs_horizon",
]

PNG_DPI = 200
FIG_WIDTH = 7.0  # inches: full text width; multi-panel figures never go narrower
PRINT_WIDTH = 7.0  # inches: a wider figure is shrunk to this in print; its fonts are scaled up to match
PANEL_W, PANEL_H = 2.0, 1.8  # inches per facet-grid column / row (before shrinking to PRINT_WIDTH)
NO_DATA = "no data for this figure in the config"
LECTURE_SLOPE = 3.0

# Colour hue by estimator, shade and marker by baseline.
ESTIMATOR_ORDER = ("reinforce", "reward_to_go", "advantage_exact", "gae", "rollin_rollout", "actor_critic")
BASELINE_ORDER = ("none", "constant", "value_exact", "value_learned", "optimal")
# blue, orange, green, purple, vermilion from the colourblind palette; charcoal for actor-critic (a sixth
# palette hue -- brown, grey or sky blue -- would be confused with the shaded variants of the others).
_ESTIMATOR_COLOR = {
    "reinforce": "#0173b2",
    "reward_to_go": "#de8f05",
    "advantage_exact": "#029e73",
    "gae": "#cc78bc",
    "rollin_rollout": "#d55e00",
    "actor_critic": "#4d4d4d",
}
_ESTIMATOR_HUE = {name: i for i, name in enumerate(ESTIMATOR_ORDER)}
_SPARE_COLORS = ("#ca9161", "#56b4e9", "#b59f00")  # for estimators not (yet) listed above
# baseline -> (shade: <0 mixes with black, >0 with white; marker)
_BASELINE_LOOK = {
    "none": (0.0, "o"),
    "constant": (0.35, "s"),
    "value_exact": (-0.3, "^"),
    "value_learned": (0.55, "v"),
    "optimal": (-0.55, "D"),
}
_SPARE_MARKERS = ("P", "X", "*", "h")
# Facet grids colour by baseline: Okabe-Ito colour-blind-safe hues, one per baseline, markers as above.
_BASELINE_COLOR = {
    "none": "#000000",
    "constant": "#e69f00",
    "value_exact": "#0072b2",
    "value_learned": "#cc79a7",
    "optimal": "#009e73",
}
_SPARE_BASELINE_COLORS = ("#d55e00", "#56b4e9", "#8c6d31")
_REF_COLOR = "0.55"


# ------------------------------------------------------------------------------------------ style


def pair_label(estimator: str, baseline: str) -> str:
    """The ``estimator~baseline`` name used in legends, tables and the report."""
    return f"{estimator}~{baseline}"


def _stable_index(name: str, n: int) -> int:
    return zlib.crc32(name.encode()) % n


def pair_style(estimator: str, baseline: str) -> dict[str, Any]:
    """Fixed ``color`` (RGB tuple) and ``marker`` of a pair: identical in every figure and every run."""
    color = _ESTIMATOR_COLOR.get(estimator) or _SPARE_COLORS[_stable_index(estimator, len(_SPARE_COLORS))]
    shade, marker = _BASELINE_LOOK.get(
        baseline, (0.2, _SPARE_MARKERS[_stable_index(baseline, len(_SPARE_MARKERS))]))
    rgb = np.asarray(to_rgb(color))
    rgb = rgb * (1 + shade) if shade < 0 else rgb + (1 - rgb) * shade
    return {"color": tuple(float(c) for c in np.clip(rgb, 0, 1)), "marker": marker}


def baseline_style(baseline: str) -> dict[str, Any]:
    """Fixed ``color`` (RGB tuple) and ``marker`` of a baseline in the facet-grid figures."""
    color = _BASELINE_COLOR.get(baseline) or _SPARE_BASELINE_COLORS[
        _stable_index(baseline, len(_SPARE_BASELINE_COLORS))]
    marker = _BASELINE_LOOK[baseline][1] if baseline in _BASELINE_LOOK else _SPARE_MARKERS[
        _stable_index(baseline, len(_SPARE_MARKERS))]
    return {"color": tuple(float(c) for c in to_rgb(color)), "marker": marker}


def _estimator_color(estimator: str) -> tuple[float, ...]:
    """The estimator's hue (that of ``estimator~none`` in :func:`pair_style`)."""
    return pair_style(estimator, "none")["color"]


def _pair_sort_key(pair: tuple[str, str]) -> tuple:
    est, base = pair
    return (_ESTIMATOR_HUE.get(est, len(ESTIMATOR_ORDER)), est,
            BASELINE_ORDER.index(base) if base in BASELINE_ORDER else len(BASELINE_ORDER), base)


def _print_scale(width: float) -> float:
    """Font and line scale of a figure ``width`` inches wide that is shrunk to :data:`PRINT_WIDTH` in print."""
    return max(1.0, width / PRINT_WIDTH)


def _rc(scale: float = 1.0) -> dict[str, Any]:
    rc: dict[str, Any] = {}
    rc.update(sns.axes_style("whitegrid"))
    rc.update(sns.plotting_context("paper", font_scale=1.0))
    rc.update({
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans", "Arial", "Liberation Sans", "sans-serif"],
        "axes.titlesize": 9.5,
        "axes.titleweight": "bold",
        "axes.labelsize": 9.0,
        "xtick.labelsize": 8.0,
        "ytick.labelsize": 8.0,
        "legend.fontsize": 7.5,
        "legend.title_fontsize": 7.5,
        "legend.frameon": False,
        "grid.linewidth": 0.5,
        "grid.color": "0.9",
        "axes.edgecolor": "0.6",
        "axes.linewidth": 0.6,
        "lines.linewidth": 1.2,
        "lines.markersize": 4.5,
        "errorbar.capsize": 2.0,
        "hatch.linewidth": 0.6,
        "pdf.fonttype": 42,  # embed TrueType: text stays text in the PDF
        "savefig.dpi": PNG_DPI,
    })
    if scale != 1.0:
        for key in ("axes.titlesize", "axes.labelsize", "xtick.labelsize", "ytick.labelsize", "legend.fontsize",
                    "legend.title_fontsize", "font.size", "figure.titlesize", "figure.labelsize", "grid.linewidth",
                    "lines.linewidth", "lines.markersize", "errorbar.capsize", "hatch.linewidth",
                    "axes.linewidth", "xtick.major.size", "ytick.major.size", "xtick.major.width",
                    "ytick.major.width", "xtick.minor.size", "ytick.minor.size", "xtick.minor.width",
                    "ytick.minor.width", "xtick.major.pad", "ytick.major.pad", "axes.titlepad", "axes.labelpad",
                    "patch.linewidth", "lines.markeredgewidth"):
            val = rc.get(key, matplotlib.rcParams[key])
            if val is None:
                continue
            if isinstance(val, str):
                val = FontProperties(size=val).get_size_in_points()
            rc[key] = float(val) * scale
    return rc


@contextmanager
def _style(scale: float = 1.0) -> Iterator[None]:
    with matplotlib.rc_context(_rc(scale)):
        yield


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(w_pad=0.04, h_pad=0.04, wspace=0.04, hspace=0.06)
    return fig


# ---------------------------------------------------------------------------------------- output


def figure_paths(output: str | Path) -> tuple[Path, Path]:
    """``(X.pdf, X.png)`` for an output path ``X.pdf`` (any suffix is replaced)."""
    output = Path(output)
    return output.with_suffix(".pdf"), output.with_suffix(".png")


def _save(fig: Figure, output: str | Path) -> None:
    """Write ``fig`` to ``X.pdf`` and ``X.png`` atomically (temp file in the same directory + os.replace)."""
    for path, fmt, kw in zip(figure_paths(output), ("pdf", "png"),
                             ({"metadata": {"CreationDate": None}}, {"dpi": PNG_DPI, "metadata": {"Software": None}})):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp.{fmt}")
        os.close(fd)
        try:
            fig.savefig(tmp, format=fmt, facecolor="white", **kw)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _empty_figure(output: str | Path, title: str, note: str = NO_DATA) -> None:
    with _style():
        fig = _new_figure(FIG_WIDTH, 2.2)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_title(title)
        ax.text(0.5, 0.5, note, ha="center", va="center", fontsize=10, color="0.4", transform=ax.transAxes)
        _save(fig, output)


# ------------------------------------------------------------------------------------ data prep


def _frame(df: pd.DataFrame | None, required: Sequence[str]) -> pd.DataFrame:
    """``df`` if it has every ``required`` column, else an empty frame with those columns."""
    if df is None or not set(required) <= set(df.columns):
        return pd.DataFrame(columns=list(required))
    return df


def _sweep(metrics: pd.DataFrame | None, sweeps: Sequence[str], required: Sequence[str]) -> pd.DataFrame:
    df = _frame(metrics, ["sweep", "env_name", "estimator", "baseline", *required])
    if df.empty:
        return df
    return df[df["sweep"].isin(sweeps)].copy()


def _panels(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One panel per ``env_name`` (and per ``theta_name`` where an env has several), titled by the short name."""
    out = []
    for env_name, sub in df.groupby("env_name", sort=True):
        thetas = sorted(sub["theta_name"].dropna().unique()) if "theta_name" in sub else []
        if len(thetas) > 1:
            for theta in thetas:
                out.append((f"{env_name} (θ: {theta})", sub[sub["theta_name"] == theta]))
        else:
            out.append((str(env_name), sub))
    return out


def _pairs(df: pd.DataFrame) -> list[tuple[str, str]]:
    pairs = {(str(e), str(b)) for e, b in zip(df["estimator"], df["baseline"])}
    return sorted(pairs, key=_pair_sort_key)


def _select(df: pd.DataFrame, est: str, base: str) -> pd.DataFrame:
    return df[(df["estimator"] == est) & (df["baseline"] == base)]


def _one_per(df: pd.DataFrame, key: str, prefer: Sequence[str]) -> pd.DataFrame:
    """One row per ``key`` value (the first after sorting by ``prefer``), sorted by ``key``."""
    prefer = [c for c in prefer if c in df.columns and c != key]
    return df.sort_values([key, *prefer], kind="stable").drop_duplicates(key).sort_values(key)


def _ci_err(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Asymmetric error-bar lengths ``(2, n)``; missing CIs draw no bar."""
    low = np.where(np.isfinite(lo), v - lo, 0.0)
    high = np.where(np.isfinite(hi), hi - v, 0.0)
    return np.clip(np.vstack([low, high]), 0.0, None)


def _col(df: pd.DataFrame, name: str) -> np.ndarray:
    if name not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)


def _grid(fig: Figure, n: int, *, max_cols: int, nrows_per: int = 1, sharex: bool = False) -> np.ndarray:
    ncols = min(n, max_cols)
    nblocks = math.ceil(n / ncols)
    axes = fig.subplots(nblocks * nrows_per, ncols, squeeze=False, sharex=sharex)
    return axes


def _hide_unused(axes: np.ndarray, used: int, nrows_per: int = 1) -> None:
    ncols = axes.shape[1]
    for k in range(used, (axes.shape[0] // nrows_per) * ncols):
        r, c = divmod(k, ncols)
        for j in range(nrows_per):
            axes[r * nrows_per + j, c].set_visible(False)


def _legend_ncols(labels: list[str], max_chars_two_cols: int = 48) -> int:
    longest = max((len(line) for lab in labels for line in lab.splitlines()), default=0)
    ncols = 1 if longest > max_chars_two_cols else (3 if longest < 30 else 2)
    return max(1, min(ncols, len(labels)))


def _legend_height(labels: list[str], max_chars_two_cols: int = 48) -> float:
    """Inches needed below the panels for :func:`_legend_below`."""
    if not labels:
        return 0.0
    ncols = _legend_ncols(labels, max_chars_two_cols)
    per_col = math.ceil(len(labels) / ncols)
    lines = max(sum(lab.count("\n") + 1 for lab in labels[c * per_col:(c + 1) * per_col]) for c in range(ncols))
    return 0.2 + 0.165 * lines


def _legend_below(fig: Figure, handles: list, labels: list[str], *, panels_height: float,
                  max_chars_two_cols: int = 48, title: str | None = None) -> None:
    """A figure legend under the panels; the figure height becomes ``panels_height`` plus the legend's."""
    extra = 0.17 * len(textwrap.wrap(title, 110)) if title else 0.0
    fig.set_size_inches(fig.get_figwidth(), panels_height + _legend_height(labels, max_chars_two_cols) + extra)
    if not handles:
        return
    ncols = _legend_ncols(labels, max_chars_two_cols)
    fig.legend(handles, labels, loc="outside lower center", ncols=min(ncols, len(handles)),
               handlelength=2.4, columnspacing=1.5, borderaxespad=0.2,
               title="\n".join(textwrap.wrap(title, 110)) if title else None, title_fontsize=7.5)


def _title(ax: Any, text: str, ncols: int) -> None:
    """A panel title, wrapped to the panel width (long env names must not run into the next panel)."""
    width = max(16, int(ax.get_figure().get_figwidth() / max(ncols, 1) / 0.078))
    ax.set_title("\n".join("\n".join(textwrap.wrap(line, width)) for line in text.split("\n")))


# ------------------------------------------------------------------------------- facet helpers


def _estimators(df: pd.DataFrame) -> list[str]:
    """The estimators present in ``df``: registry order first, unknown ones after, sorted."""
    present = {str(e) for e in df["estimator"].dropna().unique()}
    return [e for e in ESTIMATOR_ORDER if e in present] + sorted(present - set(ESTIMATOR_ORDER))


def _baselines(df: pd.DataFrame) -> list[str]:
    present = {str(b) for b in df["baseline"].dropna().unique()}
    return [b for b in BASELINE_ORDER if b in present] + sorted(present - set(BASELINE_ORDER))


def _row_label(label: str) -> str:
    """``"env (θ: name)"`` -> two lines, so the rotated row label stays short."""
    return label.replace(" (θ: ", "\nθ: ").rstrip(")") if " (θ: " in label else label


def _panel_theta(sub: pd.DataFrame) -> Any:
    return sub["theta_name"].iloc[0] if "theta_name" in sub and sub["theta_name"].nunique() == 1 else None


def _reference_batch(sub: pd.DataFrame) -> float | None:
    """The reference batch size of a panel: that of its ``sweep == "both"`` rows (else of its horizon sweep)."""
    for sweeps in (("both",), ("horizon",)):
        rows = sub[sub["sweep"].isin(sweeps)] if "batch_size" in sub else sub.iloc[:0]
        n = pd.to_numeric(rows["batch_size"], errors="coerce").dropna() if not rows.empty else rows
        if len(n):
            return float(n.mode().iloc[0])
    return None


def _reference_horizon(sub: pd.DataFrame) -> float | None:
    rows = sub[sub["sweep"] == "both"] if "horizon" in sub else sub.iloc[:0]
    h = pd.to_numeric(rows["horizon"], errors="coerce").dropna() if not rows.empty else rows
    return float(h.mode().iloc[0]) if len(h) else None


def _fmt_num(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "?"
    return "∞" if x < 0 else f"{x:g}"


def _slope_row(slopes: pd.DataFrame, env_name: str, theta: Any, est: str, base: str,
               batch_size: float | None) -> pd.Series | None:
    """The slopes-table row of one panel and baseline at ``batch_size`` (None when there is no usable fit)."""
    s = _select(slopes[slopes["env_name"] == env_name], est, base)
    if theta is not None and "theta_name" in s:
        s = s[s["theta_name"] == theta]
    if batch_size is not None and "batch_size" in s:
        s = s[pd.to_numeric(s["batch_size"], errors="coerce") == batch_size]
    s = s[np.isfinite(_col(s, "slope")) & np.isfinite(_col(s, "intercept"))]
    if s.empty:
        return None
    return s.sort_values([c for c in ("seed",) if c in s]).iloc[0]


def _shared_labels(axes: np.ndarray, visible: np.ndarray) -> None:
    """Tick labels on the outer visible panels only (lowest per column, leftmost per row)."""
    nrows, ncols = axes.shape
    for r in range(nrows):
        for c in range(ncols):
            if not visible[r, c]:
                axes[r, c].set_visible(False)
                continue
            bottom = not visible[r + 1:, c].any()
            left = not visible[r, :c].any()
            axes[r, c].tick_params(labelbottom=bottom, labelleft=left)


def _row_titles(axes: np.ndarray, visible: np.ndarray, labels: list[str]) -> None:
    """Row labels in the right margin, rotated, beside the rightmost visible panel of each row."""
    for r, label in enumerate(labels):
        cols = np.flatnonzero(visible[r])
        if cols.size:
            axes[r, cols[-1]].annotate(_row_label(label), xy=(1.0, 0.5), xycoords="axes fraction",
                                       xytext=(5, 0), textcoords="offset points", rotation=270, ha="left",
                                       va="center", fontsize=matplotlib.rcParams["axes.titlesize"],
                                       fontweight="bold", annotation_clip=False)


_MARKER_PT = 3.4  # marker size (points at print size) in the facet grids
_FACET_TITLE_PT = 7.5  # column titles of the facet grids (points at print size)
_LEGEND_ROW_IN = 0.2  # inches (at print size) per legend row under a facet grid
_BLANK = Line2D([], [], linestyle="none")


def _figure_with_legend(width: float, panels_height: float, legend: list[tuple[list[str], list]], scale: float,
                        title: str | None = None) -> tuple[Figure, Any]:
    """A figure with a panel subfigure (returned) on top of a strip holding the ``legend`` rows.

    ``legend`` is a list of ``(labels, handles)`` rows; long rows are broken to fit the print width.
    """
    lines = _legend_lines(legend, width / scale)
    legend_height = _legend_strip_height(lines, title, scale)
    fig = _new_figure(width, panels_height + legend_height)
    fig.get_layout_engine().set(wspace=0.07, hspace=0.07)
    grid, leg = fig.subfigures(2, 1, height_ratios=[panels_height, legend_height], hspace=0.0)
    _draw_legend(leg, lines, title)
    return fig, grid


def _legend_lines(rows: list[tuple[list[str], list]], print_width: float) -> list[tuple[list[str], list]]:
    """The legend ``rows`` (``(labels, handles)``), each broken into lines that fit ``print_width`` inches.

    Widths are estimated from the label lengths at the print size of ``legend.fontsize`` (7.5 pt).
    """
    fs, avail = 7.5, print_width * 72.0 * 0.96
    out: list[tuple[list[str], list]] = []
    for labels, handles in rows:
        line_l: list[str] = []
        line_h: list = []
        used = 0.0
        for label, handle in zip(labels, handles):
            need = fs * (1.8 + 0.5 + 1.3) + 0.6 * fs * len(label)
            if line_l and used + need > avail:
                out.append((line_l, line_h))
                line_l, line_h, used = [], [], 0.0
            line_l.append(label)
            line_h.append(handle)
            used += need
        if line_l:
            out.append((line_l, line_h))
    return out


def _legend_strip_height(lines: list, title: str | None, scale: float) -> float:
    """Inches of the legend strip for :func:`_draw_legend` (``lines`` from :func:`_legend_lines`)."""
    return (len(lines) + (1 if title else 0)) * _LEGEND_ROW_IN * scale + 0.05 * scale


def _draw_legend(leg: Any, lines: list[tuple[list[str], list]], title: str | None = None) -> None:
    """One single-line legend per entry of ``lines``, stacked top to bottom in the legend strip ``leg``.

    A label with the ``_BLANK`` handle that ends in ``":"`` reads as a (bold) row heading.
    """
    n = len(lines) + (1 if title else 0)
    if title:
        leg.text(0.5, 1 - 0.5 / n, title, ha="center", va="center",
                 fontsize=matplotlib.rcParams["legend.title_fontsize"])
    for i, (labels, handles) in enumerate(lines, start=1 if title else 0):
        lg = leg.legend(handles, labels, loc="center", bbox_to_anchor=(0.5, 1 - (i + 0.5) / n),
                        ncols=len(handles), handlelength=1.8, handletextpad=0.5, columnspacing=1.3,
                        borderaxespad=0.0, borderpad=0.1)
        for handle, text in zip(handles, lg.get_texts()):
            if handle is _BLANK and text.get_text().endswith(":"):
                text.set_fontweight("bold")


def _log_ticks(ax: Any, lo: float, hi: float, max_ticks: int = 5) -> None:
    """Decade ticks on a log y axis spanning ``[lo, hi]``: every 1st, 2nd, 3rd, ... decade, at most ``max_ticks``."""
    from matplotlib.ticker import FixedLocator, LogFormatterSciNotation, NullLocator

    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        return
    d0, d1 = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    if d1 < d0:  # less than a decade: keep matplotlib's ticks
        return
    stride = next((k for k in (1, 2, 3, 4, 5, 10, 20) if (d1 - d0) // k + 1 <= max_ticks), 50)
    first = math.ceil(d0 / stride) * stride
    ax.yaxis.set_major_locator(FixedLocator(10.0 ** np.arange(first, d1 + 1, stride)))
    ax.yaxis.set_major_formatter(LogFormatterSciNotation(base=10.0))
    ax.yaxis.set_minor_locator(NullLocator())


# ------------------------------------------------------------------------- variance vs horizon


def _variance_figure(metrics: pd.DataFrame | None, slopes: pd.DataFrame | None,
                     exact: pd.DataFrame | None = None) -> Figure | None:
    """The facet grid of :func:`variance_vs_horizon` (None when there is nothing to draw)."""
    df = _sweep(metrics, ("horizon", "both"), ["horizon", "var_per_traj"])
    if not df.empty:
        df = df[pd.to_numeric(df["horizon"], errors="coerce") > 0]
    if df.empty or not (_col(df, "var_per_traj") > 0).any():
        return None
    slopes = _frame(slopes, ["env_name", "estimator", "baseline", "slope", "intercept"])
    exact = _frame(exact, ["env_name", "estimator", "baseline", "horizon", "var_per_traj_exact"])
    cols = _estimators(df)
    baselines = _baselines(df)
    h_all = np.sort(pd.to_numeric(df["horizon"]).unique().astype(float))

    # what each panel draws: points (var > 0 only: no log of 0), the fit at the reference N, the exact curve
    rows = []  # (row label, {estimator: [(baseline, points, fit row or None, exact frame)]})
    ref_ns: set[float] = set()
    for label, sub in _panels(df):
        env_name, theta, ref_n = str(sub["env_name"].iloc[0]), _panel_theta(sub), _reference_batch(sub)
        if ref_n is not None:
            ref_ns.add(ref_n)
            at_ref = sub[pd.to_numeric(sub["batch_size"], errors="coerce") == ref_n]
            sub = at_ref if not at_ref.empty else sub  # the horizon sweep at the reference batch size
        ex_env = exact[exact["env_name"] == env_name]
        if theta is not None and "theta_name" in ex_env:
            ex_env = ex_env[ex_env["theta_name"] == theta]
        if "batch_size" in ex_env:  # exact rows per N: the points' batch size (else one per horizon)
            ex_env = (ex_env[pd.to_numeric(ex_env["batch_size"], errors="coerce") == ref_n] if ref_n is not None
                      else exact_per_trajectory(ex_env))
        ex_env = ex_env[(pd.to_numeric(ex_env["horizon"], errors="coerce") > 0)
                        & (_col(ex_env, "var_per_traj_exact") > 0)]
        panels: dict[str, list] = {}
        for est in cols:
            cell = sub[sub["estimator"] == est]
            for base in baselines:
                pts = _one_per(_select(cell, est, base), "horizon", ["batch_size", "seed"])
                if not pts.empty:
                    fit = _slope_row(slopes, env_name, theta, est, base, ref_n)
                    ex = _select(ex_env, est, base).sort_values("horizon")
                    panels.setdefault(est, []).append((base, pts, fit, ex))
        rows.append((label, panels))
    has_fit = any(fit is not None for _, p in rows for lines in p.values() for _, _, fit, _ in lines)
    has_exact = any(not ex.empty for _, p in rows for lines in p.values() for _, _, _, ex in lines)

    nrows, ncols = len(rows), len(cols)
    width, panels_height = max(PANEL_W * ncols + 0.75, 4.0), PANEL_H * nrows + 0.45
    scale = _print_scale(width)
    ms, lw = _MARKER_PT * scale, scale  # marker size, line width unit (points at print size x scale)
    with _style(scale):
        # legend: the baselines (colour + marker), then what the marks and line styles mean
        base_h = [Line2D([], [], color=baseline_style(b)["color"], marker=baseline_style(b)["marker"],
                         linestyle="none", markersize=1.2 * ms, markeredgecolor="white", markeredgewidth=0.25 * lw)
                  for b in baselines]
        key_h: list = [(Line2D([], [], color="0.3", marker="|", linestyle="none", markersize=3 * ms,
                               markeredgewidth=0.6 * lw),
                        Line2D([], [], color="0.3", marker="o", linestyle="none", markersize=ms,
                               markeredgecolor="white", markeredgewidth=0.25 * lw))]
        key_l = ["Monte-Carlo, 95% CI"]
        if has_fit:
            key_h.append(Line2D([], [], color="0.3", linestyle=(0, (4, 2)), linewidth=0.8 * lw))
            key_l.append("log-log fit" + (f" (N = {_fmt_num(next(iter(ref_ns)))})" if len(ref_ns) == 1 else ""))
        if has_exact:
            key_h.append(Line2D([], [], color="0.3", linestyle="-", linewidth=0.7 * lw))
            key_l.append("exact")
        key_h.append(Line2D([], [], color=_REF_COLOR, linestyle=":", linewidth=0.9 * lw))
        key_l.append("∝ H³ (lecture)")
        legend = [(["baseline:", *baselines], [_BLANK, *base_h]), (key_l, key_h)]
        fig, grid = _figure_with_legend(width, panels_height, legend, scale)
        axes = grid.subplots(nrows, ncols, squeeze=False, sharex=True, sharey="row")
        visible = np.array([[est in panels for est in cols] for _, panels in rows], dtype=bool).reshape(nrows, ncols)
        for r, (_, panels) in enumerate(rows):
            row_vals: list[np.ndarray] = []
            for c, est in enumerate(cols):
                ax = axes[r, c]
                lines = panels.get(est, [])
                first_h: tuple[float, float] | None = None  # (smallest horizon drawn, largest variance there)
                for i, (base, pts, fit, ex) in enumerate(lines):
                    style = baseline_style(base)
                    h, v = pts["horizon"].to_numpy(dtype=float), _col(pts, "var_per_traj")
                    ok = np.isfinite(v) & (v > 0)
                    if ok.any():
                        h, v = h[ok], v[ok]
                        lo = _col(pts, "var_per_traj_lo")[ok]
                        lo = np.where(lo > 0, lo, np.nan)  # a CI reaching 0 draws a one-sided bar
                        hi = _col(pts, "var_per_traj_hi")[ok]
                        dodge = np.exp(0.1 * (i - (len(lines) - 1) / 2))  # keep the baselines' error bars apart
                        ax.errorbar(h * dodge, v, yerr=_ci_err(v, lo, hi), color=style["color"],
                                    marker=style["marker"], markersize=ms, linestyle="none", markeredgecolor="white",
                                    markeredgewidth=0.25 * lw, elinewidth=0.6 * lw, capsize=1.2 * lw, zorder=3)
                        row_vals.extend([v, lo[np.isfinite(lo)], hi[np.isfinite(hi) & (hi > 0)]])
                        v0 = float(v[h == h.min()].max())
                        if first_h is None or h.min() < first_h[0] or (h.min() == first_h[0] and v0 > first_h[1]):
                            first_h = (float(h.min()), v0)
                    if fit is not None:
                        f0, f1 = _num(fit.get("h_min")), _num(fit.get("h_max"))
                        f0 = f0 if np.isfinite(f0) and f0 > 0 else h_all.min()
                        f1 = f1 if np.isfinite(f1) and f1 > 0 else h_all.max()
                        hh = np.geomspace(f0, max(f1, f0), 40)
                        ax.plot(hh, np.exp(float(fit["intercept"])) * hh ** float(fit["slope"]), linestyle=(0, (4, 2)),
                                color=style["color"], linewidth=0.8 * lw, alpha=0.9, zorder=2)
                    if not ex.empty:
                        ev = _col(ex, "var_per_traj_exact")
                        ax.plot(ex["horizon"].to_numpy(float), ev, linestyle="-", color=style["color"],
                                linewidth=0.7 * lw, alpha=0.9, zorder=1)
                        row_vals.append(ev)
                # the lecture's H^3, parallel to the data and above it at the smallest horizon
                if first_h is not None:
                    h0, v0 = first_h
                    hh = np.geomspace(h0, h_all.max() * 1.4, 40)
                    ax.plot(hh, 2.0 * v0 * (hh / h0) ** LECTURE_SLOPE, linestyle=":", color=_REF_COLOR,
                            linewidth=0.9 * lw, zorder=0)
                if visible[r, c] and not visible[:r, c].any():
                    ax.set_title(est, fontweight="normal", fontsize=_FACET_TITLE_PT * scale)
            vals = np.concatenate(row_vals) if row_vals else np.array([])
            vals = vals[np.isfinite(vals) & (vals > 0)]
            ax = axes[r, 0]
            ax.set_yscale("log")
            if vals.size:
                ax.set_ylim(vals.min() / 2.5, vals.max() * 2.5)
                _log_ticks(ax, *ax.get_ylim())
        for ax in axes.flat:
            ax.set_xscale("log")
        axes[0, 0].set_xlim(h_all.min() / 1.35, h_all.max() * 1.35)
        _horizon_ticks(axes[0, 0], h_all)
        _shared_labels(axes, visible)
        _row_titles(axes, visible, [label for label, _ in rows])
        grid.supxlabel("horizon H (steps)", fontsize=matplotlib.rcParams["axes.labelsize"])
        grid.supylabel("per-trajectory variance tr Cov[g]", fontsize=matplotlib.rcParams["axes.labelsize"])
    return fig


def variance_vs_horizon(metrics: pd.DataFrame, slopes: pd.DataFrame, output: str | Path,
                        exact: pd.DataFrame | None = None) -> None:
    """Per-trajectory variance against the horizon, log-log, as a facet grid.

    One row per ``env_name`` (and ``theta_name`` where an environment has several), one column per
    estimator (registry order: reinforce, reward_to_go, advantage_exact, gae, rollin_rollout,
    actor_critic; only those present), one colour and marker per baseline (the same in every panel; see
    :func:`baseline_style`).  The y axis is shared within a row, the x axis everywhere.

    Args:
        metrics: the metrics table; rows with ``sweep`` in ``{"horizon", "both"}``, a finite horizon
            (``horizon > 0``; ``-1`` = infinite is skipped) and the reference batch size (the
            ``batch_size`` of the ``sweep == "both"`` rows) are drawn: ``var_per_traj`` (squared
            gradient-norm units) with its 95% CI ``[var_per_traj_lo, var_per_traj_hi]`` as error bars
            against ``horizon`` (steps).  Zero variances (no log) are left out.
        slopes: the slopes table; the row of each panel and baseline at the reference batch size adds
            the dashed fit ``exp(intercept) * H**slope`` over ``[h_min, h_max]``.  Groups without a fit
            (e.g. too few positive variances) simply have no dashed line; the slope values with their
            CIs are in the report's slope table (too long to print legibly in every panel).
        output: ``X.pdf``; ``X.png`` (200 dpi) is written beside it.
        exact: optional ``env_name, estimator, baseline, horizon, var_per_traj_exact``: exact
            per-trajectory variance, drawn as a thin solid line per baseline.

    A faint dotted line of slope 3 (the lecture's ``H^3`` claim for REINFORCE) is drawn in every panel.
    """
    fig = _variance_figure(metrics, slopes, exact)
    if fig is None:
        _empty_figure(output, "Per-trajectory variance vs horizon")
        return
    with _style(_print_scale(fig.get_figwidth())):
        _save(fig, output)


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _horizon_ticks(ax: Any, horizons: np.ndarray) -> None:
    """Plain-number ticks at the measured horizons (log axes otherwise show only powers of ten)."""
    from matplotlib.ticker import (
        FixedLocator,
        NullFormatter,
        NullLocator,
        ScalarFormatter,
    )

    if 1 <= len(horizons) <= 8:
        ax.xaxis.set_major_locator(FixedLocator(horizons))
        fmt = ScalarFormatter()
        fmt.set_scientific(False)
        ax.xaxis.set_major_formatter(fmt)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())


# ---------------------------------------------------------------------- quality vs batch size


def _best_baselines(sub: pd.DataFrame) -> dict[str, str]:
    """Per estimator, the baseline with the lowest ``mse`` at the reference cell (``sweep == "both"``).

    Without reference rows, the lowest mean ``rel_mse`` over the batch sweep decides.
    """
    ref = sub[sub["sweep"] == "both"]
    key = "mse"
    if ref.empty or not np.isfinite(_col(ref, key)).any():
        ref, key = sub, "rel_mse"
    out: dict[str, str] = {}
    for est in _estimators(sub):
        cand = ref[ref["estimator"] == est].assign(_k=lambda d: _col(d, key))
        cand = cand[np.isfinite(cand["_k"])]
        if cand.empty:
            out[est] = _baselines(sub[sub["estimator"] == est])[0]
            continue
        means = cand.groupby("baseline", sort=False)["_k"].mean()
        order = sorted(means.index, key=lambda b: (means[b], BASELINE_ORDER.index(b) if b in BASELINE_ORDER
                                                   else len(BASELINE_ORDER), b))
        out[est] = str(order[0])
    return out


def _quality_figure(metrics: pd.DataFrame | None) -> Figure | None:
    """The grid of :func:`quality_vs_batch_size` (None when there is nothing to draw)."""
    df = _sweep(metrics, ("batch", "both"), ["batch_size", "cosine", "rel_mse"])
    if not df.empty:
        df = df[pd.to_numeric(df["batch_size"], errors="coerce") > 0]
    if df.empty:
        return None
    ns_all = np.sort(pd.to_numeric(df["batch_size"]).unique().astype(float))
    # per panel: each estimator with its lowest-MSE baseline, plus reinforce~none as the reference (dashed)
    panels = []  # (title, sub, [(estimator, baseline, is_reference)])
    cells = set()
    for title, sub in _panels(df):
        best = _best_baselines(sub)
        has_ref = ((sub["estimator"] == "reinforce") & (sub["baseline"] == "none")).any()
        lines = [("reinforce", "none", True)] if has_ref else []
        lines += [(est, base, False) for est, base in best.items()
                  if not (has_ref and (est, base) == ("reinforce", "none"))]
        panels.append((title, sub, lines))
        cells.add((_fmt_num(_reference_horizon(sub)), _fmt_num(_reference_batch(sub))))
    used_est = [e for e in _estimators(df) if any(e == est and not ref for _, _, ls in panels for est, _, ref in ls)]
    used_base = {base for _, _, ls in panels for _, base, ref in ls if not ref}
    has_ref = any(ref for _, _, ls in panels for _, _, ref in ls)
    has_guide = len(ns_all) > 1

    n = len(panels)
    width, panels_height = max(PANEL_W * n + 0.75, 4.0), 2 * PANEL_H + 0.45
    scale = _print_scale(width)
    ms, lw = _MARKER_PT * scale, scale
    where = ""
    if len(cells) == 1:
        h, nb = next(iter(cells))
        where = f" (H = {h}, N = {nb})" if "?" not in (h, nb) else ""
    with _style(scale):
        est_h: list = [Line2D([], [], color=_estimator_color(e), linewidth=1.4 * lw) for e in used_est]
        est_l = list(used_est)
        if has_ref:
            c = _estimator_color("reinforce")
            est_h.append(Line2D([], [], color=c, linestyle=(0, (4, 2)), linewidth=1.2 * lw, marker="o",
                                markersize=ms, markerfacecolor="white", markeredgecolor=c, markeredgewidth=0.7 * lw))
            est_l.append("reinforce~none (reference)")
        bases = [b for b in BASELINE_ORDER if b in used_base] + sorted(used_base - set(BASELINE_ORDER))
        key_h: list = [Line2D([], [], color="0.35", marker=baseline_style(b)["marker"], linestyle="none",
                              markersize=1.2 * ms, markeredgecolor="white", markeredgewidth=0.25 * lw) for b in bases]
        key_l = list(bases)
        key_h += [_BLANK, Patch(facecolor="0.5", alpha=0.25, linewidth=0)]
        key_l += ["", "95% CI"]
        if has_guide:
            key_h.append(Line2D([], [], color=_REF_COLOR, linestyle=":", linewidth=0.9 * lw))
            key_l.append("∝ 1/N")
        legend = [(["estimator:", *est_l], [_BLANK, *est_h]), (["baseline:", *key_l], [_BLANK, *key_h])]
        legend_title = f"each estimator with its lowest-MSE baseline at the reference cell{where}"
        if n == 1:  # a single panel is narrow: break the title rather than clip it
            legend_title = f"each estimator with its lowest-MSE baseline\nat the reference cell{where}"
        fig, grid = _figure_with_legend(width, panels_height, legend, scale, title=legend_title)
        axes = grid.subplots(2, n, squeeze=False, sharex=True, sharey="row")
        mse_all: list[np.ndarray] = []
        cos_all: list[np.ndarray] = []
        for k, (title, sub, lines) in enumerate(panels):
            ax_c, ax_m = axes[0, k], axes[1, k]
            for est, base, is_ref in lines:
                color, marker = _estimator_color(est), baseline_style(base)["marker"]
                pts = _one_per(_select(sub, est, base), "batch_size", ["horizon", "seed"])
                x = pts["batch_size"].to_numpy(dtype=float)
                for ax, m in ((ax_c, "cosine"), (ax_m, "rel_mse")):
                    y, lo, hi = _col(pts, m), _col(pts, f"{m}_lo"), _col(pts, f"{m}_hi")
                    ok = np.isfinite(y) & ((y > 0) if m == "rel_mse" else True)
                    if not ok.any():
                        continue
                    style = dict(linestyle=(0, (4, 2)), linewidth=1.2 * lw, markerfacecolor="white",
                                 markeredgecolor=color, markeredgewidth=0.7 * lw, zorder=4) if is_ref else \
                        dict(linestyle="-", linewidth=1.2 * lw, markeredgecolor="white", markeredgewidth=0.25 * lw,
                             zorder=3)
                    ax.plot(x[ok], y[ok], color=color, marker=marker, markersize=ms, **style)
                    (mse_all if m == "rel_mse" else cos_all).append(y[ok])
                    band = ok & np.isfinite(lo) & np.isfinite(hi) & ((lo > 0) if m == "rel_mse" else True)
                    if band.any():
                        ax.fill_between(x[band], lo[band], hi[band], color=color, alpha=0.15, linewidth=0, zorder=2)
            # 1/N guide above the largest relative MSE at the smallest batch size
            ns = np.sort(pd.to_numeric(sub["batch_size"]).unique().astype(float))
            first = _col(sub[pd.to_numeric(sub["batch_size"]) == ns[0]], "rel_mse")
            first = first[np.isfinite(first) & (first > 0)]
            if has_guide and len(ns) > 1 and first.size:
                ax_m.plot(ns, 2.0 * first.max() * ns[0] / ns, linestyle=":", color=_REF_COLOR, linewidth=0.9 * lw,
                          zorder=1)
            ax_c.axhline(1.0, color="0.55", linewidth=0.6 * lw, zorder=0)
            ax_c.set_title(title)
        for ax in axes.flat:
            ax.set_xscale("log")
        if len(ns_all) > 1:
            axes[0, 0].set_xlim(ns_all.min() / 1.3, ns_all.max() * 1.3)
        _horizon_ticks(axes[0, 0], ns_all)
        axes[1, 0].set_yscale("log")
        mse = np.concatenate(mse_all) if mse_all else np.array([])
        if mse.size:
            axes[1, 0].set_ylim(mse.min() / 3.0, mse.max() * 3.0)
            _log_ticks(axes[1, 0], *axes[1, 0].get_ylim())
        cos = np.concatenate(cos_all) if cos_all else np.array([])
        if cos.size:
            lo_c = max(-1.0, float(cos.min()))
            pad = max(0.03, 0.06 * (1.0 - lo_c))
            axes[0, 0].set_ylim(max(-1.05, lo_c - pad), 1.0 + pad)
        _shared_labels(axes, np.ones(axes.shape, dtype=bool))
        axes[0, 0].set_ylabel("cosine to ∇J")
        axes[1, 0].set_ylabel("relative MSE")
        grid.align_ylabels(axes[:, 0])
        grid.supxlabel("batch size N (trajectories)", fontsize=matplotlib.rcParams["axes.labelsize"])
    return fig


def quality_vs_batch_size(metrics: pd.DataFrame, output: str | Path) -> None:
    """Cosine similarity and relative MSE against the batch size: rows = metric, columns = ``env_name``.

    To keep the panels readable, each estimator is drawn once: with its lowest-MSE baseline at the
    reference cell (``sweep == "both"``; colour = estimator as in :func:`pair_style`, marker = the chosen
    baseline as in :func:`baseline_style`), plus ``reinforce~none`` (dashed, open markers) as the reference.

    Args:
        metrics: the metrics table; rows with ``sweep`` in ``{"batch", "both"}``.  Top row: ``cosine``
            (mean cosine similarity of the batch estimate to the exact gradient, dimensionless, in
            ``[-1, 1]``); bottom row: ``rel_mse`` (``MSE / ||grad J||^2``, dimensionless, log scale);
            both against ``batch_size`` N (trajectories, log scale), 95% CIs as bands.
        output: ``X.pdf``; ``X.png`` (200 dpi) is written beside it.

    A dotted ``∝ 1/N`` guide in the bottom row shows the rate of an unbiased estimator.
    """
    fig = _quality_figure(metrics)
    if fig is None:
        _empty_figure(output, "Estimate quality vs batch size")
        return
    with _style(_print_scale(fig.get_figwidth())):
        _save(fig, output)


# ----------------------------------------------------------------------------- bias / variance


def bias_variance(metrics: pd.DataFrame, output: str | Path) -> None:
    """MSE decomposed into bias² + variance at the reference cell, one panel per ``env_name``.

    Args:
        metrics: the metrics table; rows with ``sweep == "both"`` (the reference horizon and batch
            size).  Per ``estimator~baseline``, a horizontal bar of the batch estimate's variance
            ``trace_cov`` (solid) stacked with the squared bias ``bias_sq`` (hatched; negative values of
            the unbiased correction are clipped to 0); the error bar is the 95% CI of ``mse``
            ``[mse_lo, mse_hi]``.  All in squared gradient-norm units; log x axis when the values span
            more than a factor 20.
        output: ``X.pdf``; ``X.png`` (200 dpi) is written beside it.
    """
    title = "Bias–variance decomposition at the reference cell"
    df = _sweep(metrics, ("both",), ["trace_cov", "bias_sq", "mse"])
    if df.empty:
        _empty_figure(output, title)
        return
    panels = _panels(df)
    n = len(panels)
    ncols = min(n, 2)
    nrows = math.ceil(n / ncols)
    max_bars = max(len(_pairs(sub)) for _, sub in panels)
    same_pairs = len({tuple(_pairs(sub)) for _, sub in panels}) == 1  # then only the left column names them
    cells = {_reference_cell(sub) for _, sub in panels}
    same_cell = len(cells) == 1 and "" not in cells  # then one line above all panels names the cell
    with _style():
        panels_height = nrows * (1.0 + 0.26 * max_bars)
        fig = _new_figure(FIG_WIDTH, panels_height)
        axes = _grid(fig, n, max_cols=ncols)
        _hide_unused(axes, n)
        for k, (panel_title, sub) in enumerate(panels):
            ax = axes.flat[k]
            pairs = _pairs(sub)
            rows = [_select(sub, e, b).sort_values([c for c in ("theta_name", "horizon", "batch_size", "seed")
                                                     if c in sub]).iloc[0] for e, b in pairs]
            var = np.array([max(float(r["trace_cov"]), 0.0) for r in rows])
            bias = np.array([max(float(r["bias_sq"]), 0.0) if np.isfinite(r["bias_sq"]) else 0.0 for r in rows])
            mse = np.array([float(r["mse"]) for r in rows])
            lo = np.array([float(r.get("mse_lo", np.nan)) for r in rows])
            hi = np.array([float(r.get("mse_hi", np.nan)) for r in rows])
            total = var + bias
            positive = np.concatenate([var[var > 0], total[total > 0], lo[np.isfinite(lo) & (lo > 0)],
                                       hi[np.isfinite(hi) & (hi > 0)]])
            log = positive.size > 0 and positive.max() / positive.min() > 20.0
            floor = positive.min() / 3.0 if log else 0.0
            y = np.arange(len(pairs))[::-1]  # first pair on top
            for j, (est, base) in enumerate(pairs):
                color = pair_style(est, base)["color"]
                v_end = max(var[j], floor)
                ax.barh(y[j], v_end - floor, left=floor, height=0.62, color=color, edgecolor=color, linewidth=0.6,
                        zorder=2)
                if bias[j] > 0:
                    ax.barh(y[j], bias[j], left=v_end, height=0.62, color="white", edgecolor=color,
                            hatch="/////", linewidth=0.8, zorder=2)
            err = _ci_err(mse, lo, hi)
            ok = np.isfinite(mse) & (mse > floor)
            ax.errorbar(mse[ok], y[ok], xerr=err[:, ok], fmt="|", color="0.15", markersize=7, elinewidth=0.9,
                        capsize=2.5, zorder=4)
            # the bias share, where it matters: hard to read off stacked bars on a log axis
            right = np.nanmax(np.vstack([total, np.where(np.isfinite(hi), hi, 0.0)]), axis=0)
            xmax = positive.max() if positive.size else 1.0
            for j in range(len(pairs)):
                share = bias[j] / total[j] if total[j] > 0 else 0.0
                if share >= 0.05:
                    x_txt = right[j] * 1.3 if log else right[j] + 0.02 * xmax
                    ax.text(x_txt, y[j], f"bias² {share:.0%}", va="center", ha="left", fontsize=7, color="0.25")
                    xmax = max(xmax, x_txt * 6 if log else x_txt + 0.25 * xmax)
            labels_y = [pair_label(e, b) for e, b in pairs]
            ax.set_yticks(y, labels_y if (k % ncols == 0 or not same_pairs) else [""] * len(pairs))
            ax.tick_params(axis="y", length=0)
            ax.grid(axis="y", visible=False)
            ax.set_ylim(-0.6, len(pairs) - 0.4)
            if log:
                ax.set_xscale("log")
                ax.set_xlim(floor, xmax * 2.5)
            else:
                ax.set_xlim(0, xmax * 1.12)
            ax.set_xlabel("MSE = bias² + variance\n(squared gradient norm" + (", log scale)" if log else ")"))
            where = _reference_cell(sub)
            _title(ax, panel_title if same_cell else f"{panel_title}\n{where}", ncols)
        if same_cell:
            fig.suptitle(f"reference cell: {cells.pop()}", fontsize=9, fontweight="normal")
        handles = [Patch(facecolor="0.45", edgecolor="0.45"),
                   Patch(facecolor="white", edgecolor="0.45", hatch="/////"),
                   Line2D([], [], color="0.15", marker="|", linestyle="-", markersize=7)]
        labels = ["variance of the batch estimate tr Cov[ĝ]", "squared bias ‖E ĝ − ∇J‖² (clipped at 0)",
                  "MSE with 95% CI"]
        _legend_below(fig, handles, labels, panels_height=panels_height, max_chars_two_cols=60)
        _save(fig, output)


def _reference_cell(sub: pd.DataFrame) -> str:
    parts = []
    for col, name in (("horizon", "H"), ("batch_size", "N")):
        if col in sub and sub[col].nunique() == 1:
            val = int(sub[col].iloc[0])
            parts.append(f"{name} = {'∞' if val < 0 else val}")
    return ", ".join(parts)


# ------------------------------------------------------------------------------------ registry


def _fig_variance_vs_horizon(tables: dict[str, pd.DataFrame], output: str | Path) -> None:
    variance_vs_horizon(tables.get("metrics"), tables.get("slopes"), output, exact=tables.get("exact"))


def _fig_quality_vs_batch_size(tables: dict[str, pd.DataFrame], output: str | Path) -> None:
    quality_vs_batch_size(tables.get("metrics"), output)


def _fig_bias_variance(tables: dict[str, pd.DataFrame], output: str | Path) -> None:
    bias_variance(tables.get("metrics"), output)


def _fig_learning_curves(tables: dict[str, pd.DataFrame], output: str | Path) -> None:
    from pgexp.figures.training import (
        learning_curves,  # lazy: plots_training imports this module
    )

    learning_curves(tables.get("curves"), tables.get("summary"), output)


def _fig_variance_along_training(tables: dict[str, pd.DataFrame], output: str | Path) -> None:
    from pgexp.figures.training import variance_along_training

    table = tables.get("training_variance")
    variance_along_training(table if table is not None else tables.get("metrics"), output)


#: Figure name -> ``fn(tables, output)``; ``tables`` has ``"metrics"``, ``"slopes"`` and optionally ``"exact"``;
#: the training figures use ``"curves"`` + ``"summary"`` and the variance-along-training table (passed as
#: ``"metrics"`` or ``"training_variance"``).
FIGURES: dict[str, Callable[[dict[str, pd.DataFrame], str | Path], None]] = {
    "variance_vs_horizon": _fig_variance_vs_horizon,
    "quality_vs_batch_size": _fig_quality_vs_batch_size,
    "bias_variance": _fig_bias_variance,
    "learning_curves": _fig_learning_curves,
    "variance_along_training": _fig_variance_along_training,
    # the neural track's tables share the schemas: the same figures, against a reference gradient
    "deep_gradient_quality": _fig_quality_vs_batch_size,
    "deep_learning_curves": _fig_learning_curves,
}
