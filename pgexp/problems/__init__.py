"""Problems: finite MDPs from spec strings, and the (MDP, policy, theta) problems every command takes.

``make_env("garnet:states=100,actions=4")`` builds a validated :class:`~pgexp.problems.mdp.FiniteMDP` from
the registry in :mod:`pgexp.problems.registry` (the built-ins: :mod:`pgexp.problems.catalog`).
``build_problem`` adds the policy and the parameter point.

Importing the package loads the registry only (no numpy: the workflow reads it on every ``snakemake``
call); the MDP and problem classes are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgexp.problems import catalog  # noqa: F401  (registers the built-in problems)
from pgexp.problems.registry import (
    REGISTRY,
    declared_gamma,
    make_env,
    parse_gamma,
    parse_horizon,
    register,
)

if TYPE_CHECKING:
    from pgexp.problems.mdp import FiniteMDP, make_mdp
    from pgexp.problems.problem import Problem, build_problem

_LAZY = {"FiniteMDP": "pgexp.problems.mdp", "make_mdp": "pgexp.problems.mdp", "Problem": "pgexp.problems.problem",
         "build_problem": "pgexp.problems.problem"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pgexp.problems' has no attribute {name!r}")


__all__ = ["REGISTRY", "FiniteMDP", "Problem", "build_problem", "declared_gamma", "make_env", "make_mdp",
           "parse_gamma", "parse_horizon", "register"]
