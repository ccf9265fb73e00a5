"""Softmax-linear policy ``pi(a|s) ∝ exp(theta . phi(s, a))`` with its closed-form score.

``grad log pi(a|s) = phi(s, a) - sum_a' pi(a'|s) phi(s, a')``, so for per-(s, a) weights ``W``
``sum W[s,a] grad log pi(a|s) = pullback(W - pi * sum_a W[s, a])`` -- no autograd, one product.
Probabilities use log-sum-exp, so logits of any magnitude are safe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax

from pgexp.policies.features import Features


@dataclass(frozen=True, eq=False)
class SoftmaxLinearPolicy:
    """Softmax over ``theta . phi(s, a)``; ``theta`` has shape ``(features.dim,)``."""

    features: Features
    name: str = "linear"

    @property
    def dim(self) -> int:
        return self.features.dim

    @property
    def num_states(self) -> int:
        return self.features.num_states

    @property
    def num_actions(self) -> int:
        return self.features.num_actions

    def log_probs(self, theta: np.ndarray) -> np.ndarray:
        """``log pi(a|s)``, shape ``(S, A)``."""
        return log_softmax(self.features.logits(theta), axis=-1)

    def probs(self, theta: np.ndarray) -> np.ndarray:
        """``pi(a|s)``, shape ``(S, A)``; rows sum to one."""
        return np.exp(self.log_probs(theta))

    def score_pullback(self, theta: np.ndarray, weights: np.ndarray, *, pi: np.ndarray | None = None) -> np.ndarray:
        """``sum_{s,a} weights[..., s, a] grad log pi(a|s)``: ``(..., S, A) -> (..., d)``."""
        pi = self.probs(theta) if pi is None else pi
        w = np.asarray(weights, dtype=np.float64)
        centred = w - pi * w.sum(axis=-1, keepdims=True)
        return self.features.pullback(centred)

    def probs_vjp(self, theta: np.ndarray, cotangent: np.ndarray, *, pi: np.ndarray | None = None) -> np.ndarray:
        """``sum_{s,a} cotangent[s, a] grad pi(a|s)`` (``grad pi = pi grad log pi``), shape ``(d,)``."""
        pi = self.probs(theta) if pi is None else pi
        return self.score_pullback(theta, cotangent * pi, pi=pi)

    def score_table(self, theta: np.ndarray) -> np.ndarray:
        """All score vectors ``grad log pi(a|s)``, shape ``(S, A, d)`` (small problems only)."""
        phi = self.features.dense()
        pi = self.probs(theta)
        return phi - np.einsum("sa,sad->sd", pi, phi)[:, None, :]
