"""Stochastic gradient ascent ``theta <- theta + eta g`` with each estimator, on either track.

Every iteration ``t = 0..iterations`` records the objective at ``theta_t`` -- the exact ``J`` on tabular
problems; on continuous-state tasks the *evaluation return*, the mean undiscounted return of
``eval_episodes`` fresh episodes from a separate evaluation stream (columns ``eval_return``,
``eval_return_se``) -- then (for ``t < iterations``) the batch gradient and the step.  Rows also carry the
environment steps used so far, ``||g_t||`` and ``||theta_{t+1} - theta_t||``.  Iteration ``t`` draws its
batch from the replicate stream ``t`` of the run's identity (problem, theta_0, horizon, batch size,
seed), so the same seed gives the same curve, bit for bit.  A non-finite gradient, parameter or
objective stops the run: the rows so far are kept and the run is marked ``diverged`` -- a study goes on.

``estimator = "exact"`` ascends the exact gradient (tabular problems; no sampling, no ``env_steps``): a
deterministic path whose checkpoints the variance-along-training jobs share, so every estimator is
compared at the same points.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from pgexp.errors import UserError
from pgexp.runs.context import make_context
from pgexp.runs.estimate import check_combination, estimate_batch, stream_identity
from pgexp.sampling.rng import MAIN, job_entropy, stream

OPTIMIZERS = ("sga", "adam")


@dataclass
class Adam:
    """Adam (Kingma & Ba 2015) for *ascent*: ``theta += eta * m_hat / (sqrt(v_hat) + eps)``."""

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    m: np.ndarray | None = None
    v: np.ndarray | None = None
    t: int = 0

    def step(self, g: np.ndarray, eta: float) -> np.ndarray:
        if self.m is None:
            self.m, self.v = np.zeros_like(g), np.zeros_like(g)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * g
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
        return eta * m_hat / (np.sqrt(v_hat) + self.eps)


ROWS = ("iteration", "J", "env_steps", "grad_norm", "step_norm", "diverged")
EVAL_ROWS = ("eval_return", "eval_return_se", "batch_return_mean")  # continuous-state tasks


@dataclass
class Run:
    """One training run's rows and checkpoints ``{iteration: theta}``."""

    rows: dict[str, list] = field(default_factory=lambda: {k: [] for k in ROWS})
    checkpoints: dict[int, np.ndarray] = field(default_factory=dict)
    diverged: bool = False
    theta: np.ndarray | None = None


def check_ascent(optimizer: str, step_size: float, iterations: int) -> None:
    """Refuse an unknown optimizer, a non-positive step size or a negative iteration count, by name."""
    if optimizer not in OPTIMIZERS:
        raise UserError(f"--optimizer: {optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
    if not (np.isfinite(step_size) and step_size > 0):
        raise UserError(f"--step-size: {step_size!r}; allowed: a positive number")
    if iterations < 0:
        raise UserError(f"--iterations: {iterations}; allowed: a non-negative integer")


def train_run(problem: Any, estimator: str, baseline: str = "none", *, params: Mapping[str, float] | None = None,
              batch_size: int, step_size: float, iterations: int, seed: int, optimizer: str = "sga",
              checkpoints: tuple[int, ...] = (), fit_batch_size: int | None = None, eval_episodes: int = 20,
              tick: Callable[[int], None] | None = None) -> Run:
    """``iterations`` steps of gradient ascent from ``problem.theta``; rows for ``t = 0..iterations``.

    ``tick(1)`` is called after every iteration (a progress bar's ``update``; :mod:`pgexp.progress`).
    """
    check_ascent(optimizer, step_size, iterations)
    ctx0 = make_context(problem)
    if estimator == "exact":
        if problem.track != "tabular":
            raise UserError("--estimator exact: the exact gradient exists only for tabular problems")
        est = choice = None
    else:
        est, choice = check_combination(problem, estimator, baseline, batch_size, fit_batch_size)
        params = est.params(params)
    if isinstance(eval_episodes, bool) or eval_episodes < 1:
        raise UserError(f"--eval-episodes: {eval_episodes}; allowed: a positive integer")
    ident = stream_identity(problem, batch_size, seed)
    entropy = job_entropy(ident, problem.theta)
    eval_entropy = job_entropy(ident | {"role": "eval"}, problem.theta)
    adam = Adam() if optimizer == "adam" else None
    theta = problem.theta.copy()
    run = Run()
    if ctx0.track == "continuous":
        run.rows.update({k: [] for k in EVAL_ROWS})
    steps = 0
    for t in range(iterations + 1):
        ctx = ctx0.at(theta)
        try:
            with np.errstate(all="ignore"):
                J, extra = ctx.objective(stream(eval_entropy, t, MAIN), eval_episodes)
        except UserError:
            if t == 0:
                raise  # the starting point itself is invalid: the user's mistake, not a divergence
            J, extra = float("nan"), {}  # e.g. an episodic policy that no longer terminates
        if t in checkpoints:
            run.checkpoints[t] = theta.copy()
        g = None
        ret = float("nan")
        if t < iterations and np.isfinite(J):
            with np.errstate(all="ignore"):
                if est is None:
                    g = ctx.exact_gradient[1]  # type: ignore[union-attr]  # tabular: checked above
                else:
                    b = estimate_batch(ctx, est, choice, params, batch_size, entropy, t,  # type: ignore[arg-type]
                                       fit_batch_size=fit_batch_size)
                    g, steps, ret = b.grad, steps + b.env_steps, b.return_mean
        if g is not None and np.all(np.isfinite(g)):
            delta = adam.step(g, step_size) if adam is not None else step_size * g
            new = theta + delta
        else:
            delta, new = None, theta
        bad = not np.isfinite(J) or (t < iterations and (g is None or not np.all(np.isfinite(g))
                                                         or not np.all(np.isfinite(new))))
        _append(run, t, J, steps, g, delta, bad, {**extra, "batch_return_mean": ret})
        if tick is not None:
            tick(1)
        if bad:
            run.diverged = True
            break
        theta = new
    run.theta = theta
    return run


def _append(run: Run, t: int, J: float, steps: int, g, delta, diverged: bool, extra: dict[str, float]) -> None:
    r = run.rows
    r["iteration"].append(t)
    r["J"].append(float(J) if np.isfinite(J) else float("nan"))
    r["env_steps"].append(int(steps))
    with np.errstate(all="ignore"):
        r["grad_norm"].append(float(np.linalg.norm(g)) if g is not None else float("nan"))
        r["step_norm"].append(float(np.linalg.norm(delta)) if delta is not None else float("nan"))
    r["diverged"].append(bool(diverged))
    for k in EVAL_ROWS:
        if k in r:
            r[k].append(float(extra.get(k, float("nan"))))


def run_table(problem: Any, run: Run, params: dict) -> pa.Table:
    """A run's rows with its parameters and ``J_star`` (the best possible return where known), ``J_0`` as columns."""
    n = len(run.rows["iteration"])
    J_star = make_context(problem).best_return()
    ident = problem.identity()
    cols: dict[str, pa.Array] = {}
    for k, v in {**ident, **params}.items():
        cols[k] = pa.array(np.full(n, v, dtype=object if isinstance(v, str) else None))
    for k, v in run.rows.items():
        cols[k] = pa.array(np.asarray(v))
    cols["J_star"] = pa.array(np.full(n, J_star))
    cols["J_0"] = pa.array(np.full(n, run.rows["J"][0]))
    cols["run_diverged"] = pa.array(np.full(n, run.diverged))
    return pa.table(cols)
