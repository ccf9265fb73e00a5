"""Layout helpers the multi-panel figures share: a legend strip under the panels, outer tick labels
only, row labels, log-axis ticks, panel titles that wrap instead of running into the next panel.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator, ScalarFormatter

from pgexp.figures.style import new_figure, set_spacing

BLANK = Line2D([], [], linestyle="none")  # a legend handle that draws nothing: row headings, spacers
LEGEND_ROW_IN = 0.2  # inches (at print size) per legend line under a grid
_LEGEND_PT = 7.5  # legend text size at print size

LegendRow = tuple[list[str], list[Any]]  # (labels, handles)


def legend_height(rows: Sequence[LegendRow], width: float, scale: float, title: str | None = None) -> float:
    """The height (inches, drawn) of the legend strip :func:`figure_with_legend` puts under a grid."""
    n = len(_legend_lines(rows, width / scale)) + (title.count("\n") + 1 if title else 0)
    return (n * LEGEND_ROW_IN + 0.05) * scale


def figure_with_legend(width: float, panels_height: float, rows: Sequence[LegendRow], scale: float,
                       title: str | None = None) -> tuple[Figure, SubFigure]:
    """A figure: a panel subfigure (returned) above a strip with the legend ``rows``.

    A row whose labels do not fit the print width is broken over several lines; a label with the
    :data:`BLANK` handle that ends in ``":"`` is a bold row heading.  ``title`` (lines: ``"\n"``) heads
    the strip.
    """
    lines = _legend_lines(rows, width / scale)
    head = title.count("\n") + 1 if title else 0
    n = len(lines) + head
    legend_h = legend_height(rows, width, scale, title)
    fig = new_figure(width, panels_height + legend_h)
    set_spacing(fig, wspace=0.07, hspace=0.07)
    grid, strip = fig.subfigures(2, 1, squeeze=False, height_ratios=[panels_height, legend_h], hspace=0.0)[:, 0]
    if title:
        strip.text(0.5, 1 - 0.5 * head / n, title, ha="center", va="center", linespacing=1.1,
                   fontsize=matplotlib.rcParams["legend.fontsize"])
    for i, (labels, handles) in enumerate(lines, start=head):
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


def wrap_columns(n: int, max_cols: int, row_in: Callable[[int, int], float], min_row_in: float) -> int:
    """Columns for ``n`` panels that wrap into blocks of rows: the fewest from ``min(n, max_cols)`` on whose
    layout gives every row of panels at least ``min_row_in`` inches at print size.

    ``row_in(ncols, blocks)`` is the printed height of one row of panels with ``ncols`` columns in
    ``blocks = ceil(n / ncols)`` blocks, once the figure is capped at a page (:func:`pgexp.figures.style.max_height`).
    More columns mean fewer blocks, so taller rows, at the price of narrower panels: a study with more
    environments than one page holds in blocks of ``max_cols`` (the default study's 11 panels in three
    blocks of four metric rows: 0.46 in per row) gets a wider grid instead (two blocks of six: 0.9 in).
    With no layout tall enough, one block of all ``n`` (the widest, so the tallest rows)."""
    for ncols in range(min(n, max_cols), n + 1):
        if row_in(ncols, -(-n // ncols)) >= min_row_in - 1e-9:
            return ncols
    return max(n, 1)


def pack_blocks(keys: Sequence[frozenset], ncols: int) -> list[list[int]]:
    """Panels (given by the sets of rows each shows, e.g. its estimator~baseline pairs) packed into blocks of
    at most ``ncols``, so that a block needs few rows: panels with the same rows stay together (in their
    order), the largest sets first; a group goes into the first block with room whose rows include its own,
    else starts a block.  Returns each block's panel indices.

    In the default study the four environments at the uniform policy (20 pairs) share a block, the four at a
    random one (10 pairs) the next, the positive control (5) the last: 35 rows in all, where blocks in
    name order repeat all 20 rows three times."""
    groups: dict[frozenset, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    blocks: list[tuple[frozenset, list[int]]] = []
    for key, members in sorted(groups.items(), key=lambda kv: (-len(kv[0]), kv[1][0])):
        for start in range(0, len(members), ncols):
            chunk = members[start:start + ncols]
            home = next((b for b in blocks if key <= b[0] and len(b[1]) + len(chunk) <= ncols), None)
            if home is None:
                blocks.append((key, list(chunk)))
            else:
                home[1].extend(chunk)
    return [members for _, members in blocks]


def outer_labels(axes: np.ndarray, visible: np.ndarray) -> None:
    """Blank the panels not ``visible`` (axis off: they still hold a row label); tick labels on the outer
    visible panels only (lowest per column, leftmost per row)."""
    nrows, ncols = axes.shape
    for r in range(nrows):
        for c in range(ncols):
            if not visible[r, c]:
                axes[r, c].set_axis_off()
                continue
            axes[r, c].tick_params(labelbottom=not visible[r + 1:, c].any(), labelleft=not visible[r, :c].any())


def row_titles(axes: np.ndarray, visible: np.ndarray, labels: Sequence[str], width: int = 11) -> None:
    """Row labels in the right margin, horizontal, beside the last column: each broken into lines of at most
    ``width`` characters (after ``_``, ``.`` or a space), so a long name needs no more than a row's height."""
    for r, label in enumerate(labels):
        if not visible[r].any():
            continue
        ax = axes[r, -1]
        ax.annotate(panel_label(label, width), xy=(1.0, 0.5), xycoords="axes fraction", xytext=(4, 0),
                    textcoords="offset points", ha="left", va="center", linespacing=1.05,
                    fontsize=0.9 * matplotlib.rcParams["axes.titlesize"], fontweight="bold", annotation_clip=False)


def log_ticks(ax: Any, lo: float, hi: float, max_ticks: int = 5, axis: str = "y") -> None:
    """Decade ticks on a log axis spanning ``[lo, hi]`` (every k-th decade, at most ``max_ticks``); an axis
    with fewer than two decades gets ticks at 1, 2 and 5 times a power of ten, in plain numbers."""
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        return
    d0, d1 = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_minor_locator(NullLocator())
    target.set_minor_formatter(NullFormatter())
    if d1 - d0 < 1:
        candidates = [m * 10.0**k for k in range(d0 - 1, d1 + 1) for m in (1, 2, 5)]
        ticks = [t for t in candidates if lo <= t <= hi]
        if len(ticks) > max_ticks:
            ticks = [t for t in ticks if round(t / 10 ** math.floor(math.log10(t) + 1e-9)) != 2]
        target.set_major_locator(FixedLocator(ticks))
        target.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:.3g}"))
        return
    stride = next((k for k in (1, 2, 3, 4, 5, 10, 20) if (d1 - d0) // k + 1 <= max_ticks), 50)
    first = math.ceil(d0 / stride) * stride
    target.set_major_locator(FixedLocator((10.0 ** np.arange(first, d1 + 1, stride)).tolist()))
    target.set_major_formatter(FuncFormatter(power_of_ten))


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(x: float, _pos: Any = None) -> str:
    """``10⁻²``: a decade tick label in plain text (mathtext's ``$10^{-2}$`` costs a figure ~10 % of its time
    to lay out and draw, on every tick)."""
    return "10" + str(round(math.log10(x))).translate(_SUPERSCRIPT) if x > 0 else ""


def value_ticks(ax: Any, values: np.ndarray, every: int = 1) -> None:
    """Plain-number x ticks at the measured values (a log axis otherwise labels only powers of ten); with
    ``every = k`` only every k-th value (from the first) is labelled, the others get an unlabelled tick."""
    values = np.asarray(values, dtype=float)
    if 1 <= len(values[::every]) <= 8:
        ax.xaxis.set_major_locator(FixedLocator(values[::every].tolist()))
        fmt = ScalarFormatter()
        fmt.set_scientific(False)
        ax.xaxis.set_major_formatter(fmt)
        rest = np.setdiff1d(values, values[::every])
        ax.xaxis.set_minor_locator(FixedLocator(rest.tolist()) if rest.size else NullLocator())
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


def panel_label(label: str, width: int | None = None) -> str:
    """A panel label with θ on a line of its own (``"garnet (θ: random)"`` -> ``"garnet\nθ: random"``), every
    line broken after ``_``, ``.`` or a space to at most ``width`` characters where given."""
    text = label.replace(" (θ: ", "\nθ: ").rstrip(")") if " (θ: " in label else label
    if width is None:
        return text
    lines = []
    for part in text.split("\n"):
        while len(part) > width:
            cut = max(part.rfind(c, 0, width) for c in "_. ")
            cut = cut + 1 if cut > 0 else width
            lines.append(part[:cut].rstrip())
            part = part[cut:].lstrip()
        lines.append(part)
    return "\n".join(lines)


def fixed_axes(axes: np.ndarray) -> None:
    """No autoscaling: every figure sets its limits, and autoscaling after each artist on a grid of
    dozens of axes is most of the time a figure takes to draw."""
    for ax in np.asarray(axes).flat:
        ax.set_autoscale_on(False)


def wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width))


# ------------------------------------------------------------------------------ intervals and limits

CLIP_GID = "clipped-interval"  # the gid of the markers where an axis cuts an interval
CLIP_MARGIN = 0.25  # how far beyond the points an interval may reach, as a share of the points' span


def robust_limits(points: np.ndarray, lows: np.ndarray | None = None, highs: np.ndarray | None = None, *,
                  log: bool, pad: float, min_span: float | None = None,
                  margin: float = CLIP_MARGIN) -> tuple[float, float] | None:
    """Axis limits that show every point, and every interval as far as it does not flatten the points.

    In axis coordinates (``log10`` on a log axis) the points (estimates, exact values) span ``[a, b]``; an
    interval end is shown up to ``m = margin · max(b − a, min_span)`` beyond that span, an end further out
up to that margin (``min_span``: one
    decade on a log axis, else ``0.1 · max|point|`` unless given).  So no interval, however heavy the tail
    it comes from (a variance CI up to 1e40), stretches the axis by more than ``1 + margin`` per side: the
    axis cuts it and :func:`mark_clipped` marks the cut.  The range is then padded: by the factor ``pad``
    on a log axis, by ``pad`` times the span on a linear one.  None when there is no point to show.
    """
    def coords(v: np.ndarray | None) -> np.ndarray:
        v = np.asarray([] if v is None else v, dtype=float).ravel()
        v = v[np.isfinite(v) & ((v > 0) if log else True)]
        return np.log10(v) if log else v

    p = coords(points)
    if not p.size:
        return None
    a, b = float(p.min()), float(p.max())
    floor = (1.0 if log else 0.1 * float(np.abs(p).max())) if min_span is None else min_span
    m = margin * max(b - a, floor)
    ends = np.concatenate([coords(lows), coords(highs)])
    ends = np.clip(ends, a - m, b + m)  # an end further out is cut at the margin (and marked there)
    lo, hi = (min(a, float(ends.min())), max(b, float(ends.max()))) if ends.size else (a, b)
    if log:
        return 10.0 ** lo / pad, 10.0 ** hi * pad
    span = (hi - lo) or (abs(hi) or 1.0)
    return lo - pad * span, hi + pad * span


def _clip_marker(ax: Any, xs: list[float], ys: list[float], marker: str, color: Any, size: float) -> None:
    if xs:
        ax.plot(xs, ys, linestyle="none", marker=marker, markersize=size, color=color, markeredgewidth=0,
                clip_on=False, zorder=6, gid=CLIP_GID)


def _clip_segments(ax: Any, coll: Any, xlim: tuple[float, float], ylim: tuple[float, float], size: float) -> None:
    """Cut the error bars of a LineCollection at the view; a triangle at each cut end, pointing outwards."""
    segs = [np.array(s, dtype=float) for s in coll.get_segments()]
    colors = [tuple(c[:3]) for c in coll.get_colors()] or [(0.3, 0.3, 0.3)]
    marks: dict[tuple[str, tuple], tuple[list[float], list[float]]] = {}
    changed = False
    for i, seg in enumerate(segs):
        if len(seg) != 2:
            continue
        k = 1 if seg[0, 0] == seg[1, 0] else 0  # vertical bar: cut y; horizontal: cut x
        other = seg[0, 1 - k]
        lim, cross = (ylim, xlim) if k == 1 else (xlim, ylim)
        if not cross[0] <= other <= cross[1]:
            continue
        for end, edge, marker in ((seg[:, k].argmax(), lim[1], "^>"[1 - k]), (seg[:, k].argmin(), lim[0], "v<"[1 - k])):
            beyond = seg[end, k] > edge if edge == lim[1] else seg[end, k] < edge
            if beyond:
                seg[end, k] = edge
                changed = True
                xs, ys = marks.setdefault((marker, colors[min(i, len(colors) - 1)]), ([], []))
                (ys if k == 1 else xs).append(edge)
                (xs if k == 1 else ys).append(other)
    if changed:
        coll.set_segments(segs)
    for (marker, color), (xs, ys) in marks.items():
        _clip_marker(ax, xs, ys, marker, color, size)


def _clip_band(ax: Any, coll: Any, xlim: tuple[float, float], ylim: tuple[float, float], size: float) -> None:
    """Cut a band (``fill_between``) at the y limits; a triangle above or below each x where it was cut."""
    color = coll.get_facecolor()
    color = tuple(color[0][:3]) if len(color) else "0.3"
    verts, ups, downs, changed = [], [], [], False
    for path in coll.get_paths():
        v = np.array(path.vertices, dtype=float)
        inside = (v[:, 0] >= xlim[0]) & (v[:, 0] <= xlim[1])
        ups += sorted(set(v[inside & (v[:, 1] > ylim[1]), 0].tolist()))
        downs += sorted(set(v[inside & (v[:, 1] < ylim[0]), 0].tolist()))
        changed |= bool(((v[:, 1] > ylim[1]) | (v[:, 1] < ylim[0])).any())
        v[:, 1] = np.clip(v[:, 1], *ylim)
        verts.append(v)
    if changed:
        coll.set_verts(verts)
        _clip_marker(ax, ups, [ylim[1]] * len(ups), "^", color, size)
        _clip_marker(ax, downs, [ylim[0]] * len(downs), "v", color, size)


def mark_clipped(fig: Figure) -> None:
    """Cut every error bar and band that reaches beyond its axes' view at the axis, with a small triangle
    pointing outwards where it was cut (gid :data:`CLIP_GID`), so an interval the axis does not show in
    full says so.  Error-bar caps beyond the view are dropped (the triangle replaces them).  Runs once a
    figure is drawn (:meth:`pgexp.figures.Figure.make`); the limits must be final."""
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.container import ErrorbarContainer

    size = 3.2 * max(1.0, float(fig.get_figwidth()) / 7.0)
    for ax in fig.get_axes():
        if not (ax.get_visible() and ax.axison):
            continue
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        xlim, ylim = (float(x0), float(x1)), (float(y0), float(y1))
        bars = []
        for cont in ax.containers:
            if isinstance(cont, ErrorbarContainer):
                bars += list(cont.lines[2])
                for cap in cont.lines[1]:
                    x, y = (np.array(cap.get_xdata(), dtype=float), np.array(cap.get_ydata(), dtype=float))
                    out = (x < xlim[0]) | (x > xlim[1]) | (y < ylim[0]) | (y > ylim[1])
                    if out.any():
                        cap.set_data(np.where(out, np.nan, x), np.where(out, np.nan, y))
        for coll in list(ax.collections):
            if coll.get_transform() != ax.transData:
                continue
            if isinstance(coll, LineCollection) and any(coll is b for b in bars):
                _clip_segments(ax, coll, xlim, ylim, size)
            elif isinstance(coll, PolyCollection):
                _clip_band(ax, coll, xlim, ylim, size)
