"""Gradient-estimation jobs: ``M`` independent batch estimates of ``grad J`` with one estimator.

Random streams (see :mod:`pgexp.rng`): replicate ``m`` draws its batch from
``SeedSequence(entropy, spawn_key=(m, MAIN))`` and any fitting batch (learned value, optimal
baseline, critic) from ``(m, AUX)``; ``entropy`` hashes the problem, theta, horizon, batch size and
seed -- not the estimator -- so all estimators of a job see the same trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from pgexp import exact
from pgexp.errors import UserError
from pgexp.estimators import Estimator, get_estimator
from pgexp.estimators.base import Context, WeightedScores, to_gradients
from pgexp.estimators.baselines import optimal_coefficients
from pgexp.problem import Problem
from pgexp.rng import AUX, MAIN, job_entropy, stream, trajectory_seeds
from pgexp.sampling import sample


def stream_identity(problem: Problem, batch_size: int, seed: int) -> dict:
    """What defines a job's trajectories (never the estimator): the key of its random stream."""
    ident = problem.identity()
    return {k: ident[k] for k in ("env", "features", "policy", "gamma", "horizon")} | {
        "batch_size": int(batch_size), "seed": int(seed)}


@dataclass(frozen=True)
class BatchEstimate:
    """One replicate: the gradient (``(d,)`` batch mean, or ``(N, d)`` per trajectory) and its cost."""

    grad: np.ndarray
    env_steps: int
    return_mean: float
    truncated: int


def _weighted_scores(ctx: Context, est: Estimator, baseline: str, lam: float, main: np.ndarray,
                     aux: np.ndarray | None) -> tuple[WeightedScores, int, int]:
    """Run the estimator on one batch; returns its scores, extra env steps and truncated count."""
    extra = 0
    truncated = 0
    if est.consumes == "trajectories":
        traj = sample(ctx.mdp, ctx.tables, main)
        truncated = int(traj.truncated.sum())
        aux_data = None
        if baseline in est.aux_for and aux is not None and baseline != "optimal":
            aux_data = sample(ctx.mdp, ctx.tables, aux)
            extra = aux_data.env_steps
        ws = est.fn(ctx, traj, baseline, aux if est.own_aux else aux_data, lam)
    else:
        ws = est.fn(ctx, main, baseline, aux, lam)
    return ws, extra, truncated


def estimate_batch(ctx: Context, est: Estimator, baseline: str, lam: float, batch_size: int, entropy: int,
                   replicate: int, *, per_trajectory: bool = False) -> BatchEstimate:
    """One batch estimate with the replicate's common random numbers."""
    main = trajectory_seeds(stream(entropy, replicate, MAIN), batch_size)
    needs_aux = est.own_aux or baseline in est.aux_for
    aux = trajectory_seeds(stream(entropy, replicate, AUX), batch_size) if needs_aux else None
    ws, extra, truncated = _weighted_scores(ctx, est, baseline, lam, main, aux)
    if baseline == "optimal":
        # Greensmith-Bartlett-Baxter: b_k = E[u_k v_k] / E[v_k^2], fitted on the independent batch
        ws_aux, extra_aux, _ = _weighted_scores(ctx, est, "optimal", lam, aux, None)  # type: ignore[arg-type]
        u = to_gradients(ctx, ws_aux, per_trajectory=True)
        v = to_gradients(ctx, WeightedScores(ws_aux.states, ws_aux.actions, ws_aux.c, ws_aux.lengths, 0, ws_aux.returns),
                         per_trajectory=True)
        ws.b = optimal_coefficients(u, v)
        extra += ws_aux.env_steps + extra_aux
    grad = to_gradients(ctx, ws, per_trajectory=per_trajectory)
    return BatchEstimate(grad, ws.env_steps + extra, float(ws.returns.mean()), truncated)


def check_combination(problem: Problem, estimator: str, baseline: str, batch_size: int) -> Estimator:
    est = get_estimator(estimator)
    est.check(baseline, exact.objective_kind(problem.mdp))
    if batch_size < 1:
        raise UserError(f"--batch-size: {batch_size}; allowed: a positive integer")
    if baseline == "constant" and batch_size < 2:
        raise UserError("baseline 'constant' is the leave-one-out mean of the other trajectories: needs --batch-size >= 2")
    return est


def run_estimate(problem: Problem, estimator: str, baseline: str = "none", *, lam: float = 0.95, batch_size: int,
                 replicates: int, seed: int, progress: bool | None = None) -> pa.Table:
    """``replicates`` batch estimates as a tidy table: one row per replicate (see ``pgexp estimate``)."""
    est = check_combination(problem, estimator, baseline, batch_size)
    if replicates < 1:
        raise UserError(f"--replicates: {replicates}; allowed: a positive integer")
    ctx = Context(problem)
    J, grad_exact, _ = exact.gradient(problem.mdp, problem.policy, problem.theta)
    J_star = exact.optimal(problem.mdp).J_star
    entropy = job_entropy(stream_identity(problem, batch_size, seed), problem.theta)
    grads, steps, rets, trunc = [], [], [], []
    bar = tqdm(range(replicates), desc=f"{estimator}~{baseline}", unit="rep", disable=None if progress is None else not progress,
               leave=False)
    for m in bar:
        b = estimate_batch(ctx, est, baseline, lam, batch_size, entropy, m)
        grads.append(b.grad)
        steps.append(b.env_steps)
        rets.append(b.return_mean)
        trunc.append(b.truncated)
    ident = problem.identity()
    n = replicates
    is_gae = est.name == "gae"
    cols = {
        **{k: [v] * n for k, v in ident.items()},
        "estimator": [estimator] * n,
        "baseline": [baseline] * n,
        "lam": pa.array([float(lam) if is_gae else None] * n, type=pa.float64()),  # null: not applicable
        "batch_size": [int(batch_size)] * n,
        "replicates": [int(replicates)] * n,
        "seed": [int(seed)] * n,
        "unbiased": [bool(est.unbiased(baseline, lam))] * n,
        "replicate": list(range(n)),
        "grad": pa.array([g.astype(np.float64) for g in grads], type=pa.list_(pa.float64())),
        "env_steps": steps,
        "batch_return_mean": rets,
        "truncated": trunc,
        "J_exact": [J] * n,
        "J_star": [J_star] * n,
        "grad_exact": pa.array([grad_exact] * n, type=pa.list_(pa.float64())),
    }
    return pa.table(cols)



# Per-replicate columns of an estimate file; every other column is a job parameter, constant in the file.
REPLICATE_COLUMNS = ("replicate", "grad", "env_steps", "batch_return_mean", "truncated", "grad_exact")
