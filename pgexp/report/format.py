"""How numbers and names are written in the report: 3 significant digits, intervals, horizons, pairs.

Every sentence of the report is assembled from table values through these helpers, so the same
quantity is written the same way everywhere.
"""

from __future__ import annotations

import html
import math
from typing import Any, TypeGuard

import numpy as np
import pandas as pd

from pgexp.estimators import is_oracle


def fmt(x: Any) -> str:
    """3 significant digits; integers as they are; missing as an en dash."""
    if x is None:
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "–" if math.isnan(v) else ("∞" if v > 0 else "−∞")
    r = float(f"{v:.3g}")
    if 100 <= abs(r) < 1e6:
        return str(int(r))  # 4210, not 4.21e+03
    return f"{v:.3g}"


def ci(v: Any, lo: Any, hi: Any, fmt_=fmt) -> str:
    """``v [lo, hi]``."""
    return f"{fmt_(v)} [{fmt_(lo)}, {fmt_(hi)}]"


def fmt2(x: Any) -> str:
    """Two decimals (exponents, slopes)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–"
    return f"{v:.2f}" if math.isfinite(v) else "–"


def pct(x: Any) -> str:
    """A fraction as a percentage with one decimal."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–"
    return f"{100 * v:.1f} %" if math.isfinite(v) else "–"


def horizon(h: Any) -> str:
    """``-1`` (an infinite horizon in the tables) as ∞."""
    try:
        return "∞" if int(h) < 0 else str(int(h))
    except (TypeError, ValueError):
        return "–"


def pair(est: Any, base: Any) -> str:
    return f"{est}~{base}"


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def num(df: pd.DataFrame, col: str) -> pd.Series:
    """A column as floats (missing column: NaN)."""
    return pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(np.nan, index=df.index)


def flag(df: pd.DataFrame, col: str) -> pd.Series:
    """A boolean column; ``"True"``/``"False"`` strings (from a CSV) read as booleans; missing = False."""
    if col not in df:
        return pd.Series(False, index=df.index)
    v = df[col]
    if v.dtype == object:
        return v.map(lambda x: str(x).strip().lower() in ("true", "1", "yes")).astype(bool)
    return v.astype("boolean").fillna(False).astype(bool)


def has(df: pd.DataFrame | None, cols: list[str] | tuple[str, ...]) -> TypeGuard[pd.DataFrame]:
    """``df`` is a non-empty table with every column of ``cols`` (and so, to the type checker, not ``None``)."""
    return df is not None and not df.empty and set(cols) <= set(df.columns)


def finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def where(env: str, theta: Any, multi_theta: bool) -> str:
    """How a sentence names an environment (and its policy point θ when there are several)."""
    return f"{env} (θ: {theta})" if multi_theta else str(env)


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


def oracle_rows(df: pd.DataFrame) -> pd.Series:
    """Which rows are oracle pairs (registry flag ``oracle`` on the estimator or the baseline), as a boolean Series."""
    return pd.Series([is_oracle(e, b) for e, b in zip(df["estimator"], df["baseline"])], index=df.index, dtype=bool)


def tied_with(rows: pd.DataFrame, best: pd.Series, col: str) -> list[str]:
    """The other pairs of ``rows`` whose ``[col_lo, col_hi]`` overlaps the winner's: not shown apart from it."""
    if f"{col}_lo" not in rows or f"{col}_hi" not in rows:
        return []
    blo, bhi = float(best[f"{col}_lo"]), float(best[f"{col}_hi"])
    lo, hi = num(rows, f"{col}_lo"), num(rows, f"{col}_hi")
    overlap = (lo <= bhi) & (hi >= blo) & np.isfinite(num(rows, col)) & (rows.index != best.name)
    return [pair(r["estimator"], r["baseline"]) for _, r in rows[overlap].iterrows()]


def tie_text(ties: list[str]) -> str:
    """``"; tied with A, B (overlapping 95% intervals)"``, or nothing without ties."""
    return f"; tied with {', '.join(ties)} (overlapping 95% intervals)" if ties else ""
