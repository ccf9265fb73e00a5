"""A training grid's table (:mod:`pgexp.runs.train`): every run's rows, and where each run ended -- the greedy
policy of its last ``theta``, how deterministic that policy is on the states it visits, its exact value and
whether it is optimal."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from pgexp.runs.context import make_context
from pgexp.runs.train_options import CONVERGED_MIN_OCCUPANCY, Run, TrainOptions


def final_policy(problem: Any, theta: np.ndarray, J_star: float, dense=None, cache: dict | None = None) -> dict:
    """Which deterministic policy a run's last ``theta`` is closest to, and whether it is optimal.

    ``final_policy``: the greedy action of every non-absorbing state (comma-separated; for a bandit the
    arm); ``final_policy_prob``: the smallest ``max_a pi(a|s)`` over the states that hold at least
    :data:`CONVERGED_MIN_OCCUPANCY` of the final policy's visits (1 = deterministic where it matters);
    ``final_policy_J``: the greedy policy's exact value (``-inf`` if it never terminates);
    ``final_policy_optimal``: whether that value is ``J*`` (to 1e-9 relative).  ``dense`` (a
    :class:`~pgexp.runs.tabular_exact.DenseMDP`) and ``cache`` (greedy policy -> value) make many runs cheap.
    """
    from pgexp.runs.tabular_exact import dense_mdp, values, visits

    mdp = problem.mdp
    dm = dense if dense is not None else dense_mdp(mdp)
    cache = {} if cache is None else cache
    pi = problem.policy.probs(theta)
    greedy = pi.argmax(axis=1)
    live = ~dm.absorbing
    V = np.zeros((dm.horizon + 1 if dm.horizon > 0 else 1, mdp.num_states))
    occ = np.zeros(mdp.num_states)
    with np.errstate(all="ignore"):
        _, ok = values(dm, pi, V)
        ok = ok and visits(dm, pi, occ)
    where = (occ >= CONVERGED_MIN_OCCUPANCY * occ.sum()) & live if ok else live & (mdp.mu > 0)
    prob = float(pi.max(axis=1)[where].min()) if where.any() else float("nan")
    key = tuple(int(a) for a in greedy)
    if key not in cache:
        det = np.zeros_like(pi)
        det[np.arange(pi.shape[0]), greedy] = 1.0
        with np.errstate(all="ignore"):
            J, ok = values(dm, det, V)
        cache[key] = float(J) if ok else float("-inf")
    J_greedy = cache[key]
    optimal = bool(np.isfinite(J_greedy) and J_greedy >= J_star - 1e-9 * (1.0 + abs(J_star)))
    return {"final_policy": ",".join(str(int(a)) for a in greedy[live]), "final_policy_prob": prob,
            "final_policy_J": J_greedy, "final_policy_optimal": optimal}


def keep_rows(n: int, every: int) -> np.ndarray:
    """Indices of the kept rows of a run with ``n`` rows: ``0, k, 2k, ...`` and the last."""
    idx = np.arange(0, n, every)
    return idx if idx[-1] == n - 1 else np.append(idx, n - 1)


def grid_table(problem: Any, runs: list[Run], grid: list[tuple[float, int]], params: dict,
               opts: TrainOptions, engine: str) -> pa.Table:
    """One table for the grid: one row per kept iteration of each run, the job's parameters as columns,
    ``J_star``, ``J_0``, ``run_diverged``, ``diverged_reason``, the final-policy columns
    (:func:`final_policy`) and, for traced seeds, ``trace_pi`` (``pi`` flattened, ``S*A``)."""
    from pgexp.runs.tabular_exact import dense_mdp, fits_dense

    J_star = make_context(problem).best_return()
    ident = problem.identity()
    tabular = getattr(problem, "track", "tabular") == "tabular"
    dense = dense_mdp(problem.mdp) if tabular and fits_dense(problem.mdp) else None
    cache: dict[tuple[int, ...], float] = {}
    chunks: dict[str, list] = {}
    lengths = []
    for (eta, seed), run in zip(grid, runs):
        keep = keep_rows(len(run.rows["iteration"]), opts.record_every)
        n = keep.size
        lengths.append(n)
        cols = {k: np.asarray(v)[keep] for k, v in run.rows.items()}
        theta = run.theta if run.theta is not None else problem.theta
        fin = final_policy(problem, theta, J_star, dense, cache) if dense is not None else {}
        cols |= {"step_size": np.full(n, eta), "seed": np.full(n, seed, np.int64), "J_0": np.full(n, run.rows["J"][0]),
                 "run_diverged": np.full(n, run.diverged), "diverged_reason": np.full(n, run.reason, object),
                 **{k: np.full(n, v, object if isinstance(v, str) else None) for k, v in fin.items()}}
        for k, v in cols.items():
            chunks.setdefault(k, []).append(v)
    total = int(sum(lengths))
    table: dict[str, pa.Array] = {}
    shape = {"num_states": problem.mdp.num_states, "num_actions": problem.mdp.num_actions} if tabular else {}
    for k, v in {**ident, **shape, **params, "engine": engine}.items():
        table[k] = pa.array(np.full(total, v, dtype=object if isinstance(v, str) else None))
    for k, parts in chunks.items():
        table[k] = pa.array(np.concatenate(parts))
    table["J_star"] = pa.array(np.full(total, J_star))
    traced = [(run, keep_rows(len(run.rows["iteration"]), opts.record_every)) for run in runs]
    if any(run.trace is not None for run in runs):
        flat, offsets, mask = [], [0], []
        for run, keep in traced:
            for j in keep:
                row = run.trace[j] if run.trace is not None else np.zeros(0)
                flat.append(row)
                offsets.append(offsets[-1] + row.size)
                mask.append(run.trace is None)
        values = pa.array(np.concatenate(flat) if flat else np.zeros(0))
        table["trace_pi"] = pa.ListArray.from_arrays(pa.array(np.asarray(offsets, np.int32)), values,
                                                   mask=pa.array(np.asarray(mask)))
    return pa.table(table)


def run_table(problem: Any, run: Run, params: dict) -> pa.Table:
    """One run as a table (the one-run API): :func:`grid_table` of a grid of one, ``params`` as columns."""
    eta, seed = float(params.get("step_size", np.nan)), int(params.get("seed", 0))
    rest = {k: v for k, v in params.items() if k not in ("step_size", "seed")}
    return grid_table(problem, [run], [(eta, seed)], rest, TrainOptions(estimator=str(params.get("estimator", ""))),
                      "general")
