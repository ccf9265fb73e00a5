"""What a track's estimates are measured against (:class:`Truth`): the exact gradient of a tabular or
linear-quadratic problem, or the Monte-Carlo reference of a continuous one.  Its own module so that the
tracks (:mod:`pgexp.runs.context`, :mod:`pgexp.runs.lqr_context`) and the reference
(:mod:`pgexp.runs.reference`) share it without importing one another in a cycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Truth:
    """What estimates are measured against: ``grad`` ``(d,)`` and the table columns that describe it
    (tabular: ``J_exact``, ``J_star``; continuous: the reference's return, standard errors and cost)."""

    grad: np.ndarray
    columns: dict[str, Any] = field(default_factory=dict)
