"""Reading the result tables for drawing: columns as float arrays, rows of one pair, panels, CIs.

These only select and reshape what the tables already hold; every number drawn is a table value.
Units follow the tables: horizons ``H`` in environment steps (``-1`` = infinite), batch sizes ``N``
in trajectories, variances in squared gradient-norm units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pgexp.figures.style import ordered_baselines, ordered_estimators, pair_sort_key


def col(df: pd.DataFrame, name: str) -> np.ndarray:
    """Column ``name`` as float64 (NaN where missing or not numeric; all NaN when there is no such column)."""
    if name not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)


def rows_of(df: pd.DataFrame | None, sweeps: Sequence[str] | None = None) -> pd.DataFrame:
    """``df`` (an empty frame when None), narrowed to ``sweep`` in ``sweeps`` when given."""
    if df is None:
        return pd.DataFrame()
    if sweeps is not None and len(df):
        return df[df["sweep"].isin(sweeps)].copy()
    return df


def select(df: pd.DataFrame, estimator: str, baseline: str) -> pd.DataFrame:
    return df[(df["estimator"] == estimator) & (df["baseline"] == baseline)]


def by_pair(df: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """``df`` split by ``(estimator, baseline)`` in one pass (a boolean selection per pair, repeated over a
    grid of panels, was most of a grid figure's drawing time)."""
    if df.empty or "estimator" not in df or "baseline" not in df:
        return {}
    return {(str(e), str(b)): g for (e, b), g in df.groupby(["estimator", "baseline"], sort=False)}


def pairs(df: pd.DataFrame) -> list[tuple[str, str]]:
    """The ``(estimator, baseline)`` pairs of ``df``, in registry order."""
    found = {(str(e), str(b)) for e, b in zip(df["estimator"], df["baseline"])}
    return sorted(found, key=lambda p: pair_sort_key(*p))


def estimators(df: pd.DataFrame) -> list[str]:
    return ordered_estimators(df["estimator"].dropna())


def baselines(df: pd.DataFrame) -> list[str]:
    return ordered_baselines(df["baseline"].dropna())


def panels(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One panel per ``env_name`` (and per ``theta_name`` where an environment has several)."""
    out = []
    for env_name, sub in df.groupby("env_name", sort=True):
        thetas = sorted(sub["theta_name"].dropna().astype(str).unique()) if "theta_name" in sub else []
        if len(thetas) > 1:
            out += [(f"{env_name} (θ: {t})", sub[sub["theta_name"].astype(str) == t]) for t in thetas]
        else:
            out.append((str(env_name), sub))
    return out


def panel_theta(sub: pd.DataFrame) -> Any:
    """The one ``theta_name`` of a panel, or None."""
    return sub["theta_name"].iloc[0] if "theta_name" in sub and sub["theta_name"].nunique() == 1 else None


def one_per(df: pd.DataFrame, key: str, prefer: Sequence[str]) -> pd.DataFrame:
    """One row per ``key`` value (the first after sorting by ``prefer``), sorted by ``key``."""
    prefer = [c for c in prefer if c in df.columns and c != key]
    return df.sort_values([key, *prefer], kind="stable").drop_duplicates(key).sort_values(key)


def ci_err(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Asymmetric error-bar lengths ``(2, n)`` for ``errorbar``; a missing bound draws no bar on that side."""
    low = np.where(np.isfinite(lo), v - lo, 0.0)
    high = np.where(np.isfinite(hi), hi - v, 0.0)
    return np.clip(np.vstack([low, high]), 0.0, None)


def fmt_num(x: float | None) -> str:
    """A horizon or batch size for text: ``∞`` for the ``-1`` sentinel, ``?`` when unknown."""
    if x is None or not np.isfinite(x):
        return "?"
    return "∞" if x < 0 else f"{x:g}"


def mode_of(df: pd.DataFrame, column: str) -> float | None:
    """The most common value of a numeric column (None when it has none)."""
    v = pd.to_numeric(df[column], errors="coerce").dropna() if column in df and len(df) else pd.Series(dtype=float)
    return float(v.mode().iloc[0]) if len(v) else None


def reference_cell(sub: pd.DataFrame) -> str:
    """``"H = 25, N = 16"`` for the columns that take one value in ``sub``."""
    parts = []
    for column, name in (("horizon", "H"), ("batch_size", "N")):
        if column in sub and sub[column].nunique() == 1:
            parts.append(f"{name} = {fmt_num(float(sub[column].iloc[0]))}")
    return ", ".join(parts)


def common_cell(cells: Sequence[str]) -> str:
    """The reference cell most panels share (:func:`reference_cell` of each panel, in panel order; ties: the
    first); ``""`` when none is stated.  A figure states it once and names only the panels that differ (the
    default study's ``lqr`` has its reference at H = 16, the others at H = 25)."""
    stated = [c for c in cells if c]
    return max(stated, key=lambda c: (stated.count(c), -stated.index(c))) if stated else ""
