"""Problems: finite MDPs from spec strings, and the (MDP, policy, theta) problems every command takes.

``make_env("garnet:states=100,actions=4")`` builds a validated :class:`~pgexp.problems.mdp.FiniteMDP` from
the registry in :mod:`pgexp.problems.registry`; each builder module registers itself on import.
``build_problem`` adds the policy and the parameter point.
"""

from pgexp.problems import bandit, chain, corridor, files, garnet, gym_toytext  # noqa: F401  (builders register on import)
from pgexp.problems.mdp import FiniteMDP, make_mdp
from pgexp.problems.problem import Problem, build_problem
from pgexp.problems.registry import (
           REGISTRY,
           make_env,
           parse_gamma,
           parse_horizon,
           register,
)

__all__ = ["REGISTRY", "FiniteMDP", "Problem", "build_problem", "make_env", "make_mdp", "parse_gamma",
           "parse_horizon", "register"]
