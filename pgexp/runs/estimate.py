"""Gradient-estimation jobs: ``M`` independent batch estimates of ``grad J`` with one estimator.

Random streams (see :mod:`pgexp.sampling.rng`): replicate ``m`` draws its batch from
``SeedSequence(entropy, spawn_key=(m, MAIN))`` and any fitting batch (learned value, optimal
baseline, critic) from ``(m, AUX)``; ``entropy`` hashes the problem, theta, horizon, batch size and
seed -- not the estimator -- so all estimators of a job see the same trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa

from pgexp import exact
from pgexp.errors import UserError
from pgexp.estimators import Estimator, get_estimator
from pgexp.estimators.base import Context, WeightedScores, to_gradients
from pgexp.estimators.baselines import optimal_coefficients
from pgexp.problems.problem import Problem
from pgexp.progress import bar as progress_bar
from pgexp.progress import ticker
from pgexp.sampling.rng import AUX, MAIN, job_entropy, stream, trajectory_seeds
from pgexp.sampling.tabular import sample


def stream_identity(problem: Problem, batch_size: int, seed: int, purpose: str = "estimate") -> dict:
    """What defines a job's trajectories (never the estimator): the key of its random stream.

    ``purpose`` names an independent stream of the same cell (e.g. ``"bias_check"``, the rerun that
    confirms a bias flag); it enters the key only when it is not ``"estimate"``, so the study's own
    streams are unchanged.
    """
    ident = problem.identity()
    out = {k: ident[k] for k in ("env", "features", "policy", "gamma", "horizon")} | {
        "batch_size": int(batch_size), "seed": int(seed)}
    return out if purpose == "estimate" else out | {"purpose": str(purpose)}


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
                 replicates: int, seed: int, progress: bool | None = None, tags: dict[str, str] | None = None,
                 tick: Callable[[int], None] | None = None, purpose: str = "estimate") -> pa.Table:
    """``replicates`` batch estimates as a tidy table: one row per replicate (see ``pgexp estimate``).

    ``tags`` are extra constant string columns (e.g. the study's ``env_name``/``theta_name``).  Progress:
    ``tick(1)`` per replicate when given (the caller's bar), else a bar of its own unless ``progress=False``.
    ``purpose`` selects an independent random stream (see :func:`stream_identity`).
    """
    est = check_combination(problem, estimator, baseline, batch_size)
    if replicates < 1:
        raise UserError(f"--replicates: {replicates}; allowed: a positive integer")
    ctx = Context(problem)
    J, grad_exact, _ = exact.gradient(problem.mdp, problem.policy, problem.theta)
    J_star = exact.optimal(problem.mdp).J_star
    entropy = job_entropy(stream_identity(problem, batch_size, seed, purpose), problem.theta)
    grads, steps, rets, trunc = [], [], [], []
    own = progress_bar(total=replicates, desc=f"{estimator}~{baseline}", unit="replicate") \
        if tick is None and progress is not False else None
    tick = tick or ticker(own)
    for m in range(replicates):
        b = estimate_batch(ctx, est, baseline, lam, batch_size, entropy, m)
        grads.append(b.grad)
        steps.append(b.env_steps)
        rets.append(b.return_mean)
        trunc.append(b.truncated)
        tick(1)
    if own is not None:
        own.close()
    ident = problem.identity()
    n = replicates
    is_gae = est.name == "gae"

    def const(value, dtype=None) -> pa.Array:  # numpy in, so pyarrow never needs to import pandas
        return pa.array(np.full(n, value, dtype=dtype))

    def lists(rows: np.ndarray) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(np.arange(0, rows.size + 1, rows.shape[1], dtype=np.int32)),
                                        pa.array(rows.ravel()))

    d = problem.policy.dim
    cols = {
        **{k: const(v, object if isinstance(v, str) else None) for k, v in ident.items()},
        "estimator": const(estimator, object),
        "baseline": const(baseline, object),
        "lam": pa.array(np.full(n, float(lam) if is_gae else np.nan), mask=np.full(n, not is_gae)),  # null: n/a
        "batch_size": const(int(batch_size), np.int64),
        "replicates": const(int(replicates), np.int64),
        "seed": const(int(seed), np.int64),
        "unbiased": const(bool(est.unbiased(baseline, lam)), np.bool_),
        **{k: const(v, object) for k, v in (tags or {}).items()},
        "replicate": pa.array(np.arange(n, dtype=np.int64)),
        "grad": lists(np.asarray(grads, dtype=np.float64).reshape(n, d)),
        "env_steps": pa.array(np.asarray(steps, dtype=np.int64)),
        "batch_return_mean": pa.array(np.asarray(rets, dtype=np.float64)),
        "truncated": pa.array(np.asarray(trunc, dtype=np.int64)),
        "J_exact": const(float(J), np.float64),
        "J_star": const(float(J_star), np.float64),
        "grad_exact": lists(np.tile(np.asarray(grad_exact, dtype=np.float64), (n, 1))),
    }
    return pa.table(cols)



# Per-replicate columns of an estimate file; every other column is a parameter of the cell (one
# (horizon, batch size) point of the job), constant within the cell.
REPLICATE_COLUMNS = ("replicate", "grad", "env_steps", "batch_return_mean", "truncated", "grad_exact")
CELL_COLUMNS = ("horizon", "batch_size")


def cell_replicates(replicates: int, batch_size: int, min_trajectories: int = 0) -> int:
    """Replicates of a cell: ``max(replicates, ceil(min_trajectories / batch_size))``.

    A per-trajectory variance is estimated from ``replicates x batch_size`` trajectories; when the
    variance comes from rare trajectories (a far reward), its interval holds its level only with
    enough of them in the cell, so small batches get more replicates (see :mod:`pgexp.analysis.metrics`).
    """
    return max(int(replicates), -(-int(min_trajectories) // int(batch_size)))


def run_estimate_grid(build: Callable[[int | str | None], Problem], horizons: Sequence[int | str | None],
                      batch_sizes: Sequence[int], estimator: str, baseline: str = "none", *, lam: float = 0.95,
                      replicates: int, seed: int, tags: dict[str, str] | None = None,
                      progress: bool | None = None, min_trajectories: int = 0) -> pa.Table:
    """One job over a grid of cells (every horizon x every batch size), concatenated.

    Each cell is an independent :func:`run_estimate` with its own random stream (problem, theta,
    horizon, batch size, seed); grouping cells in one process only saves start-up time.  Every
    combination is checked before any cell runs.  A cell of batch size ``N`` draws
    :func:`cell_replicates` ``(replicates, N, min_trajectories)`` replicates: at least
    ``min_trajectories`` trajectories in all (the first ``replicates`` are the same either way).
    """
    problems = [build(h) for h in horizons]
    for prob in problems:
        for n in batch_sizes:
            check_combination(prob, estimator, baseline, n)
    cells = [(prob, n) for prob in problems for n in batch_sizes]
    counts = [cell_replicates(replicates, n, min_trajectories) for _, n in cells]
    # one bar over every replicate of every cell: it moves from the first replicate on
    with progress_bar(total=sum(counts), desc=f"{estimator}~{baseline}", unit="replicate",
                      enabled=None if progress is None else bool(progress)) as bar:
        tables = [run_estimate(prob, estimator, baseline, lam=lam, batch_size=n, replicates=m, seed=seed,
                               tags=tags, tick=bar.update) for (prob, n), m in zip(cells, counts)]
    return pa.concat_tables(tables)
