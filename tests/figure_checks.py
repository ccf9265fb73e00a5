"""What a printable figure must satisfy, measured on the drawn figure (used by ``test_figure_layout.py``).

Each check returns a list of human-readable problems (empty: fine), so a failing test names every problem
at once.  All sizes are *printed* sizes: a figure wider than the text width ``PRINT_WIDTH`` is shrunk to it,
so its fonts, panels and height shrink by ``PRINT_WIDTH / width``.

* :func:`page_problems`: the printed figure fits a page's text block (``PRINT_WIDTH`` x ``MAX_PRINT_HEIGHT``).
* :func:`text_problems`: no two drawn texts overlap (titles, axis labels, tick labels, legend entries,
  suptitles, annotations), no text runs off the canvas or into another panel's plotting area, and no text
  prints below ``MIN_FONT_PT``.
* :func:`panel_problems`: no plotting area prints smaller than ``MIN_PANEL_IN``.
* :func:`interval_problems`: no axis limit is set by a single interval (an error bar or a band that alone
  stretches an axis by more than ``MAX_STRETCH``), and every interval the axis cuts ends in a clip marker
  (an artist with gid ``"clipped-interval"``, :data:`pgexp.figures.layout.CLIP_GID`).

As a script, the checks on a study's own tables (e.g. the default study's, which no test runs):
``python tests/figure_checks.py results/tables [FIGURE ...]`` draws every registered figure whose tables
the folder has (or the named ones), prints each one's problems and exits 1 when there are any.
"""

from __future__ import annotations

import itertools
import sys
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from pgexp.figures.layout import CLIP_GID
from pgexp.figures.style import MAX_PRINT_HEIGHT, PRINT_WIDTH

MIN_FONT_PT = 6.0  # the smallest text a journal prints (most ask for 5-7 pt)
MIN_PANEL_IN = 0.55  # a plotting area smaller than this (printed) has no room for its data
MAX_STRETCH = 1.5  # one interval may not make an axis more than this much longer than the rest of its data
OVERLAP_PX = 1.0  # boxes that share less than this many pixels each way only touch


def print_factor(fig: Figure) -> float:
    return min(1.0, PRINT_WIDTH / float(fig.get_figwidth()))


# ---------------------------------------------------------------------------------------------- page


def page_problems(fig: Figure) -> list[str]:
    w, h = (float(v) for v in fig.get_size_inches())
    printed = h * print_factor(fig)
    if printed > MAX_PRINT_HEIGHT + 1e-6:
        return [f"{w:.2f} x {h:.2f} in prints {printed:.2f} in tall at {min(w, PRINT_WIDTH):.2f} in wide: "
                f"more than a page's {MAX_PRINT_HEIGHT} in"]
    return []


# ---------------------------------------------------------------------------------------------- text


@contextmanager
def recording_texts(drawn: list[Text]):
    """Record every text that actually draws (ticks outside the view and hidden labels do not)."""
    original = Text.draw

    def draw(self, renderer):
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        return original(self, renderer)

    with mock.patch.object(Text, "draw", draw):
        yield


def draw_and_collect(fig: Figure) -> list[Text]:
    """Draw ``fig`` (layout included) and return the texts drawn, each once."""
    drawn: list[Text] = []
    with recording_texts(drawn):
        fig.canvas.draw()
    return list({id(t): t for t in drawn}.values())


def _label(t: Text) -> str:
    return repr(t.get_text().replace("\n", " ")[:40])


def _overlap(a, b, tol: float = OVERLAP_PX) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tol and min(a.y1, b.y1) - max(a.y0, b.y0) > tol


def _axes_of(t: Text) -> Axes | None:
    return t.axes


def text_problems(fig: Figure, texts: list[Text]) -> list[str]:
    renderer = fig.canvas.get_renderer()
    factor = print_factor(fig)
    boxes = [(t, t.get_window_extent(renderer)) for t in texts]
    out = []
    small = sorted((t.get_fontsize() * factor, _label(t)) for t, _ in boxes
                   if t.get_fontsize() * factor < MIN_FONT_PT - 1e-6)
    if small:
        out.append(f"{len(small)} texts print below {MIN_FONT_PT} pt, e.g. {small[0][1]} at {small[0][0]:.1f} pt")
    canvas = fig.bbox
    for t, b in boxes:
        if b.x0 < canvas.x0 - OVERLAP_PX or b.y0 < canvas.y0 - OVERLAP_PX or b.x1 > canvas.x1 + OVERLAP_PX \
                or b.y1 > canvas.y1 + OVERLAP_PX:
            out.append(f"text {_label(t)} runs off the canvas")
    for (t1, b1), (t2, b2) in itertools.combinations(boxes, 2):
        if _overlap(b1, b2):
            out.append(f"texts {_label(t1)} and {_label(t2)} overlap")
    panels = [ax for ax in fig.get_axes() if ax.get_visible() and ax.axison]
    for t, b in boxes:
        for ax in panels:
            if ax is not _axes_of(t) and _overlap(b, ax.bbox):
                title = ax.get_title() or ax.get_title(loc="left") or "a panel"
                out.append(f"text {_label(t)} runs into the plotting area of {title!r}")
    return out


def panel_problems(fig: Figure) -> list[str]:
    factor = print_factor(fig)
    small = []
    for ax in fig.get_axes():
        if not (ax.get_visible() and ax.axison):
            continue
        w, h = ax.bbox.width / fig.dpi * factor, ax.bbox.height / fig.dpi * factor
        if min(w, h) < MIN_PANEL_IN:
            small.append((min(w, h), w, h))
    if not small:
        return []
    _, w, h = min(small)
    return [f"{len(small)} panels print smaller than {MIN_PANEL_IN} in, the smallest {w:.2f} x {h:.2f} in"]


# ----------------------------------------------------------------------------------------- intervals


def _coords(v: np.ndarray, log: bool) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    if log:
        with np.errstate(all="ignore"):
            return np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.nan)
    return v


def _elements(ax: Axes, axis: str) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """``(points, intervals, clip markers)`` of one axes along ``axis``: arrays of data values (x or y).

    Points: the data of lines and markers in data coordinates (reference lines along an axis count for
    that axis), bars.  Intervals: each error-bar segment, each band of ``fill_between``.  Error-bar caps
    are the ends of intervals, not points."""
    k = 0 if axis == "x" else 1
    along = ax.get_xaxis_transform() if axis == "x" else ax.get_yaxis_transform()
    caps = {id(c) for cont in ax.containers if isinstance(cont, ErrorbarContainer) for c in cont.lines[1]}
    bars = {id(c) for cont in ax.containers if isinstance(cont, ErrorbarContainer) for c in cont.lines[2]}
    points, intervals, clips = [], [], []
    for line in ax.get_lines():
        if not line.get_visible() or id(line) in caps:
            continue
        tr = line.get_transform()
        if tr != ax.transData and tr != along:
            continue
        data = np.asarray(line.get_xdata() if axis == "x" else line.get_ydata(), dtype=float)
        (clips if line.get_gid() == CLIP_GID else points).append(data)
    for coll in ax.collections:
        if not coll.get_visible() or coll.get_transform() != ax.transData:
            continue
        if isinstance(coll, LineCollection) and id(coll) in bars:
            intervals += [np.asarray(seg, dtype=float)[:, k] for seg in coll.get_segments() if len(seg)]
        elif isinstance(coll, PolyCollection):
            intervals += [p.vertices[:, k] for p in coll.get_paths() if len(p.vertices)]
        elif coll.get_gid() == CLIP_GID:
            clips.append(np.asarray(coll.get_offsets(), dtype=float)[:, k])
        else:
            offsets = np.asarray(coll.get_offsets(), dtype=float)
            if offsets.size:
                points.append(offsets[:, k])
    for patch in ax.patches:
        if isinstance(patch, Rectangle) and patch.get_visible() and patch.get_transform() == ax.transData:
            x0, y0, w, h = patch.get_x(), patch.get_y(), patch.get_width(), patch.get_height()
            points.append(np.array([x0, x0 + w]) if axis == "x" else np.array([y0, y0 + h]))
    return points, intervals, clips


def _groups(axes: list[Axes], axis: str) -> list[list[Axes]]:
    """Axes that show the same range (shared, or set to the same limits and scale) judged together."""
    key = {}
    for ax in axes:
        lim = ax.get_xlim() if axis == "x" else ax.get_ylim()
        scale = ax.get_xscale() if axis == "x" else ax.get_yscale()
        key.setdefault((round(lim[0], 12), round(lim[1], 12), scale), []).append(ax)
    return list(key.values())


def interval_problems(fig: Figure) -> list[str]:
    out = []
    panels = [ax for ax in fig.get_axes() if ax.get_visible() and ax.axison]
    for axis in ("x", "y"):
        for group in _groups(panels, axis):
            ax0 = group[0]
            log = (ax0.get_xscale() if axis == "x" else ax0.get_yscale()) == "log"
            lo, hi = sorted(_coords(np.array(ax0.get_xlim() if axis == "x" else ax0.get_ylim()), log))
            span = hi - lo
            if not np.isfinite(span) or span <= 0:
                continue
            tol = 1e-3 * span
            ext_points, ext_int, clip_at = [], [], []
            for ax in group:
                points, intervals, clips = _elements(ax, axis)
                for p in points:
                    c = _coords(p, log)
                    c = c[np.isfinite(c)]
                    ext_points += [(float(v), float(v)) for v in np.clip(c, lo, hi)]
                for iv in intervals:
                    c = _coords(iv, log)
                    c = c[np.isfinite(c)]
                    if c.size:
                        ext_int.append((float(np.clip(c.min(), lo, hi)), float(np.clip(c.max(), lo, hi)),
                                        bool(c.min() < lo - tol or c.max() > hi + tol), ax))
                for cl in clips:
                    clip_at += [float(v) for v in _coords(cl, log) if np.isfinite(v)]
            title = ax0.get_title() or ax0.get_title(loc="left") or ax0.get_ylabel().replace("\n", " ") or "a panel"
            cut = [iv for iv in ext_int if iv[2]]
            unmarked = [iv for iv in cut
                        if not any(abs(c - lo) < 0.02 * span or abs(c - hi) < 0.02 * span for c in clip_at)]
            if unmarked:
                out.append(f"{axis} axis of {title!r}: {len(unmarked)} interval(s) cut by the axis without a "
                           "clip marker")
            if not ext_int:
                continue
            everything = [(a, b) for a, b in ext_points] + [(a, b) for a, b, *_ in ext_int]
            top = max(b for _, b in everything)
            bottom = min(a for a, _ in everything)
            used = top - bottom
            pad = span - used  # what the figure added around its data
            for i, (a, b, *_rest) in enumerate(ext_int):
                others = everything[:len(ext_points)] + [(x, y) for j, (x, y, *_r) in enumerate(ext_int) if j != i]
                if not others:
                    continue
                o_top = max(y for _, y in others)
                o_bot = min(x for x, _ in others)
                without = max(o_top - o_bot, 0.0) + pad
                stretched = (b > o_top + tol and b >= top - tol) or (a < o_bot - tol and a <= bottom + tol)
                if stretched and without > 0 and span / without > MAX_STRETCH:
                    out.append(f"{axis} axis of {title!r}: one interval stretches the axis {span / without:.1f}x "
                               f"({'log10 ' if log else ''}[{lo:.3g}, {hi:.3g}] instead of a span of {without:.3g})")
                    break
    return out


def all_problems(fig: Figure) -> list[str]:
    texts = draw_and_collect(fig)
    return page_problems(fig) + panel_problems(fig) + text_problems(fig, texts) + interval_problems(fig)


def study_problems(folder: Path, names: list[str] | None = None) -> dict[str, list[str]]:
    """Figure name -> its problems, drawn from the tables in ``folder`` (a study's ``results/tables``); a
    figure whose required tables the folder lacks is left out (the study does not build it)."""
    from pgexp.figures import FIGURES, ordered

    out = {}
    for name in ordered(names):
        spec = FIGURES[name]
        paths = {role: folder / f"{table}.parquet" for role, table in spec.tables.items()}
        if not all(paths[role].is_file() for role in spec.required):
            continue
        tables = {role: pd.read_parquet(path) for role, path in paths.items() if path.is_file()}
        out[name] = all_problems(spec.make(tables))
    return out


def main(argv: list[str]) -> int:
    if not argv or not Path(argv[0]).is_dir():
        print("usage: python tests/figure_checks.py RESULTS_TABLES_DIR [FIGURE ...]", file=sys.stderr)
        return 2
    found = study_problems(Path(argv[0]), argv[1:] or None)
    for name, problems in found.items():
        print(f"{name}: {'fit to print' if not problems else f'{len(problems)} problems'}")
        for p in problems:
            print(f"  {p}")
    return 1 if any(found.values()) else 0


__all__ = ["all_problems", "draw_and_collect", "interval_problems", "page_problems", "panel_problems",
           "study_problems", "text_problems"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

