"""Garnet: a random MDP with a fixed number of next states per state-action pair.

Each ``(s, a)`` moves to ``branching`` distinct next states drawn uniformly, with Dirichlet(1)
weights; rewards are N(0, 1) per ``(s, a)``; the initial distribution is uniform.  Everything is
vectorised so that S = 10^5 builds in well under a second; ``P`` is sparse.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from pgexp.errors import UserError
from pgexp.memory import require_memory
from pgexp.problems.mdp import FiniteMDP, make_mdp
from pgexp.problems.registry import apply_common
from pgexp.specs import Spec


def distinct_columns(rng: np.random.Generator, rows: int, k: int, n: int) -> np.ndarray:
    """``(rows, k)`` integers in ``[0, n)``, distinct within each row (redraws rows with repeats)."""
    idx = rng.integers(0, n, size=(rows, k))
    while True:
        srt = np.sort(idx, axis=1)
        dup = np.any(srt[:, 1:] == srt[:, :-1], axis=1) if k > 1 else np.zeros(rows, bool)
        if not dup.any():
            return idx
        idx[dup] = rng.integers(0, n, size=(int(dup.sum()), k))


def garnet(states: int, actions: int, branching: int, seed: int, *, reward: str = "normal") -> tuple:
    """Arrays ``(P_csr, r, mu)`` of a garnet MDP; deterministic in ``seed``."""
    if branching > states:
        raise UserError(f"--env garnet: branching={branching} exceeds states={states}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, states, actions, branching]))
    n = states * actions
    cols = distinct_columns(rng, n, branching, states)
    weights = rng.dirichlet(np.ones(branching), size=n)
    if reward == "normal":
        r = rng.standard_normal((states, actions))
    elif reward == "uniform":
        r = rng.random((states, actions))
    else:
        raise UserError(f"--env garnet: reward={reward!r}; allowed: normal, uniform")
    # int32 indices (when they fit): a third less memory for P than int64, and faster products
    index = np.int32 if n * branching < np.iinfo(np.int32).max else np.int64
    indptr = np.arange(0, n * branching + 1, branching, dtype=index)
    P = sp.csr_array((weights.ravel(), cols.astype(index).ravel(), indptr), shape=(n, states))
    mu = np.full(states, 1.0 / states)
    return P, r, mu


def build(o: dict[str, Any], spec: Spec) -> FiniteMDP:
    for key in ("states", "actions", "branching", "seed"):
        if isinstance(o[key], bool) or not isinstance(o[key], int) or o[key] < (0 if key == "seed" else 1):
            allowed = "a non-negative integer" if key == "seed" else "a positive integer"
            raise UserError(f"--env garnet: {key}={o[key]!r}; allowed: {allowed}")
    # ~40 bytes per transition: column indices and their sorted copy, weights, the CSR arrays
    require_memory(40.0 * o["states"] * o["actions"] * o["branching"],
                   f"--env garnet:states={o['states']},actions={o['actions']},branching={o['branching']}")
    P, r, mu = garnet(o["states"], o["actions"], o["branching"], o["seed"], reward=o["reward"])
    mdp = make_mdp(P, r, mu, name=spec.canonical())
    return apply_common(mdp, o, gamma=0.9, horizon=None)
