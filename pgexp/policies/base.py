"""What the exact and Monte-Carlo code needs from a tabular policy.

Any parameterisation (softmax-linear now, a torch MLP later) that provides these three maps plugs
into :mod:`pgexp.exact.values` and the estimators unchanged:

* ``probs(theta)`` -- ``pi(a|s)``, shape ``(S, A)``;
* ``score_pullback(theta, W)`` -- ``sum_{s,a} W[..., s, a] grad log pi(a|s)``, ``(..., S, A) -> (..., d)``;
* ``probs_vjp(theta, C)`` -- ``sum_{s,a} C[s, a] grad pi(a|s)``, ``(S, A) -> (d,)``.

Estimators are weighted sums of score vectors, so ``score_pullback`` turns per-(s, a) weights
accumulated along trajectories into gradients with one matrix product.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class TabularPolicy(Protocol):
    # read-only: a frozen dataclass or properties satisfy them as well as plain attributes
    @property
    def dim(self) -> int: ...

    @property
    def num_states(self) -> int: ...

    @property
    def num_actions(self) -> int: ...

    @property
    def name(self) -> str: ...

    def probs(self, theta: np.ndarray) -> np.ndarray: ...

    def score_pullback(self, theta: np.ndarray, weights: np.ndarray, *, pi: np.ndarray | None = None) -> np.ndarray:
        ...

    def probs_vjp(self, theta: np.ndarray, cotangent: np.ndarray) -> np.ndarray: ...
