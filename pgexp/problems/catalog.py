"""The built-in problems, registered as metadata: each builder is named ``"module:function"`` and imported on
the first :func:`~pgexp.problems.registry.make_env` that needs it, so reading the registry (names, keys,
default discounts) costs no numerical import.  ``gamma`` here is the default each builder applies
(``tests/problems/test_envs.py`` checks they agree); ``file`` has none of its own: a file carries its ``gamma``.
"""

from __future__ import annotations

from pgexp.problems.registry import add_problem

_P = "pgexp.problems"

add_problem("bandit", f"{_P}.bandit:build", {"rewards": "1;0.7;0"},
            "multi-armed bandit, one pull per episode (deterministic rewards, ';'-separated); gamma 1, H=inf",
            gamma=1.0)
add_problem("chain", f"{_P}.chain:build", {"length": 6, "small": 0.005, "large": 1.0, "seed": None},
            "RiverSwim-style chain: small reward at the left end, large at the right; default gamma 0.95, H=inf",
            gamma=0.95)
add_problem("short_corridor", f"{_P}.corridor:build", {},
            "Sutton & Barto Example 13.1 (4 states, switched actions); gamma 1, H=inf, native features d=2",
            gamma=1.0)
add_problem("file", f"{_P}.files:build", {},
            "a user's MDP file: file:PATH (.npz, .yaml, .json with P, r, mu, optional phi, gamma, horizon)",
            takes_target=True)
add_problem("garnet", f"{_P}.garnet:build", {"states": 10, "actions": 3, "branching": 3, "seed": 0, "reward": "normal"},
            "random MDP (Dirichlet(1) transitions over `branching` next states, N(0,1) rewards); default gamma 0.9, "
            "H=inf", gamma=0.9)
add_problem("tokens", f"{_P}.tokens:build",
            {"vocab": 2, "length": 5, "prompts": None, "needs": None, "rule": "count", "partial": False},
            "a tiny language model answering prompts: a tree MDP over token prefixes, reward at the end "
            "(rule=count: needs_k copies of token a; rule=first: the first token); gamma 1, H=length", gamma=1.0)
add_problem("gym", f"{_P}.gym_toytext:build", {},
            "a Gymnasium toy-text env from its own table: gym:FrozenLake-v1:map_name=4x4,is_slippery=true; "
            "gamma 1, H=max_episode_steps", takes_target=True, gamma=1.0)
add_problem("lqr", f"{_P}.lqr:build_env", {"system": None, "file": None, "A": None, "B": None, "Q": None, "R": None,
                                             "W": None, "S0": None, "n": None, "m": None, "seed": None, "radius": None},
            "linear-quadratic: x' = A x + B u + w, r = -(x'Qx + u'Ru), Gaussian policy u = -Kx + sigma eps: "
            "lqr:A=0.9,B=0.5,Q=1,R=0.1,W=0.01,S0=1 | lqr:file=PATH.npz | lqr:system=double_integrator|dean2019|"
            "random,n=3,m=2,seed=0; default gamma 1, H=50", gamma=1.0)
