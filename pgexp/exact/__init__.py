"""Exact quantities of tabular problems: values, gradients and optima (:mod:`~pgexp.exact.values`; its large
sparse solves in :mod:`~pgexp.exact.krylov`), a
differentiable objective for autograd checks (:mod:`~pgexp.exact.autograd`), and the exact engine for
estimators: what its numbers refer to (:mod:`~pgexp.exact.model`), the covered combinations
(:mod:`~pgexp.exact.catalogue`, read off each estimator's :class:`~pgexp.estimators.exact_spec.ExactSpec`),
weight families and the (time, state) moment recursion
(:mod:`~pgexp.exact.families`, :mod:`~pgexp.exact.recursion`), brute-force enumeration
(:mod:`~pgexp.exact.enumeration`), roll-in/roll-out (:mod:`~pgexp.exact.rollout_moments`), batch quantities
(:mod:`~pgexp.exact.batch`), the entry point (:mod:`~pgexp.exact.moments`), the time-ordered variance
decomposition (:mod:`~pgexp.exact.decomposition`) and GAE's lambda trade-off (:mod:`~pgexp.exact.tradeoff`).

``from pgexp import exact; J, grad, ev = exact.gradient(mdp, policy, theta)``.  The names are imported from
:mod:`~pgexp.exact.values` on first use, so that the catalogue (metadata the workflow reads on every
``snakemake`` call) costs no numerical import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgexp.exact.values import (
        Evaluation,
        J,
        Optimum,
        evaluate,
        gradient,
        optimal,
        policy_transition,
        push_forward,
        solve,
        terminating_states,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pgexp.exact import values

        return getattr(values, name)
    raise AttributeError(f"module 'pgexp.exact' has no attribute {name!r}")


__all__ = [
    "Evaluation",
    "J",
    "Optimum",
    "evaluate",
    "gradient",
    "optimal",
    "policy_transition",
    "push_forward",
    "solve",
    "terminating_states",
]
