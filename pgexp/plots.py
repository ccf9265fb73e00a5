"""Publication-ready figures from the result tables (metrics and slopes parquet files).

Every figure is written twice, side by side: a vector PDF and a PNG (200 dpi) -- given ``X.pdf`` the
functions also write ``X.png``.  Both are written atomically (temporary file in the same directory,
then ``os.replace``), so a reader never sees a half-written figure.

Style: seaborn ``whitegrid`` / ``paper``; one fixed colour per ``estimator~baseline`` pair, the same in
every figure (hue by estimator from the colourblind-safe seaborn palette, shade and marker by
baseline).  Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg canvas, so
importing this module neither needs a display nor changes the global pyplot backend.

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
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

__all__ = [
    "FIGURES",
    "bias_variance",
    "figure_paths",
    "pair_label",
    "pair_style",
    "quality_vs_batch_size",
    "variance_vs_horizon",
]

PNG_DPI = 200
FIG_WIDTH = 7.0  # inches: full text width; multi-panel figures never go narrower
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


def _pair_sort_key(pair: tuple[str, str]) -> tuple:
    est, base = pair
    return (_ESTIMATOR_HUE.get(est, len(ESTIMATOR_ORDER)), est,
            BASELINE_ORDER.index(base) if base in BASELINE_ORDER else len(BASELINE_ORDER), base)


def _rc() -> dict[str, Any]:
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
        "legend.frameon": False,
        "grid.linewidth": 0.5,
        "grid.color": "0.9",
        "axes.edgecolor": "0.6",
        "lines.linewidth": 1.2,
        "lines.markersize": 4.5,
        "errorbar.capsize": 2.0,
        "hatch.linewidth": 0.6,
        "pdf.fonttype": 42,  # embed TrueType: text stays text in the PDF
        "savefig.dpi": PNG_DPI,
    })
    return rc


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(_rc()):
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


def _join_wrapped(head: str, parts: list[str], width: int, sep: str = " | ") -> str:
    """``head + sep.join(parts)``, broken into indented lines of at most ``width`` characters between parts."""
    lines, line = [], head
    for i, part in enumerate(parts):
        piece = part if i == 0 else sep + part
        if i > 0 and len(line) + len(piece) > width:
            lines.append(line + sep.rstrip())
            line, piece = "    ", part
        line += piece
    return "\n".join([*lines, line])


def _title(ax: Any, text: str, ncols: int) -> None:
    """A panel title, wrapped to the panel width (long env names must not run into the next panel)."""
    width = max(16, int(ax.get_figure().get_figwidth() / max(ncols, 1) / 0.078))
    ax.set_title("\n".join("\n".join(textwrap.wrap(line, width)) for line in text.split("\n")))


def _fmt_slope(s: float, lo: float, hi: float) -> str:
    def f(x: float) -> str:
        return f"{x:.2f}" if np.isfinite(x) else "?"
    return f"{f(s)} [{f(lo)}, {f(hi)}]"


# ------------------------------------------------------------------------- variance vs horizon


def variance_vs_horizon(metrics: pd.DataFrame, slopes: pd.DataFrame, output: str | Path,
                        exact: pd.DataFrame | None = None) -> None:
    """Per-trajectory variance against the horizon, log-log, one panel per ``env_name``.

    Args:
        metrics: the metrics table; rows with ``sweep`` in ``{"horizon", "both"}`` and a finite horizon
            (``horizon > 0``; ``-1`` = infinite is skipped) are drawn: ``var_per_traj`` (squared
            gradient-norm units) with its 95% CI ``[var_per_traj_lo, var_per_traj_hi]`` as error bars
            against ``horizon`` (steps).
        slopes: the slopes table; each ``env_name x estimator x baseline`` row adds the dashed fit
            ``exp(intercept) * H**slope`` over ``[h_min, h_max]`` and its slope with CI to the legend.
        output: ``X.pdf``; ``X.png`` (200 dpi) is written beside it.
        exact: optional ``env_name, estimator, baseline, horizon, var_per_traj_exact``: exact
            per-trajectory variance, drawn as a thin solid line per pair.

    A faint dotted line of slope 3 (the lecture's ``H^3`` claim for REINFORCE) is drawn for reference.
    """
    title = "Per-trajectory variance vs horizon"
    df = _sweep(metrics, ("horizon", "both"), ["horizon", "var_per_traj"])
    if not df.empty:
        df = df[(pd.to_numeric(df["horizon"], errors="coerce") > 0) & (_col(df, "var_per_traj") > 0)]
    if df.empty:
        _empty_figure(output, title)
        return
    slopes = _frame(slopes, ["env_name", "estimator", "baseline", "slope", "slope_lo", "slope_hi", "intercept"])
    exact = _frame(exact, ["env_name", "estimator", "baseline", "horizon", "var_per_traj_exact"])
    panels = _panels(df)
    all_pairs = sorted({p for _, sub in panels for p in _pairs(sub)}, key=_pair_sort_key)
    multi = len(panels) > 1
    # slope text per pair and panel ("–" where a pair has no fit in a panel)
    slope_text: dict[tuple[str, str], list[str]] = {p: ["–"] * len(panels) for p in all_pairs}

    with _style():
        ncols = min(len(panels), 3)
        nrows = math.ceil(len(panels) / ncols)
        panels_height = 2.6 * nrows
        fig = _new_figure(FIG_WIDTH, panels_height)
        axes = _grid(fig, len(panels), max_cols=3)
        _hide_unused(axes, len(panels))
        has_exact = False
        for k, (panel_title, sub) in enumerate(panels):
            ax = axes.flat[k]
            env_name = str(sub["env_name"].iloc[0])
            theta = sub["theta_name"].iloc[0] if "theta_name" in sub and sub["theta_name"].nunique() == 1 else None
            pairs = _pairs(sub)
            ys: list[float] = []
            h_all = np.sort(pd.to_numeric(sub["horizon"]).unique().astype(float))
            for i, (est, base) in enumerate(pairs):
                style = pair_style(est, base)
                pts = _one_per(_select(sub, est, base), "horizon", ["batch_size", "seed"])
                h = pts["horizon"].to_numpy(dtype=float)
                v = _col(pts, "var_per_traj")
                err = _ci_err(v, _col(pts, "var_per_traj_lo"), _col(pts, "var_per_traj_hi"))
                dodge = np.exp(0.035 * (i - (len(pairs) - 1) / 2))  # keep error bars apart
                ax.errorbar(h * dodge, v, yerr=err, color=style["color"], marker=style["marker"], linestyle="none",
                            markeredgecolor="white", markeredgewidth=0.4, elinewidth=0.9, zorder=3)
                ys.extend(v[np.isfinite(v)])
                # fitted power law
                srow = _select(slopes[slopes["env_name"] == env_name], est, base)
                if theta is not None and "theta_name" in srow:
                    srow = srow[srow["theta_name"] == theta] if (srow["theta_name"] == theta).any() else srow
                srow = srow.sort_values([c for c in ("batch_size", "seed") if c in srow]) if not srow.empty else srow
                if not srow.empty and np.isfinite(float(srow["slope"].iloc[0])):
                    r = srow.iloc[0]
                    h0 = float(r["h_min"]) if "h_min" in r and np.isfinite(r["h_min"]) else h.min()
                    h1 = float(r["h_max"]) if "h_max" in r and np.isfinite(r["h_max"]) else h.max()
                    hh = np.geomspace(h0, h1, 50)
                    ax.plot(hh, np.exp(float(r["intercept"])) * hh ** float(r["slope"]), linestyle="--",
                            color=style["color"], linewidth=1.0, zorder=2)
                    txt = _fmt_slope(float(r["slope"]), float(r["slope_lo"]), float(r["slope_hi"]))
                    slope_text[(est, base)][k] = txt
                # exact curve
                ex = _select(exact[exact["env_name"] == env_name], est, base)
                if "theta_name" in ex and theta is not None:
                    ex = ex[ex["theta_name"] == theta]
                if not ex.empty:
                    ex = ex[pd.to_numeric(ex["horizon"], errors="coerce") > 0].sort_values("horizon")
                    ax.plot(ex["horizon"].to_numpy(float), _col(ex, "var_per_traj_exact"), linestyle="-",
                            color=style["color"], linewidth=0.8, alpha=0.9, zorder=1)
                    has_exact = True
            # reference slope 3, parallel to and above the data at the smallest horizon
            ys_arr = np.asarray(ys)
            lo_y, hi_y = ys_arr.min(), ys_arr.max()
            ax.set_xscale("log")
            ax.set_yscale("log")
            if len(h_all) >= 1:
                hmin, hmax = h_all.min(), h_all.max()
                if hmax <= hmin:
                    hmin, hmax = hmin / 1.5, hmax * 1.5
                top_at_hmin = max(_col(sub[pd.to_numeric(sub["horizon"]) == h_all.min()], "var_per_traj"))
                hh = np.geomspace(hmin, hmax, 50)
                ax.plot(hh, 2.0 * top_at_hmin * (hh / hmin) ** LECTURE_SLOPE, linestyle=":", color=_REF_COLOR,
                        linewidth=1.1, alpha=0.8, zorder=0)
                ax.set_xlim(hmin / 1.25, hmax * 1.25)
            ax.set_ylim(lo_y / 3.0, hi_y * 3.0)
            _title(ax, panel_title, ncols)
            ax.set_xlabel("horizon H (steps)")
            if k % ncols == 0:
                ax.set_ylabel("per-trajectory variance tr Cov[g]\n(squared gradient norm)")
            _horizon_ticks(ax, h_all)

        handles: list = []
        labels: list[str] = []
        for est, base in all_pairs:
            style = pair_style(est, base)
            handles.append(Line2D([], [], color=style["color"], marker=style["marker"], linestyle="--",
                                  markeredgecolor="white", markeredgewidth=0.4))
            txt = slope_text[(est, base)]
            labels.append(_join_wrapped(pair_label(est, base) + (": slope " if any(t != "–" for t in txt) else ""),
                                        txt if any(t != "–" for t in txt) else [], 100))
        handles.append(Line2D([], [], color=_REF_COLOR, linestyle=":", linewidth=1.1))
        labels.append("∝ H³ (lecture)")
        if has_exact:
            handles.append(Line2D([], [], color="0.3", linestyle="-", linewidth=0.8))
            labels.append("exact tr Cov[g]")
        handles.append(Line2D([], [], color="0.3", marker="o", linestyle="--"))
        labels.append("Monte-Carlo (95% CI) + log-log fit")
        legend_title = None
        if multi and any(t != "–" for txt in slope_text.values() for t in txt):
            legend_title = "log-log slope [95% CI] per panel: " + " | ".join(t for t, _ in panels)
        _legend_below(fig, handles, labels, panels_height=panels_height, title=legend_title)
        _save(fig, output)


def _horizon_ticks(ax: Any, horizons: np.ndarray) -> None:
    """Plain-number ticks at the measured horizons (log axes otherwise show only powers of ten)."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator, ScalarFormatter

    if 1 <= len(horizons) <= 8:
        ax.xaxis.set_major_locator(FixedLocator(horizons))
        fmt = ScalarFormatter()
        fmt.set_scientific(False)
        ax.xaxis.set_major_formatter(fmt)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())


# ---------------------------------------------------------------------- quality vs batch size


def quality_vs_batch_size(metrics: pd.DataFrame, output: str | Path) -> None:
    """Cosine similarity and relative MSE against the batch size, one column per ``env_name``.

    Args:
        metrics: the metrics table; rows with ``sweep`` in ``{"batch", "both"}``.  Top row: ``cosine``
            (mean cosine similarity of the batch estimate to the exact gradient, dimensionless, in
            ``[-1, 1]``); bottom row: ``rel_mse`` (``MSE / ||grad J||^2``, dimensionless, log scale);
            both against ``batch_size`` N (trajectories, log scale), 95% CIs as bands.
        output: ``X.pdf``; ``X.png`` (200 dpi) is written beside it.

    A dotted ``∝ 1/N`` guide in the bottom row shows the rate of an unbiased estimator.
    """
    title = "Estimate quality vs batch size"
    df = _sweep(metrics, ("batch", "both"), ["batch_size", "cosine", "rel_mse"])
    if not df.empty:
        df = df[pd.to_numeric(df["batch_size"], errors="coerce") > 0]
    if df.empty:
        _empty_figure(output, title)
        return
    panels = _panels(df)
    all_pairs = sorted({p for _, sub in panels for p in _pairs(sub)}, key=_pair_sort_key)
    n = len(panels)
    with _style():
        panels_height = 4.6
        fig = _new_figure(max(FIG_WIDTH, 2.4 * n), panels_height)
        axes = fig.subplots(2, n, squeeze=False, sharex="col")
        for k, (panel_title, sub) in enumerate(panels):
            ax_c, ax_m = axes[0, k], axes[1, k]
            ns = np.sort(pd.to_numeric(sub["batch_size"]).unique().astype(float))
            mse_pos: list[float] = []
            for est, base in _pairs(sub):
                style = pair_style(est, base)
                pts = _one_per(_select(sub, est, base), "batch_size", ["horizon", "seed"])
                x = pts["batch_size"].to_numpy(dtype=float)
                for ax, m in ((ax_c, "cosine"), (ax_m, "rel_mse")):
                    y, lo, hi = _col(pts, m), _col(pts, f"{m}_lo"), _col(pts, f"{m}_hi")
                    ok = np.isfinite(y) & ((y > 0) if m == "rel_mse" else True)
                    if not ok.any():
                        continue
                    ax.plot(x[ok], y[ok], color=style["color"], marker=style["marker"], markeredgecolor="white",
                            markeredgewidth=0.4, zorder=3)
                    band = ok & np.isfinite(lo) & np.isfinite(hi)
                    if m == "rel_mse":
                        band &= lo > 0
                        mse_pos.extend(y[ok])
                    if band.any():
                        ax.fill_between(x[band], lo[band], hi[band], color=style["color"], alpha=0.18, linewidth=0,
                                        zorder=2)
            # 1/N guide through the median relative MSE at the smallest batch size
            if mse_pos and len(ns) > 1:
                first = _col(sub[pd.to_numeric(sub["batch_size"]) == ns[0]], "rel_mse")
                first = first[np.isfinite(first) & (first > 0)]
                if first.size:
                    y0 = float(np.max(first)) * 2.0
                    ax_m.plot(ns, y0 * ns[0] / ns, linestyle=":", color=_REF_COLOR, linewidth=1.1, alpha=0.8, zorder=1)
            for ax in (ax_c, ax_m):
                ax.set_xscale("log")
                if len(ns) > 1:
                    ax.set_xlim(ns.min() / 1.3, ns.max() * 1.3)
                _horizon_ticks(ax, ns)
            ax_m.set_yscale("log")
            cos_all = np.concatenate([_col(sub, c) for c in ("cosine", "cosine_lo", "cosine_hi")])
            cos_all = cos_all[np.isfinite(cos_all)]
            if cos_all.size:
                lo_c, hi_c = max(-1.0, cos_all.min()), min(1.0, cos_all.max())
                pad = max(0.03, 0.08 * (hi_c - lo_c))
                ax_c.set_ylim(max(-1.05, lo_c - pad), min(1.05, hi_c + pad))
            if mse_pos:
                ax_m.set_ylim(min(mse_pos) / 4.0, max(mse_pos) * 4.0)
            ax_c.axhline(1.0, color="0.5", linewidth=0.6, zorder=0)
            _title(ax_c, panel_title, n)
            ax_m.set_xlabel("batch size N (trajectories)")
            ax_c.tick_params(labelbottom=False)
            if k == 0:
                ax_c.set_ylabel("cosine similarity to ∇J")
                ax_m.set_ylabel("relative MSE ‖g − ∇J‖² / ‖∇J‖²")
        fig.align_ylabels(axes[:, 0])
        handles: list = []
        labels: list[str] = []
        for est, base in all_pairs:
            style = pair_style(est, base)
            handles.append(Line2D([], [], color=style["color"], marker=style["marker"], markeredgecolor="white",
                                  markeredgewidth=0.4))
            labels.append(pair_label(est, base))
        handles.append(Patch(facecolor="0.5", alpha=0.25, linewidth=0))
        labels.append("95% CI")
        handles.append(Line2D([], [], color=_REF_COLOR, linestyle=":", linewidth=1.1))
        labels.append("∝ 1/N")
        _legend_below(fig, handles, labels, panels_height=panels_height)
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


#: Figure name -> ``fn(tables, output)``; ``tables`` has ``"metrics"``, ``"slopes"`` and optionally ``"exact"``.
FIGURES: dict[str, Callable[[dict[str, pd.DataFrame], str | Path], None]] = {
    "variance_vs_horizon": _fig_variance_vs_horizon,
    "quality_vs_batch_size": _fig_quality_vs_batch_size,
    "bias_variance": _fig_bias_variance,
}
