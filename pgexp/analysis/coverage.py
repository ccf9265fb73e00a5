"""Coverage of the Monte-Carlo variance intervals by the exact variances (``exact_in_ci``).

The metrics table, joined with the exact curves (:func:`pgexp.analysis.aggregate.join_exact`), says
per cell whether the exact per-trajectory variance lies inside the cell's 95% interval.  Coverage is
reported per batch size and per environment, not pooled: the interval's accuracy depends on how
many rare trajectories a cell holds, which grows with ``replicates x batch_size``.  Cells of one
(environment, θ, horizon, batch size) share their trajectories (common random numbers), so their
misses are correlated: no binomial count of "expected misses" applies to a pooled total.
"""

from __future__ import annotations

import pandas as pd


def coverage_table(metrics: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``by`` columns, ``cells`` (judged), ``inside``, ``coverage`` (``inside / cells``), from ``exact_in_ci``."""
    cols = [*by, "cells", "inside", "coverage"]
    if "exact_in_ci" not in metrics:
        return pd.DataFrame(columns=cols)
    judged = metrics[metrics["exact_in_ci"].notna()]
    if judged.empty:
        return pd.DataFrame(columns=cols)
    inside = judged["exact_in_ci"].astype(bool)
    out = judged.assign(_in=inside).groupby(by, sort=True)["_in"].agg(cells="size", inside="sum").reset_index()
    out["inside"] = out["inside"].astype(int)
    out["coverage"] = out["inside"] / out["cells"]
    return out[cols]
