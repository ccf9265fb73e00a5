"""Helpers the paper-study figures share (their look is :mod:`pgexp.figures.style`'s): step-size and baseline
labels, a palette by position, and reading the curves/summary tables by arm.  Nothing here draws or writes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# seaborn's "colorblind" palette (its first 8 colours), written out so a figure job does not import seaborn
PALETTE = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494"]


def eta_label(x: float) -> str:
    """``2^-13`` for small or large powers of two (``|k| >= 4``), else ``%g`` (``0.5``, ``2``)."""
    k = math.log2(x) if x > 0 else float("nan")
    if np.isfinite(k) and abs(k - round(k)) < 1e-12 and abs(round(k)) >= 4:
        return f"2^{round(k)}"
    return f"{x:g}"


#: How a training baseline that is offset from an exact constant is written (``b*`` vanilla PG's minimum-variance
#: constant, ``b_npg`` the NPG update's).
CENTRE_NAMES = {"optimal_exact": "b*", "optimal_npg_exact": "b_npg"}


def offset_label(e: float, baseline: str = "optimal_exact") -> str:
    """``b*``, ``b* + 1``, ``b* − 1`` (``b_npg ± 1`` for ``baseline = "optimal_npg_exact"``)."""
    c = CENTRE_NAMES.get(baseline, baseline)
    return c if e == 0 else f"{c} {'+' if e > 0 else '−'} {abs(e):g}"


def arm_rows(df: pd.DataFrame | None, arm: str) -> pd.DataFrame:
    """The rows of one arm (empty when the table or the arm is missing)."""
    if df is None or df.empty or "arm" not in df:
        return pd.DataFrame()
    return df[df["arm"] == arm]


def final_value(curves: pd.DataFrame | None, arm: str, column: str = "J") -> float:
    """The value of ``column`` at the last iteration of an arm's (single) configuration, or NaN."""
    rows = arm_rows(curves, arm)
    if rows.empty:
        return float("nan")
    return float(rows.sort_values("iteration")[column].iloc[-1])
