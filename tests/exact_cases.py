"""Random MDPs with absorbing states for the exact-engine tests (finite, discounted, acyclic, truncated)."""

from __future__ import annotations

import numpy as np

from pgexp.policies import SoftmaxLinearPolicy, TabularFeatures
from pgexp.policies.features import DenseFeatures
from pgexp.problems.mdp import make_mdp
from pgexp.problems.problem import Problem


def random_problem(seed: int, *, S: int = 4, A: int = 2, n_absorbing: int = 1, branching: int = 2,
                   gamma: float = 1.0, horizon: int | None = 4, acyclic: bool = False, d: int | None = None,
                   start_absorbed: float = 0.1, theta_scale: float = 0.8) -> Problem:
    """A random MDP whose last ``n_absorbing`` states are absorbing (zero reward, self-loops).

    Every other ``(s, a)`` moves to ``branching`` random states (``acyclic``: only to higher-numbered
    ones, so every path is absorbed within ``S`` steps), rewards are standard normal, and ``mu`` puts
    ``start_absorbed`` on an absorbing state (empty episodes).  Tabular softmax features, or ``d`` random
    dense ones; ``theta`` random.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, S, A]))
    P = np.zeros((S, A, S))
    r = rng.standard_normal((S, A))
    live = S - n_absorbing
    for s in range(S):
        for a in range(A):
            if s >= live:
                P[s, a, s], r[s, a] = 1.0, 0.0
                continue
            cand = np.arange(s + 1, S) if acyclic else np.arange(S)
            k = min(branching, cand.size)
            P[s, a, rng.choice(cand, size=k, replace=False)] = rng.dirichlet(np.ones(k))
    mu = np.zeros(S)
    mu[:live] = rng.dirichlet(np.ones(live)) * (1 - start_absorbed)
    mu[live] += start_absorbed
    mdp = make_mdp(P, r, mu, gamma=gamma, horizon=horizon, name=f"random{seed}")
    feats = TabularFeatures(S, A) if d is None else DenseFeatures(rng.standard_normal((S, A, d)))
    policy = SoftmaxLinearPolicy(feats)
    return Problem(mdp, policy, theta_scale * rng.standard_normal(policy.dim), f"random{seed}", "x", "linear", "x")


# (id, kwargs, truncation): finite gamma = 1 and gamma < 1 (tabular and dense features), discounted H = inf on
# an acyclic MDP (every path absorbed: no truncation at all) and on a cyclic one cut at T = 4 (the sampler's
# bootstrap-at-the-cut semantics, enumerable because T is small).
CASES = [
    ("finite-undiscounted", dict(seed=0, gamma=1.0, horizon=4), None),
    ("finite-discounted-dense", dict(seed=1, gamma=0.9, horizon=4, d=3), None),
    ("discounted-acyclic", dict(seed=2, gamma=0.8, horizon=None, acyclic=True, S=6, d=3), None),
    ("discounted-truncated", dict(seed=3, gamma=0.7, horizon=None, d=3), 4),
]
