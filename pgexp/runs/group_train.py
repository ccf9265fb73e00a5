r"""Training with a group estimator while tracking the exact response statistics: ``pgexp group-train``.

The question of Liu et al. (2025) is how the *lengths* of correct and incorrect responses move during training.
pgexp knows them exactly: at every recorded iteration, the exact ``J``, ``P(correct)``, the mean length of all,
correct and incorrect responses (:meth:`pgexp.exact.responses.Responses.length_stats`), from the enumerated
responses at the current ``theta`` -- no sampling noise in what is measured, only in the path taken.

Two kinds of run, from the same ``theta_0``:

* **sampled** (one per seed): ``theta <- theta + update(ĝ_t)`` with ``ĝ_t`` the estimator on iteration ``t``'s
  batch of ``N = P G`` responses (``P`` prompts, ``G`` responses each), drawn exactly as ``pgexp train``'s
  general engine draws it -- the replicate stream ``t`` of the run's identity (problem, ``theta_0``, horizon,
  batch size, group size, seed; :func:`pgexp.runs.estimate.estimate_batch`), so every estimator's run of a
  seed starts from the same first batch (common random numbers);
* **mean_field** (one, ``seed = -1``): the same update applied to the estimator's *exact* mean ``E ĝ``
  (:mod:`pgexp.exact.groups`): the path the sampled runs scatter around, where a systematic drift -- a bias --
  shows without noise.

``update`` is plain ascent (``sga``: ``eta g``) or Adam (``adam``, as the paper's runs; Adam's update does not
change when ``g`` is multiplied by a positive constant, up to its ``epsilon``, so a bias that only rescales
``grad J`` -- Dr. GRPO's ``(G - 1)/(G L_max)`` -- does not matter to it, while a change of direction does).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from pgexp import columns as C
from pgexp.errors import UserError
from pgexp.exact.responses import ResponseTree, enumerate_responses
from pgexp.runs.context import make_context
from pgexp.runs.estimate import check_combination, estimate_batch, stream_identity
from pgexp.runs.train_general import Adam
from pgexp.sampling.groups import with_group_size
from pgexp.sampling.rng import job_entropy

OPTIMIZERS = ("sga", "adam")
STATS = ("J", "p_correct", "length_mean", "length_correct", "length_wrong")
MEAN_FIELD_SEED = -1


def exact_stats(tree: ResponseTree, problem: Any, theta: np.ndarray) -> dict[str, float]:
    """The exact response statistics at ``theta`` (:data:`STATS`)."""
    resp = tree.at(problem, theta)
    st = resp.length_stats()
    return {"J": resp.J()[0], **{k: float(st[k]) for k in STATS[1:]}}


def run_one(problem: Any, tree: ResponseTree, estimator: str, params: Mapping[str, float], batch_size: int,
            step_size: float, iterations: int, optimizer: str, record_every: int, seed: int | None,
            tick: Callable[[int], Any] | None = None) -> dict[str, list]:
    """One run's recorded rows (``seed = None``: the mean-field run)."""
    from pgexp.estimators import get_estimator
    from pgexp.exact.groups import group_moments

    est = get_estimator(estimator)
    ctx0 = make_context(problem)
    entropy = job_entropy(stream_identity(problem, batch_size, seed), problem.theta) if seed is not None else 0
    P = batch_size // problem.group_size
    adam = Adam() if optimizer == "adam" else None
    theta = problem.theta.copy()
    rows: dict[str, list] = {k: [] for k in ("iteration", *STATS, "env_steps", "grad_norm", "diverged")}
    steps = 0
    for t in range(iterations + 1):
        g, diverged = None, False
        if t < iterations:
            with np.errstate(all="ignore"):
                if seed is None:
                    at = dataclasses.replace(problem, theta=theta)
                    g = group_moments(at, estimator, group_size=problem.group_size, params=params,
                                      resp=tree.at(at)).mean_only(P)
                else:
                    b = estimate_batch(ctx0.at(theta), est, "none", params, batch_size, entropy, t)
                    g, steps = b.grad, steps + b.env_steps
            diverged = not np.all(np.isfinite(g))
        if t % record_every == 0 or t == iterations or diverged:
            with np.errstate(all="ignore"):
                stats = exact_stats(tree, problem, theta)
            rows["iteration"].append(t)
            for k in STATS:
                rows[k].append(stats[k])
            rows["env_steps"].append(steps)
            rows["grad_norm"].append(float(np.linalg.norm(g)) if g is not None else float("nan"))
            rows["diverged"].append(diverged)
        if tick is not None:
            tick(1)
        if diverged or g is None:
            break
        theta = theta + (adam.step(g, step_size) if adam is not None else step_size * g)
    return rows


def group_train(problem: Any, estimator: str, *, params: Mapping[str, float] | None = None, group_size: int,
                batch_size: int, step_size: float, iterations: int, seeds: Sequence[int], optimizer: str = "adam",
                record_every: int = 1, mean_field: bool = True,
                tick: Callable[[int], Any] | None = None) -> pa.Table:
    """The sampled runs (one per seed) and the mean-field run of one estimator, as one table: the job's parameters,
    ``run`` (``sampled`` / ``mean_field``), ``seed`` (-1 for the mean field), ``iteration`` and the exact
    :data:`STATS`, ``env_steps`` (cumulative), ``grad_norm``, ``diverged``."""
    from pgexp.estimators import get_estimator

    if optimizer not in OPTIMIZERS:
        raise UserError(f"--optimizer: {optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
    if not (np.isfinite(step_size) and step_size > 0):
        raise UserError(f"--step-size: {step_size!r}; allowed: a positive number")
    if isinstance(iterations, bool) or iterations < 0:
        raise UserError(f"--iterations: {iterations}; allowed: a non-negative integer")
    est = get_estimator(estimator)
    if est.min_group_size is None and estimator != "reinforce":
        raise UserError(f"--estimator {estimator}: pgexp group-train trains the group estimators (and reinforce); "
                        "use pgexp train for the others")
    problem = with_group_size(problem, group_size)
    check_combination(problem, estimator, "none", batch_size)
    p = est.params(params)
    tree = enumerate_responses(problem.mdp)
    runs = [(s, "sampled") for s in seeds] + ([(None, "mean_field")] if mean_field else [])
    parts = []
    for seed, kind in runs:
        rows = run_one(problem, tree, estimator, p, batch_size, step_size, iterations, optimizer, record_every, seed,
                       tick)
        n = len(rows["iteration"])
        cols = {**{k: C.full(v, n) for k, v in problem.identity().items()},
                "estimator": C.full(estimator, n), "baseline": C.full("none", n),
                **{k: C.full(float(v), n, "float") for k, v in p.items()},
                "group_size": C.full(int(group_size), n), "batch_size": C.full(int(batch_size), n),
                "prompts": C.full(int(batch_size) // int(group_size), n), "optimizer": C.full(optimizer, n),
                "step_size": C.full(float(step_size), n, "float"), "iterations": C.full(int(iterations), n),
                "run": C.full(kind, n), "seed": C.full(MEAN_FIELD_SEED if seed is None else int(seed), n),
                "iteration": C.array(np.asarray(rows["iteration"], dtype=np.int64)),
                **{k: C.array(np.asarray(rows[k], dtype=np.float64)) for k in (*STATS, "grad_norm")},
                "env_steps": C.array(np.asarray(rows["env_steps"], dtype=np.int64)),
                "diverged": C.array(np.asarray(rows["diverged"], dtype=bool))}
        parts.append(pa.table(cols))
    return pa.concat_tables(parts)
