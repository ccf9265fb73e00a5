"""Policy-gradient training on continuous-state environments, with evaluation returns per iteration.

``theta <- theta + eta g`` (``sga``) or Adam ascent (``adam``, :class:`pgexp.training.Adam`) with one of
the :mod:`pgexp.deep.estimators`.  Every iteration ``t = 0..iterations`` records the *evaluation return*
of ``theta_t`` -- the mean undiscounted return of ``eval_episodes`` fresh episodes of the stochastic
policy, drawn from a separate evaluation stream -- then (for ``t < iterations``) the batch gradient and
the step.  Streams: iteration ``t`` draws its batch from ``stream(entropy, t, MAIN)`` (and the value fit
from ``(t, AUX)``) and its evaluation from ``stream(eval_entropy, t, MAIN)``; both hash the run's
environment, policy, theta_0, gamma, cap, batch size and seed, not the estimator, so the same seed gives
the same run bit for bit, and runs of different estimators share the evaluation episodes' seeds.

A non-finite gradient, parameter or evaluation return stops the run: the rows so far are kept, the last
row is marked ``diverged``.  Columns match ``pgexp train`` (``J`` is the evaluation return, ``J_star`` the
best possible undiscounted return where known -- the cap for CartPole -- else NaN) so the learning-curve
code reads both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from pgexp.deep.estimate import (
    DeepProblem,
    batch_estimate,
    build_deep_problem,
    set_threads,
)
from pgexp.deep.estimators import get_deep_estimator
from pgexp.errors import UserError
from pgexp.runs.train import Adam, check_ascent
from pgexp.sampling.rng import AUX, MAIN, job_entropy, stream

ROWS = ("iteration", "eval_return", "eval_return_se", "J", "env_steps", "grad_norm", "step_norm", "batch_return_mean",
        "diverged")


@dataclass
class DeepRun:
    rows: dict[str, list] = field(default_factory=lambda: {k: [] for k in ROWS})
    checkpoints: dict[int, np.ndarray] = field(default_factory=dict)
    theta: np.ndarray | None = None
    diverged: bool = False


def best_return(prob: DeepProblem) -> float:
    """The largest possible undiscounted return where it is known (CartPole: one per step up to the cap)."""
    if prob.task.env_id.startswith("CartPole"):
        return float(prob.horizon)
    return float("nan")


def run_identity(prob: DeepProblem, batch_size: int, seed: int, role: str) -> dict:
    ident = prob.identity()
    return {k: ident[k] for k in ("env", "policy", "theta", "gamma", "horizon")} | {
        "batch_size": int(batch_size), "seed": int(seed), "role": role}


def evaluate(prob: DeepProblem, theta: np.ndarray, episodes: int, seq: np.random.SeedSequence) -> tuple[float, float]:
    """Mean undiscounted return of ``episodes`` fresh episodes and its standard error."""
    ep = prob.sample(episodes, seq, theta)
    r = ep.undiscounted_returns()
    return float(r.mean()), float(r.std(ddof=1) / np.sqrt(r.size)) if r.size > 1 else float("nan")


def deep_train_run(prob: DeepProblem, estimator: str, baseline: str = "none", *, lam: float = 0.95, batch_size: int,
                   step_size: float, iterations: int, seed: int, optimizer: str = "adam", eval_episodes: int = 20,
                   checkpoints: tuple[int, ...] = (), tick: Callable[[int], None] | None = None) -> DeepRun:
    """``iterations`` ascent steps from ``prob.theta``; rows for ``t = 0..iterations`` (fewer if diverged).

    ``tick(1)`` after every iteration (a progress bar's ``update``; :mod:`pgexp.progress`)."""
    check_ascent(optimizer, step_size, iterations)
    if eval_episodes < 1:
        raise UserError(f"--eval-episodes: {eval_episodes}; allowed: a positive integer")
    get_deep_estimator(estimator).check(baseline, batch_size)
    entropy = job_entropy(run_identity(prob, batch_size, seed, "train"), prob.theta)
    eval_entropy = job_entropy(run_identity(prob, batch_size, seed, "eval"), prob.theta)
    adam = Adam() if optimizer == "adam" else None
    theta = prob.theta.copy()
    run = DeepRun()
    steps = 0
    r = run.rows
    for t in range(iterations + 1):
        if t in checkpoints:
            run.checkpoints[t] = theta.copy()
        with np.errstate(all="ignore"):
            ev, ev_se = evaluate(prob, theta, eval_episodes, stream(eval_entropy, t, MAIN))
        g = delta = None
        ret = float("nan")
        new = theta
        if t < iterations and np.isfinite(ev):
            aux = stream(entropy, t, AUX) if baseline == "value_learned" else None
            with np.errstate(all="ignore"):
                b = batch_estimate(prob, estimator, baseline, lam, batch_size, stream(entropy, t, MAIN), aux, theta=theta)
            g, steps, ret = b.grad, steps + b.env_steps, b.return_mean
            if np.all(np.isfinite(g)):
                delta = adam.step(g, step_size) if adam is not None else step_size * g
                new = theta + delta
        bad = not np.isfinite(ev) or (t < iterations and (g is None or not np.all(np.isfinite(g))
                                                          or not np.all(np.isfinite(new))))
        r["iteration"].append(t)
        r["eval_return"].append(ev if np.isfinite(ev) else float("nan"))
        r["eval_return_se"].append(ev_se)
        r["J"].append(r["eval_return"][-1])
        r["env_steps"].append(int(steps))
        with np.errstate(all="ignore"):
            r["grad_norm"].append(float(np.linalg.norm(g)) if g is not None else float("nan"))
            r["step_norm"].append(float(np.linalg.norm(delta)) if delta is not None else float("nan"))
        r["batch_return_mean"].append(ret)
        r["diverged"].append(bool(bad))
        if tick is not None:
            tick(1)
        if bad:
            run.diverged = True
            break
        theta = new
    run.theta = theta
    return run


def deep_train(env_id: str, policy_spec: str | None = None, estimator: str = "reward_to_go", baseline: str = "none",
               lam: float = 0.95, batch_size: int = 16, step_size: float = 0.01, iterations: int = 50, seed: int = 0,
               optimizer: str = "adam", eval_episodes: int = 20, gamma: float | None = 0.99,
               horizon: int | str | None = None, threads: int | None = None, *, theta: str | np.ndarray | None = None,
               tags: dict[str, str] | None = None, tick: Callable[[int], None] | None = None) -> pa.Table:
    """One training run as a table: one row per iteration (see the module docstring for the columns)."""
    set_threads(threads)
    prob = build_deep_problem(env_id, policy_spec, theta, gamma=gamma, horizon=horizon)
    run = deep_train_run(prob, estimator, baseline, lam=lam, batch_size=batch_size, step_size=step_size,
                         iterations=iterations, seed=seed, optimizer=optimizer, eval_episodes=eval_episodes, tick=tick)
    return run_table(prob, run, {"estimator": estimator, "baseline": baseline,
                                 "lam": float(lam) if estimator == "gae" else float("nan"),
                                 "batch_size": int(batch_size), "step_size": float(step_size), "optimizer": optimizer,
                                 "seed": int(seed), "iterations": int(iterations), "eval_episodes": int(eval_episodes),
                                 **(tags or {})})


def run_table(prob: DeepProblem, run: DeepRun, params: dict) -> pa.Table:
    n = len(run.rows["iteration"])
    cols: dict[str, pa.Array] = {}
    for k, v in {**prob.identity(), **params}.items():
        cols[k] = pa.array(np.full(n, v, dtype=object if isinstance(v, str) else None))
    for k, v in run.rows.items():
        cols[k] = pa.array(np.asarray(v))
    cols["J_star"] = pa.array(np.full(n, best_return(prob)))
    cols["J_0"] = pa.array(np.full(n, run.rows["J"][0]))
    cols["run_diverged"] = pa.array(np.full(n, run.diverged))
    return pa.table(cols)
