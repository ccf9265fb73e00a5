"""Exact quantities of tabular problems: values, gradients and optima (:mod:`~pgexp.exact.values`), a
differentiable objective for autograd checks (:mod:`~pgexp.exact.autograd`), the exact moments of
estimators (:mod:`~pgexp.exact.moments`) and their variance decomposition (:mod:`~pgexp.exact.decomposition`).

``from pgexp import exact; J, grad, ev = exact.gradient(mdp, policy, theta)``.
"""

from pgexp.exact.values import (
    Evaluation,
    J,
    Optimum,
    evaluate,
    gradient,
    objective_kind,
    optimal,
    policy_transition,
    push_forward,
    solve,
    terminating_states,
)

__all__ = ["J", "Evaluation", "Optimum", "evaluate", "gradient", "objective_kind", "optimal", "policy_transition",
           "push_forward", "solve", "terminating_states"]
