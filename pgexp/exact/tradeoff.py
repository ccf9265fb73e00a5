"""GAE's lambda trade-off, exactly: bias², variance and MSE of the batch estimate against lambda.

For each value function ``V`` -- ``none`` (``V = 0``), ``perturbed`` (``V^pi`` plus a fixed random error)
and ``exact`` (``V^pi``) -- and each lambda of a grid, the exact moments of GAE's per-trajectory
estimate (:mod:`pgexp.exact.moments`, the moment recursion) give, for every batch size ``N``,
``bias_sq`` (independent of ``N``), ``trace_cov = tr Cov g / N`` and ``mse = bias_sq + trace_cov``.  The
best lambda for ``(V, N)`` minimises ``mse`` over the grid.  With ``V^pi`` GAE is unbiased for every
lambda, so its best lambda is the lowest-variance one; with an imperfect ``V`` a small lambda trades
bias (the critic's error, weighted by ``(gamma lambda)^l``) for variance, and as ``N`` grows the
variance term shrinks like ``1/N`` while the bias stays: the best lambda moves towards 1.

The perturbation: ``V_h(s) + scale * range(V^pi_0) * z_s`` with ``z ~ N(0, 1)`` per state, drawn once from
``SeedSequence(seed)`` and the same at every step (0 at ``h = H`` and in absorbing states, as every
value table here).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pgexp.errors import UserError
from pgexp.exact.model import ExactSetup, make_setup
from pgexp.exact.moments import trajectory_moments
from pgexp.problems.problem import Problem

DEFAULT_LAMS = tuple(np.round(np.linspace(0.0, 1.0, 21), 10))
VALUE_KINDS = ("none", "perturbed", "exact")


def perturbed_values(st: ExactSetup, scale: float, seed: int) -> np.ndarray:
    """``V^pi`` plus a fixed per-state error (module docstring), as a value table for ``value_table``:
    ``(H+1, S)`` for a finite horizon, ``(S,)`` for ``H = inf``."""
    V = st.value_steps
    live = ~st.absorbing
    span = float(np.ptp(V[0][live])) if live.any() else 0.0
    z = np.random.default_rng(np.random.SeedSequence(int(seed))).standard_normal(st.num_states)
    noise = np.where(live, scale * (span if span > 0 else 1.0) * z, 0.0)
    if st.kind == "finite":
        out = V + noise[None, :]
        out[-1] = 0.0
        return out
    return V[0] + noise


def lambda_tradeoff(problem: Problem, lams: Sequence[float] = DEFAULT_LAMS, batch_sizes: Sequence[int] = (1, 4, 16, 64),
                    *, estimator: str = "gae", perturbation: float = 0.5, seed: int = 0,
                    value: np.ndarray | None = None) -> list[dict]:
    """One dict per (value, lambda, batch size): ``estimator, value, lam, batch_size, bias_sq, trace_cov,
    var_per_traj, mse, rel_mse, snr, best`` (``best``: lambda minimises ``mse`` for this value and ``N``;
    ties: the smallest lambda), plus ``perturbation``.  ``value`` adds a user's table as ``value = "table"``."""
    if estimator not in ("gae", "gae_common"):
        raise UserError(f"--estimator: the lambda trade-off is for gae or gae_common, not {estimator!r}")
    lams = [float(x) for x in lams]
    if not lams or any(not 0.0 <= x <= 1.0 for x in lams):
        raise UserError(f"--lam: lambdas in [0, 1], got {lams}")
    if not np.isfinite(perturbation) or perturbation < 0:
        raise UserError(f"--perturbation: a non-negative number, got {perturbation}")
    st = make_setup(problem)
    tables: list[tuple[str, str, np.ndarray | None]] = [
        ("none", "none", None), ("perturbed", "value_table", perturbed_values(st, perturbation, seed)),
        ("exact", "value_exact", None)]
    if value is not None:
        tables.append(("table", "value_table", value))
    rows = []
    for kind, baseline, table in tables:
        block = []
        for lam in lams:
            mom = trajectory_moments(st, estimator, baseline, lam=lam, value=table, method="dp", full=False)
            for N in batch_sizes:
                block.append({"estimator": estimator, "value": kind, "lam": lam, "batch_size": int(N),
                              **mom.batch(int(N)),
                              "perturbation": float(perturbation) if kind == "perturbed" else float("nan")})
        for N in batch_sizes:
            cell = [r for r in block if r["batch_size"] == int(N)]
            best = min(range(len(cell)), key=lambda i: (cell[i]["mse"], cell[i]["lam"]))
            for i, r in enumerate(cell):
                r["best"] = i == best
        rows += block
    return rows
