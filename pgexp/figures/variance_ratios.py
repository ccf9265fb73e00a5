"""Figure ``variance_ratios``: the report's headline -- each estimator~baseline's per-trajectory variance
relative to REINFORCE without a baseline, one mark per environment, at the reference cell.

* x: the ratio ``var_per_traj(pair) / var_per_traj(reinforce~none)`` (dimensionless, log scale; < 1: less
  noisy per trajectory than REINFORCE), at each environment's reference cell (metrics rows with
  ``sweep == "both"``; where a study has several seeds, the first).  The dashed line at 1 is REINFORCE itself.
* rows: the implementable estimator~baseline pairs (``reinforce~none``, the denominator, is the line),
  sorted by the median of their ratios over the environments, lowest on top; a black bar marks the median.
  A row is :data:`_ROW_IN` tall at print size, so that the default study's 19 rows, the legend and the axis
  fit about 3.7 in: the report's Summary shows it on the first screen at 1400 px (about 580 px tall).
* marks: one per environment and policy point θ; colour: the environment (``NAME`` and ``NAME.random``
  share one), marker: θ.  Marks of one row are spread a little up and down so that they do not hide each other.

Intervals: a ratio's interval is the *paired* one (:mod:`pgexp.analysis.compare`: one bootstrap resample of
the common replicates drives both variances), the comparisons table's ``var_ratio`` of the pair against
``reinforce~none`` in that cell (inverted where the table has ``reinforce~none`` as ``A``: the ratio
``1 / r`` has the interval ``[1 / r_hi, 1 / r_lo]``).  A mark whose cell the comparisons table lacks is the
point ratio of the two metrics rows and is drawn without an interval: two separate intervals divided are not
the ratio's.  An interval that reaches far beyond the marks is cut at the axis and marked
(:func:`~pgexp.figures.layout.robust_limits`).

Oracle pairs (registry flag ``oracle``, :func:`pgexp.estimators.is_oracle`: they read the exact V, Q, A or
b*) are drawn hollow in a block of their own underneath, sorted the same way: references, never ranked with
the implementable pairs.  A ratio of zero (a zero variance) has no place on a log axis and is not drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from pgexp.estimators import is_oracle
from pgexp.figures import data
from pgexp.figures.layout import BLANK, figure_with_legend, fixed_axes, legend_height, log_ticks, robust_limits
from pgexp.figures.style import FIG_WIDTH, REF_COLOR, max_height, no_data, pair_label, pair_sort_key, style

TITLE = "Per-trajectory variance relative to REINFORCE"
REFERENCE = ("reinforce", "none")
X_LABEL = "per-trajectory variance ÷ that of REINFORCE with no baseline (log scale)"
ORACLE_TITLE = "oracles (read the exact V, Q, A or b*): references, not ranked"
COLUMNS = ("panel", "env_name", "theta_name", "estimator", "baseline", "ratio", "ratio_lo", "ratio_hi", "paired",
           "oracle")
ENV_COLORS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#444444", "#8c6d31", "#b59f00",
              "#7f3c8d")  # Okabe-Ito first, then the spare hues of style.py: cycled beyond ten environments
THETA_MARKERS = ("o", "^", "s", "D", "v", "P", "X")
_ROW_IN = 0.12  # inches per pair row, at print size: a 7 pt label and room for the spread marks
_MIN_BLOCK_IN = 0.62  # a block of one or two rows is still a panel (figure checks: 0.55 in at least)
_HEAD_IN = 0.25  # the oracle block's title
_AXIS_IN = 0.45  # the x tick labels and the x label
_SPREAD = 0.3  # the marks of one row spread over ±0.3 of a row


def _cell_comparisons(comparisons: pd.DataFrame | None, cell: dict) -> pd.DataFrame | None:
    """The comparisons rows of one cell (``env_name``, ``theta_name``, ``horizon``, ``batch_size``, ``seed`` as
    far as both tables have them); None without a comparisons table."""
    if comparisons is None or comparisons.empty or "var_ratio" not in comparisons:
        return None
    c = comparisons[comparisons["env_name"].astype(str) == str(cell["env_name"])]
    for key in ("theta_name", "horizon", "batch_size", "seed"):
        if key in c and key in cell and pd.notna(cell[key]):
            same = c[key].astype(str) == str(cell[key]) if key == "theta_name" else data.col(c, key) == float(cell[key])
            c = c[same]
    return c


def _inverse(x: float) -> float:
    """``1 / x`` of an interval end: ``inf`` for an end at 0, NaN (no end) for a missing or negative one."""
    if not x >= 0:
        return float("nan")
    return float("inf") if x == 0 else 1.0 / x


def paired_ratio(cell: pd.DataFrame | None, pair: tuple[str, str]) -> tuple[float, float, float] | None:
    """``(ratio, lo, hi)`` of ``var_per_traj(pair) / var_per_traj(reinforce~none)`` from one cell's comparisons
    rows: the table's ``var_ratio`` and its paired interval where the pair is ``A`` and ``reinforce~none`` is
    ``B``, inverted where they are the other way round; None where the cell has no such row or no finite ratio."""
    if cell is None or cell.empty:
        return None
    for a, b, invert in ((REFERENCE, pair, True), (pair, REFERENCE, False)):
        hit = cell[(cell["estimator_a"] == a[0]) & (cell["baseline_a"] == a[1]) & (cell["estimator_b"] == b[0])
                   & (cell["baseline_b"] == b[1])]
        if len(hit):
            v, lo, hi = (float(hit[c].iloc[0]) for c in ("var_ratio", "var_ratio_lo", "var_ratio_hi"))
            if not (np.isfinite(v) and v > 0):
                return None
            if invert:
                v, lo, hi = 1.0 / v, _inverse(hi), _inverse(lo)
            return v, lo, hi
    return None


def ratio_table(metrics: pd.DataFrame | None, comparisons: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per environment panel and pair (not ``reinforce~none``) at the reference cell: :data:`COLUMNS`.

    ``ratio`` is ``var_per_traj(pair) / var_per_traj(reinforce~none)``; ``ratio_lo``/``ratio_hi`` its paired
    interval and ``paired`` True where the comparisons table has the pair against ``reinforce~none`` in that
    cell (its ratio, :func:`paired_ratio`), else the metrics' point ratio with NaN ends.  A panel without
    ``reinforce~none`` gives no rows.
    """
    ref = data.rows_of(metrics, ("both",))
    rows: list[dict] = []
    if not ref.empty:
        for label, sub in data.panels(ref):
            if "seed" in sub and sub["seed"].nunique() > 1:
                sub = sub[sub["seed"] == sub["seed"].min()]
            keys = [c for c in ("horizon", "batch_size") if c in sub]
            sub = sub.sort_values(keys, kind="stable").drop_duplicates(["estimator", "baseline"])
            denom = data.select(sub, *REFERENCE)
            if denom.empty:
                continue
            d = float(data.col(denom, "var_per_traj")[0])
            cell = denom.iloc[0].to_dict()
            comp = _cell_comparisons(comparisons, cell)
            for (est, base), row in data.by_pair(sub).items():
                if (est, base) == REFERENCE:
                    continue
                paired = paired_ratio(comp, (est, base))
                if paired is None:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        v = float(data.col(row, "var_per_traj")[0]) / d if d > 0 else np.nan
                    paired_ok, (lo, hi) = False, (np.nan, np.nan)
                else:
                    (v, lo, hi), paired_ok = paired, True
                rows.append(dict(panel=label, env_name=str(cell["env_name"]),
                                 theta_name=str(cell.get("theta_name", "")), estimator=est, baseline=base, ratio=v,
                                 ratio_lo=lo, ratio_hi=hi, paired=paired_ok, oracle=is_oracle(est, base)))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def ranked_pairs(table: pd.DataFrame) -> list[tuple[str, str]]:
    """The pairs of ``table`` with a positive finite ratio, by the median of their ratios (ties: registry order)."""
    ok = table[np.isfinite(data.col(table, "ratio")) & (data.col(table, "ratio") > 0)]
    if ok.empty:
        return []
    med = ok.groupby(["estimator", "baseline"])["ratio"].median()
    return sorted(((str(e), str(b)) for e, b in med.index), key=lambda p: (med[p], pair_sort_key(*p)))


def panel_styles(table: pd.DataFrame) -> dict[str, tuple[str, str, str, str]]:
    """Panel label -> ``(colour, marker, environment key, θ)``: colour by environment (``NAME.random`` is
    ``NAME``'s), marker by θ; by ``env_name`` where that would give two panels one look."""
    panels = table.drop_duplicates("panel")[["panel", "env_name", "theta_name"]].to_records(index=False)
    stems = [str(env).split(".")[0] for _, env, _ in panels]
    if len({(s, str(t)) for s, (_, _, t) in zip(stems, panels)}) < len(panels):
        stems = [str(env) for _, env, _ in panels]
    envs = list(dict.fromkeys(stems))
    thetas = list(dict.fromkeys(str(t) for _, _, t in panels))
    return {str(p): (ENV_COLORS[envs.index(s) % len(ENV_COLORS)],
                     THETA_MARKERS[thetas.index(str(t)) % len(THETA_MARKERS)], s, str(t))
            for s, (p, _, t) in zip(stems, panels)}


def _draw_block(ax, table: pd.DataFrame, pairs: list[tuple[str, str]], styles: dict, panels: list[str],
                hollow: bool) -> None:
    """One block of rows: each pair's marks (with their paired intervals) and its median bar."""
    y = np.arange(len(pairs), dtype=float)[::-1]  # the first pair on top
    k = len(panels)
    step = 2 * _SPREAD / (k - 1) if k > 1 else 0.0
    ms = 4.0
    by_pair = data.by_pair(table)
    for j, pair in enumerate(pairs):
        rows = by_pair.get(pair, table.iloc[:0])
        for rec in rows.to_dict("records"):
            v = float(rec["ratio"])
            if not (np.isfinite(v) and v > 0):
                continue
            color, marker, _, _ = styles[rec["panel"]]
            yy = y[j] + _SPREAD - step * panels.index(rec["panel"])
            look = {"color": color, "marker": marker, "markersize": ms, "linestyle": "none", "zorder": 3,
                    "markerfacecolor": "white" if hollow else color,
                    "markeredgecolor": color if hollow else "white",
                    "markeredgewidth": 0.9 if hollow else 0.3}
            if rec["paired"]:
                lo, hi = float(rec["ratio_lo"]), float(rec["ratio_hi"])
                lo = 1e-300 if lo == 0 else lo  # an end at 0 or infinity reaches the axis (and is marked there)
                hi = 1e300 if hi == np.inf else hi
                ax.errorbar(v, yy, xerr=data.ci_err(np.array([v]), np.array([lo]), np.array([hi])), elinewidth=0.7,
                            capsize=0, **look)
            else:
                ax.plot([v], [yy], **look)
        med = float(np.median([r for r in data.col(rows, "ratio") if np.isfinite(r) and r > 0]))
        ax.plot([med], [y[j]], marker="|", markersize=10, markeredgewidth=1.4, color="0.1", linestyle="none", zorder=5)
    ax.axvline(1.0, color=REF_COLOR, linestyle=(0, (4, 2)), linewidth=0.9, zorder=1)
    ax.set_ylim(-0.6, len(pairs) - 0.4)
    ax.set_yticks(y, [pair_label(*p) for p in pairs], fontsize=7.0)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="y", visible=False)
    ax.set_xscale("log")


def _title(table: pd.DataFrame, metrics: pd.DataFrame) -> str:
    """The strip's title: the reference cell (once, with the panels that differ) and what the bars are."""
    ref = data.rows_of(metrics, ("both",))
    panels = [(label, data.reference_cell(sub)) for label, sub in data.panels(ref) if label in set(table["panel"])]
    common = data.common_cell([c for _, c in panels])
    others = [f"{label}: {c}" for label, c in panels if c and c != common]
    where = f"reference cell {'; '.join([common, *others])}; " if common else ""
    if not table["paired"].any():
        return f"{where}marks are point ratios: no paired interval (no paired comparisons in the tables)"
    bars = "bars: paired 95% intervals of the ratio"
    return f"{where}{bars}" + ("" if table["paired"].all() else "; a mark without a bar: point ratio, not paired")


def _legend(table: pd.DataFrame, styles: dict, has_oracles: bool) -> list:
    envs = dict.fromkeys((s[2], s[0]) for s in styles.values())
    thetas = dict.fromkeys((s[3], s[1]) for s in styles.values())
    env_h = [Line2D([], [], color=c, marker="o", markersize=4.5, linestyle="none") for _, c in envs]
    key_h: list = [Line2D([], [], color="0.35", marker=m, markersize=4.5, linestyle="none") for _, m in thetas]
    key_l = [f"θ {t}" for t, _ in thetas] + ["median (sorts the rows)", "REINFORCE = 1"]
    key_h += [Line2D([], [], marker="|", markersize=9, markeredgewidth=1.4, color="0.1", linestyle="none"),
              Line2D([], [], color=REF_COLOR, linestyle=(0, (4, 2)), linewidth=0.9)]
    if has_oracles:
        key_l.append("oracle")
        key_h.append(Line2D([], [], color="0.35", marker="o", markersize=4.5, linestyle="none",
                            markerfacecolor="white", markeredgewidth=0.9))
    return [(["environment:", *[e for e, _ in envs]], [BLANK, *env_h]), (["marker:", *key_l], [BLANK, *key_h])]


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    metrics = data.rows_of(tables.get("metrics"))
    table = ratio_table(metrics, tables.get("comparisons"))
    ranked = ranked_pairs(table[~table["oracle"].astype(bool)])
    oracles = ranked_pairs(table[table["oracle"].astype(bool)])
    if not ranked and not oracles:
        return no_data(TITLE, "no pair with a positive per-trajectory variance beside reinforce~none at the "
                              "reference cell (metrics rows of sweep 'both')")
    table = table[[p in set(ranked) | set(oracles) for p in zip(table["estimator"], table["baseline"])]]
    styles = panel_styles(table)
    panels = list(dict.fromkeys(table["panel"]))
    blocks = [(pairs, head, hollow) for pairs, head, hollow in ((ranked, "", False), (oracles, ORACLE_TITLE, True))
              if pairs]
    heights = [max(len(p) * _ROW_IN, _MIN_BLOCK_IN) for p, _, _ in blocks]
    width, scale = FIG_WIDTH, 1.0
    title = _title(table, metrics)
    with style(scale):
        legend = _legend(table, styles, bool(oracles))
        wanted = sum(heights) + sum(_HEAD_IN for _, head, _ in blocks if head) + _AXIS_IN
        room = max_height(width) - legend_height(legend, width, scale, title)
        fig, grid = figure_with_legend(width, min(wanted, room), legend, scale, title=title)
        axes = grid.subplots(len(blocks), 1, squeeze=False,
                             gridspec_kw={"height_ratios": heights})[:, 0]
        fixed_axes(axes)
        for ax, (pairs, head, hollow) in zip(axes, blocks):
            part = table[table["oracle"].astype(bool) == hollow]
            _draw_block(ax, part, pairs, styles, panels, hollow)
            if head:
                ax.set_title(head, loc="left", fontsize=7.5, fontweight="normal")
        v = data.col(table, "ratio")
        paired = table["paired"].to_numpy(dtype=bool)
        lows = np.where(paired, data.col(table, "ratio_lo"), np.nan)
        highs = np.where(paired, data.col(table, "ratio_hi"), np.nan)
        limits = robust_limits(np.append(v, 1.0), lows, highs, log=True, pad=1.5)
        for i, ax in enumerate(axes):
            if limits is not None:
                ax.set_xlim(*limits)
                log_ticks(ax, *limits, max_ticks=7, axis="x")
            ax.tick_params(axis="x", labelbottom=i == len(axes) - 1)
        axes[-1].set_xlabel(X_LABEL, fontsize=8.0)
        return fig
