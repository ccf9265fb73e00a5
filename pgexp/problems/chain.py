"""A RiverSwim-style chain (Strehl & Littman 2008; the variant of Osband et al. 2013).

``length`` states in a row, start at the left end.  *Left* (action 0) moves left surely and pays a
small reward ``small`` at the left end.  *Right* (action 1) fights the current: it moves right with
probability 0.35, stays with 0.6 and slips left with 0.05 (0.6 right / 0.4 stay at the left end,
0.6 stay / 0.4 left at the right end) and pays ``large`` at the right end.  A near-sighted policy
collects the small reward; only long horizons reveal the large one.  With ``seed`` given, each
state's *right* probabilities are redrawn from a Dirichlet centred on these values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.memory import require_memory
from pgexp.problems.mdp import FiniteMDP, make_mdp
from pgexp.problems.registry import apply_common
from pgexp.specs import Spec

LEFT, RIGHT = 0, 1


def chain_arrays(length: int, small: float, large: float, seed: int | None) -> tuple[np.ndarray, ...]:
    """``(P, r, mu)`` with dense ``P`` of shape ``(length, 2, length)``."""
    n = length
    P = np.zeros((n, 2, n))
    r = np.zeros((n, 2))
    rng = None if seed is None else np.random.default_rng(np.random.SeedSequence([seed, n]))
    for s in range(n):
        P[s, LEFT, max(s - 1, 0)] = 1.0
        if s == 0:
            probs = {0: 0.4, 1: 0.6}
        elif s == n - 1:
            probs = {s - 1: 0.4, s: 0.6}
        else:
            probs = {s - 1: 0.05, s: 0.6, s + 1: 0.35}
        if rng is not None:
            drawn = rng.dirichlet(50.0 * np.array(list(probs.values())))
            probs = dict(zip(probs, drawn))
        for s2, p in probs.items():
            P[s, RIGHT, s2] += p
    r[0, LEFT] = small
    r[n - 1, RIGHT] = large
    mu = np.zeros(n)
    mu[0] = 1.0
    return P, r, mu


def build(o: dict[str, Any], spec: Spec) -> FiniteMDP:
    if isinstance(o["length"], bool) or not isinstance(o["length"], int) or o["length"] < 2:
        raise UserError(f"--env chain: length={o['length']!r}; allowed: an integer >= 2")
    if o["seed"] is not None and (isinstance(o["seed"], bool) or not isinstance(o["seed"], int) or o["seed"] < 0):
        raise UserError(f"--env chain: seed={o['seed']!r}; allowed: a non-negative integer")
    for key in ("small", "large"):
        if isinstance(o[key], bool) or not isinstance(o[key], (int, float)) or not math.isfinite(o[key]):
            raise UserError(f"--env chain: {key}={o[key]!r}; allowed: a finite number")
    require_memory(32.0 * o["length"] ** 2, f"--env chain:length={o['length']} (dense transitions)")
    P, r, mu = chain_arrays(o["length"], float(o["small"]), float(o["large"]), o["seed"])
    mdp = make_mdp(P, r, mu, name=spec.canonical())
    return apply_common(mdp, o, gamma=0.95, horizon=None)
