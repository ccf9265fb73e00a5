"""Figures of the training track: learning curves and gradient-estimate quality along the training path.

Same look as :mod:`pgexp.figures.plots` (seaborn ``whitegrid``/``paper``, one fixed colour and marker per
``estimator~baseline`` from :func:`pgexp.plots.pair_style`, PDF + 200 dpi PNG written atomically, a
placeholder figure for empty input).  Registered in :data:`pgexp.plots.FIGURES` as ``learning_curves``
and ``variance_along_training``.

Units: environment steps are cumulative steps of the sampled trajectories; progress
``(J - J_0)/(J* - J_0)`` is dimensionless (0 at the start, 1 at the optimum); per-trajectory variance
is in squared gradient-norm units; the cosine similarity is dimensionless; checkpoints are iterations of
the exact gradient-ascent path.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from pgexp.figures.plots import (
    _REF_COLOR,
    FIG_WIDTH,
    _ci_err,
    _col,
    _empty_figure,
    _frame,
    _log_ticks,
    _new_figure,
    _pair_sort_key,
    _pairs,
    _print_scale,
    _save,
    _select,
    _style,
    pair_label,
    pair_style,
)

__all__ = ["learning_curves", "select_step_sizes", "variance_along_training"]

PROGRESS_LABEL = "progress (J − J₀)/(J* − J₀)"
_CURVE_KEYS = ["env_name", "estimator", "baseline", "step_size", "iteration", "progress", "env_steps"]
_CONFIG = ["env_name", "estimator", "baseline", "step_size"]
_LEGEND_LINE_IN = 0.142  # inches per legend line (7.5 pt text, default spacing)


def _panel_title(ax: Any, text: str, ncols: int, scale: float = 1.0) -> None:
    """A panel title wrapped to the panel width, long names broken after an underscore (else mid-word)."""
    width = max(16, int(ax.get_figure(root=True).get_figwidth() / scale / max(ncols, 1) / 0.078))
    out = []
    for line in text.split("\n"):
        while len(line) > width:
            cut = line.rfind("_", 0, width) + 1 or line.rfind(" ", 0, width) + 1 or width
            out.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        out.append(line)
    ax.set_title("\n".join(out))


def _fmt_eta(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "?"
    return f"{v:.3g}" if math.isfinite(v) else "?"


# --------------------------------------------------------------------------- step-size selection


def select_step_sizes(curves: pd.DataFrame | None, summary: pd.DataFrame | None) -> pd.DataFrame:
    """Per ``env_name x estimator x baseline x step_size``: ``selected``, ``all_diverged``, ``diverged_seeds``,
    ``seeds``, ``threshold`` -- from the summary table where it has them, else from the curves by the
    same rule as :func:`pgexp.curves.training_summary` (highest mean progress over the last 10 % of
    iterations among the step sizes where no seed diverged; ties: the smaller; all diverged: the smallest).
    """
    cols = _CONFIG + ["selected", "all_diverged", "diverged_seeds", "seeds", "threshold"]
    sm = _frame(summary, _CONFIG + ["selected"])
    if not sm.empty:
        out = sm.copy()
        for c, default in (("all_diverged", False), ("diverged_seeds", 0), ("seeds", np.nan), ("threshold", np.nan)):
            if c not in out:
                out[c] = default
        for c in ("selected", "all_diverged"):
            v = out[c]
            out[c] = (v.map(lambda x: str(x).strip().lower() in ("true", "1", "yes")) if v.dtype == object
                      else v.fillna(False)).astype(bool)
        return out[cols]
    cv = _frame(curves, _CURVE_KEYS)
    if cv.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for key, g in cv.groupby(_CONFIG, sort=True):
        it = pd.to_numeric(g["iteration"], errors="coerce")
        T = it.max()
        tail = g[it >= T - max(1, T // 10)]
        div = int(pd.to_numeric(g.get("diverged_seeds", pd.Series(0, index=g.index)), errors="coerce").max() or 0)
        seeds = pd.to_numeric(g.get("seeds", pd.Series(np.nan, index=g.index)), errors="coerce").max()
        tail_p = _col(tail, "progress")
        tail_p = tail_p[np.isfinite(tail_p)]
        rows.append(dict(zip(_CONFIG, key), final=float(tail_p.mean()) if tail_p.size else np.nan,
                         diverged_seeds=div, seeds=seeds + div if np.isfinite(seeds) else np.nan, threshold=np.nan))
    out = pd.DataFrame(rows)
    out["selected"] = False
    out["all_diverged"] = False
    for _, g in out.groupby(_CONFIG[:3], sort=True):
        ok = g[g["diverged_seeds"] == 0]
        if len(ok):
            best = ok.assign(final=ok["final"].fillna(-np.inf)).sort_values(
                ["final", "step_size"], ascending=[False, True]).index[0]
        else:
            best = g.sort_values("step_size").index[0]
            out.loc[g.index, "all_diverged"] = True
        out.loc[best, "selected"] = True
    return out[cols]


# ------------------------------------------------------------------------------- learning curves


def _wrap_label(label: str, max_chars: int) -> str:
    """``label`` with its parenthesised note on an indented second line when it is longer than ``max_chars``."""
    if len(label) <= max_chars or " (" not in label:
        return label
    head, note = label.split(" (", 1)
    return f"{head}\n  ({note}"


def _log_x(x: np.ndarray) -> bool:
    pos = x[np.isfinite(x) & (x > 0)]
    return pos.size > 1 and pos.max() / pos.min() > 100.0


def learning_curves(curves: pd.DataFrame | None, summary: pd.DataFrame | None, output: str | Path) -> None:
    """Learning curves at the selected step sizes, one panel per ``env_name``.

    For each ``estimator~baseline`` (colour and marker of :func:`pgexp.plots.pair_style`), the curve of
    its selected step size (``summary.selected``): mean ``progress`` over the seeds still running, with
    the 95% bootstrap band ``[progress_lo, progress_hi]``, against the mean cumulative ``env_steps`` (log
    scale when the positive values span more than two decades).  The legend of each panel gives the
    step size ``η`` and, where some step sizes of that pair had diverging seeds, how many (``k/n η
    diverged``).  A pair whose every step size diverged is drawn dashed at its smallest step size, an
    ``×`` marking where its last seed stopped.  The dotted line is the progress threshold of the summary.
    The ``exact`` gradient path (no environment steps) is not drawn.

    Args:
        curves: the learning-curves table (``pgexp.curves.learning_curves``).
        summary: the training summary (``pgexp.curves.training_summary``); without it the step size
            is selected from the curves by the same rule.
        output: ``X.pdf``; ``X.png`` (200 dpi) is written beside it.
    """
    title = "Learning curves at the selected step sizes"
    cv = _frame(curves, _CURVE_KEYS)
    cv = cv[cv["estimator"].astype(str) != "exact"] if not cv.empty else cv
    sel = select_step_sizes(cv, summary)
    if cv.empty or sel.empty or not sel["selected"].any():
        _empty_figure(output, title)
        return
    cv = cv.assign(_x=_col(cv, "env_steps"), _y=_col(cv, "progress"))
    envs = sorted(cv["env_name"].astype(str).unique())
    panels = []  # (env, [(est, base, curve rows, label, all_diverged)], threshold, log x)
    for env in envs:
        sub = cv[cv["env_name"].astype(str) == env]
        s_env = sel[sel["env_name"].astype(str) == env]
        lines = []
        for est, base in _pairs(sub):
            s_pair = _select(s_env, est, base)
            chosen = s_pair[s_pair["selected"]]
            if chosen.empty:
                continue
            row = chosen.iloc[0]
            eta = float(row["step_size"])
            c = _select(sub, est, base)
            c = c[np.isclose(pd.to_numeric(c["step_size"], errors="coerce"), eta)].sort_values("iteration")
            if c.empty or not np.isfinite(c["_y"]).any():
                continue
            n_steps = int(s_pair["step_size"].nunique())
            n_div = int((pd.to_numeric(s_pair["diverged_seeds"], errors="coerce").fillna(0) > 0).sum())
            label = f"{pair_label(est, base)}, η = {_fmt_eta(eta)}"
            if n_div:
                label += f" ({n_div}/{n_steps} η diverged)"
            lines.append((est, base, c, label, bool(row["all_diverged"])))
        if not lines:
            continue
        thr = pd.to_numeric(s_env["threshold"], errors="coerce").dropna().unique()
        x_all = np.concatenate([ln[2]["_x"].to_numpy(float) for ln in lines])
        panels.append((env, lines, float(thr[0]) if len(thr) == 1 else None, _log_x(x_all)))
    if not panels:
        _empty_figure(output, title)
        return

    n = len(panels)
    ncols = min(n, 2)
    nblocks = math.ceil(n / ncols)
    width = FIG_WIDTH if n > 1 else 4.6
    # legend labels longer than the panel is wide: the divergence note goes to a second line
    max_chars = int((width / ncols - 0.6) * 72 / (0.6 * 7.5))
    panels = [(env, [(e, b, c, _wrap_label(label, max_chars), dead) for e, b, c, label, dead in lines], thr, log_x)
              for env, lines, thr, log_x in panels]
    any_dead = any(dead for _, lines, _, _ in panels for *_, dead in lines)
    max_lines = max(sum(label.count("\n") + 1 for *_, label, _ in lines) + (1 if any_dead else 0)
                    for _, lines, _, _ in panels)
    panel_h, legend_h = 2.5, 0.12 + _LEGEND_LINE_IN * max_lines
    with _style():
        lw = matplotlib.rcParams["lines.linewidth"]
        ms = 3.6
        fig = _new_figure(width, nblocks * (panel_h + legend_h))
        gs = fig.add_gridspec(2 * nblocks, ncols, height_ratios=[panel_h, legend_h] * nblocks)
        for k, (env, lines, thr, log_x) in enumerate(panels):
            r, c = divmod(k, ncols)
            ax = fig.add_subplot(gs[2 * r, c])
            leg_ax = fig.add_subplot(gs[2 * r + 1, c])
            leg_ax.set_axis_off()
            handles, labels = [], []
            ys: list[np.ndarray] = []
            for i, (est, base, cr, label, dead) in enumerate(lines):
                st = pair_style(est, base)
                x, y = cr["_x"].to_numpy(float), cr["_y"].to_numpy(float)
                lo, hi = _col(cr, "progress_lo"), _col(cr, "progress_hi")
                ok = np.isfinite(x) & np.isfinite(y) & ((x > 0) if log_x else True)
                if not ok.any():
                    continue
                x, y, lo, hi = x[ok], y[ok], lo[ok], hi[ok]
                ls = (0, (3.5, 1.8)) if dead else "-"
                ax.plot(x, y, color=st["color"], linestyle=ls, linewidth=lw, marker=st["marker"], markersize=ms,
                        markevery=(0.03 + 0.011 * i, 0.16), markeredgecolor="white", markeredgewidth=0.3,
                        zorder=3 + 0.01 * i)
                band = np.isfinite(lo) & np.isfinite(hi)
                if band.any():
                    ax.fill_between(x[band], lo[band], hi[band], color=st["color"], alpha=0.12, linewidth=0,
                                    zorder=2)
                    ys += [lo[band], hi[band]]
                ys.append(y)
                if dead:
                    ax.plot(x[-1], y[-1], marker="x", color=st["color"], markersize=7, markeredgewidth=1.6,
                            linestyle="none", zorder=5)
                handles.append(Line2D([], [], color=st["color"], linestyle=ls, linewidth=lw, marker=st["marker"],
                                      markersize=ms, markeredgecolor="white", markeredgewidth=0.3))
                labels.append(label)
            if any_dead and any(dead for *_, dead in lines):
                handles.append(Line2D([], [], color="0.3", marker="x", linestyle="none", markersize=6,
                                      markeredgewidth=1.4))
                labels.append("last seed stopped (all η diverged)")
            if log_x:
                ax.set_xscale("log")
            vals = np.concatenate(ys) if ys else np.array([0.0, 1.0])
            vals = vals[np.isfinite(vals)]
            y0 = min(0.0, float(vals.min()) if vals.size else 0.0)
            y1 = max(1.0, float(vals.max()) if vals.size else 1.0)
            pad = 0.05 * (y1 - y0)
            ax.set_ylim(y0 - pad, y1 + pad)
            ax.axhline(0.0, color="0.6", linewidth=0.6, zorder=1)
            ax.axhline(1.0, color="0.6", linewidth=0.6, zorder=1)
            if thr is not None and np.isfinite(thr):
                ax.axhline(thr, color=_REF_COLOR, linestyle=":", linewidth=0.9, zorder=1)
                ax.text(0.015, thr, f"threshold {thr:g}",
                        transform=blended_transform_factory(ax.transAxes, ax.transData),
                        ha="left", va="bottom", fontsize=7, color="0.35", zorder=6,
                        bbox=dict(facecolor="white", edgecolor="none", alpha=0.7, pad=0.5))
            _panel_title(ax, env, ncols)
            ax.set_xlabel("environment steps" + (" (log scale)" if log_x else ""))
            if c == 0:
                ax.set_ylabel(PROGRESS_LABEL)
            leg_ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncols=1,
                          handlelength=2.6, borderaxespad=0.0, borderpad=0.2, labelspacing=0.35)
        _save(fig, output)


# ---------------------------------------------------------------------------- variance along training


def _checkpoints(df: pd.DataFrame) -> np.ndarray:
    """The checkpoint iteration of each row: ``checkpoint`` as an integer, else the digits of ``theta_name``."""
    ck = pd.to_numeric(df["checkpoint"], errors="coerce") if "checkpoint" in df else pd.Series(np.nan, index=df.index)
    if "theta_name" in df:
        parsed = df["theta_name"].astype(str).map(
            lambda s: float(m.group(1)) if (m := re.fullmatch(r"ckpt(\d+)", s.strip())) else np.nan)
        ck = ck.fillna(parsed)
    return ck.to_numpy(dtype=float)


def _cell(sub: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows of the most common ``(horizon, batch_size)`` of a panel and its ``"H = .., N = .."`` text."""
    keys = [c for c in ("horizon", "batch_size") if c in sub]
    if not keys:
        return sub, ""
    vals = sub[keys].apply(pd.to_numeric, errors="coerce")
    combos = vals.value_counts(dropna=False)
    if combos.empty:
        return sub, ""
    top = combos.index[0] if len(keys) > 1 else (combos.index[0],)
    top = top if isinstance(top, tuple) else (top,)
    mask = np.ones(len(sub), dtype=bool)
    for k, v in zip(keys, top):
        col = vals[k].to_numpy(float)
        mask &= np.isnan(col) if (isinstance(v, float) and math.isnan(v)) else (col == v)
    parts = []
    for k, v in zip(keys, top):
        if isinstance(v, (int, float, np.number)) and np.isfinite(v):
            name = "H" if k == "horizon" else "N"
            parts.append(f"{name} = {'∞' if v < 0 else int(v)}")
    return sub[mask], ", ".join(parts)


def _legend_columns(labels: list[str], width: float, scale: float) -> int:
    """How many legend columns of ``labels`` fit ``width`` inches (at print size 7.5 pt text), at most 3."""
    longest = max((len(lab) for lab in labels), default=0)
    col_in = (2.4 + 0.8 + 0.55 * longest) * 7.5 / 72 + 0.15  # handle + pad + text, inches at print size
    return max(1, min(len(labels), 3, int(width / scale * 0.97 // col_in)))


def variance_along_training(training_variance: pd.DataFrame | None, output: str | Path) -> None:
    """Per-trajectory variance and cosine similarity at the checkpoints of the exact training path.

    Two rows (top: ``var_per_traj``, squared gradient-norm units, log scale; bottom: ``cosine`` to the
    exact gradient, dimensionless) by one column per ``env_name``; x = the checkpoint's iteration of the
    exact gradient-ascent path (``checkpoint``, else the digits of ``theta_name`` ``"ckpt<t>"``); one line
    per ``estimator~baseline`` (:func:`pgexp.plots.pair_style`) with 95% CI error bars, slightly dodged.
    Where a panel holds several horizons or batch sizes, the most common combination is drawn.

    Args:
        training_variance: the metrics table of the checkpoint estimates.
        output: ``X.pdf``; ``X.png`` (200 dpi) is written beside it.
    """
    title = "Gradient-estimate quality along training"
    df = _frame(training_variance, ["env_name", "estimator", "baseline", "var_per_traj", "cosine"])
    if not df.empty and ("checkpoint" in df or "theta_name" in df):
        df = df.assign(_ck=_checkpoints(df))
        df = df[np.isfinite(df["_ck"])]
    else:
        df = df.iloc[:0]
    if df.empty:
        _empty_figure(output, title)
        return
    panels = []
    cells = set()
    for env in sorted(df["env_name"].astype(str).unique()):
        sub, cell = _cell(df[df["env_name"].astype(str) == env])
        panels.append((env, sub, cell))
        cells.add(cell)
    same_cell = len(cells) == 1 and "" not in cells
    pairs = sorted({p for _, sub, _ in panels for p in _pairs(sub)}, key=_pair_sort_key)

    n = len(panels)
    width = FIG_WIDTH if n > 1 else 4.8
    width = max(width, 2.3 * n + 0.8)
    scale = _print_scale(width)
    panels_height = (2 * 1.9 + 0.35) * scale
    ncols = _legend_columns([pair_label(e, b) for e, b in pairs], width, scale)
    legend_height = (0.12 + 0.165 * (math.ceil(len(pairs) / ncols) + 1)) * scale
    with _style(scale):
        lw = matplotlib.rcParams["lines.linewidth"]
        fig = _new_figure(width, panels_height + legend_height)
        grid, leg = fig.subfigures(2, 1, height_ratios=[panels_height, legend_height], hspace=0.0)
        axes = grid.subplots(2, n, squeeze=False, sharex="col")
        for k, (env, sub, cell) in enumerate(panels):
            ax_v, ax_c = axes[0, k], axes[1, k]
            cks = np.sort(sub["_ck"].unique())
            span = float(cks.max() - cks.min()) if len(cks) > 1 else 1.0
            here = [p for p in pairs if p in set(_pairs(sub))]
            v_all: list[np.ndarray] = []
            c_all: list[np.ndarray] = []
            for i, (est, base) in enumerate(here):
                st = pair_style(est, base)
                pts = _select(sub, est, base).sort_values("_ck").drop_duplicates("_ck")
                x = pts["_ck"].to_numpy(float) + (i - (len(here) - 1) / 2) * 0.008 * span
                for ax, m in ((ax_v, "var_per_traj"), (ax_c, "cosine")):
                    y, lo, hi = _col(pts, m), _col(pts, f"{m}_lo"), _col(pts, f"{m}_hi")
                    ok = np.isfinite(y) & ((y > 0) if m == "var_per_traj" else True)
                    if not ok.any():
                        continue
                    if m == "var_per_traj":
                        lo = np.where(lo > 0, lo, np.nan)
                    ax.errorbar(x[ok], y[ok], yerr=_ci_err(y[ok], lo[ok], hi[ok]), color=st["color"],
                                marker=st["marker"], markersize=3.6 * scale, linewidth=0.9 * lw,
                                elinewidth=0.6 * scale, capsize=1.5 * scale, markeredgecolor="white",
                                markeredgewidth=0.3 * scale, zorder=3)
                    vals = np.concatenate([y[ok], lo[ok], hi[ok]])
                    (v_all if m == "var_per_traj" else c_all).append(vals[np.isfinite(vals)])
            ax_v.set_yscale("log")
            v = np.concatenate(v_all) if v_all else np.array([])
            v = v[v > 0]
            if v.size:
                ax_v.set_ylim(v.min() / 2.0, v.max() * 2.0)
                _log_ticks(ax_v, *ax_v.get_ylim())
            cvals = np.concatenate(c_all) if c_all else np.array([])
            if cvals.size:
                lo_c = max(-1.0, float(cvals.min()))
                pad = max(0.03, 0.06 * (1.0 - lo_c))
                ax_c.set_ylim(max(-1.05, lo_c - pad), 1.0 + pad)
            ax_c.axhline(1.0, color="0.55", linewidth=0.6 * scale, zorder=0)
            ax_c.set_xticks(cks, [str(int(t)) for t in cks])
            if len(cks) > 1:
                ax_c.set_xlim(cks.min() - 0.06 * span, cks.max() + 0.06 * span)
            ax_v.tick_params(labelbottom=False)
            _panel_title(ax_v, env if same_cell or not cell else f"{env}\n{cell}", n, scale)
        grid.supxlabel("checkpoint: iteration of the exact gradient-ascent path",
                      fontsize=matplotlib.rcParams["axes.labelsize"])
        axes[0, 0].set_ylabel("per-trajectory variance\ntr Cov[g] (log scale)")
        axes[1, 0].set_ylabel("cosine to ∇J")
        grid.align_ylabels(axes[:, 0])
        handles: list = [Line2D([], [], color=pair_style(e, b)["color"], marker=pair_style(e, b)["marker"],
                                markersize=4 * scale, linewidth=lw, markeredgecolor="white",
                                markeredgewidth=0.3 * scale) for e, b in pairs]
        labels = [pair_label(e, b) for e, b in pairs]
        legend_title = (f"estimates at {cells.pop()}; " if same_cell else "") + \
            "error bars: 95% CIs; points dodged sideways for legibility"
        if handles:
            leg.legend(handles, labels, loc="center", ncols=ncols, handlelength=2.4, columnspacing=1.5,
                       borderaxespad=0.0, borderpad=0.1, title=legend_title,
                       title_fontsize=matplotlib.rcParams["legend.title_fontsize"])
        _save(fig, output)

