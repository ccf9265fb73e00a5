"""Figure ``deep_learning_curves``: :mod:`~pgexp.figures.learning_curves` for neural policies on
continuous-state tasks, where progress is that of the evaluation return, ``(R − R₀)/(R_max − R₀)``.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from pgexp.figures.learning_curves import learning_curves_figure

TITLE = "Neural policies: learning curves at the selected step sizes"


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    return learning_curves_figure(tables.get("curves"), tables.get("summary"),
                                  progress_label="progress (R − R₀)/(R$_{max}$ − R₀)", title=TITLE)
