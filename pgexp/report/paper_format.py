"""Numbers as the paper studies' pages write them (:mod:`pgexp.report.paper_studies` and the pages of
single studies, :mod:`pgexp.report.liu2025`, :mod:`pgexp.report.tucker2018`, which it imports)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def fmt(x: Any, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits (integers as they are; NaN as ``–``)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    return f"{x:.{max(digits - 1 - mag, 0)}f}" if -4 <= mag < 6 else f"{x:.{digits - 1}e}"


def ci(v: float, lo: float, hi: float, digits: int = 3) -> str:
    return f"{fmt(v, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"
