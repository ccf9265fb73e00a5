"""Figure ``deep_gradient_quality``: :mod:`~pgexp.figures.quality_vs_batch_size` for neural policies on
continuous-state tasks, where no exact gradient exists: cosine and relative MSE are measured against
a Monte-Carlo reference gradient (the mean of a large independent batch), and the axes say so.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from pgexp.figures.quality_vs_batch_size import quality_figure


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    return quality_figure(tables.get("metrics"), truth="reference")
