"""A differentiable ``J(pi)`` in torch, for autograd cross-checks and (later) neural policies.

Same three objectives as :mod:`pgexp.exact.values`, on dense tensors (small problems): backward recursion
for finite H, a dense linear solve otherwise (restricted to the transient states for the episodic
case, given as a boolean mask so the graph stays differentiable in ``pi``).
"""

from __future__ import annotations

import numpy as np
import torch

from pgexp.exact.values import policy_transition, terminating_states
from pgexp.problems.mdp import FiniteMDP, objective_kind


def objective(mdp: FiniteMDP, pi: torch.Tensor) -> torch.Tensor:
    """``J`` as a differentiable function of the policy table ``pi`` ``(S, A)`` (float64 tensor)."""
    P = torch.as_tensor(mdp.dense_P, dtype=pi.dtype)
    r = torch.as_tensor(mdp.r, dtype=pi.dtype)
    mu = torch.as_tensor(mdp.mu, dtype=pi.dtype)
    gamma = mdp.gamma
    kind = objective_kind(mdp)
    if kind == "finite":
        V = torch.zeros(mdp.num_states, dtype=pi.dtype)
        for _ in range(int(mdp.horizon)):  # type: ignore[arg-type]
            V = (pi * (r + gamma * P @ V)).sum(-1)
        return mu @ V
    P_pi = torch.einsum("sa,sat->st", pi, P)
    r_pi = (pi * r).sum(-1)
    if kind == "discounted":
        V = torch.linalg.solve(torch.eye(mdp.num_states, dtype=pi.dtype) - gamma * P_pi, r_pi)
        return mu @ V
    good, absorbing = terminating_states(mdp, policy_transition(mdp, pi.detach().numpy()))
    idx = torch.as_tensor(np.flatnonzero(good & ~absorbing))
    M = torch.eye(idx.numel(), dtype=pi.dtype) - P_pi[idx][:, idx]
    return mu[idx] @ torch.linalg.solve(M, r_pi[idx])


def softmax_linear_probs(theta: torch.Tensor, phi: np.ndarray) -> torch.Tensor:
    """``pi(a|s) = softmax_a(theta . phi(s, a))`` in torch, ``(S, A)``."""
    return torch.softmax(torch.as_tensor(phi, dtype=theta.dtype) @ theta, dim=-1)
