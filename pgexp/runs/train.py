"""Stochastic gradient ascent ``theta <- theta + eta g`` with each estimator, measured exactly.

Every iteration records the exact ``J(theta_t)`` (tabular), ``J*``, the environment steps used so far,
``||g_t||`` and ``||theta_{t+1} - theta_t||``.  Iteration ``t`` draws its batch from the replicate
stream ``t`` of the run's identity (problem, theta_0, horizon, batch size, seed), so the same seed
gives the same curve, bit for bit.  A non-finite gradient, parameter or objective stops the run: the
rows so far are kept and the run is marked ``diverged`` -- a study goes on.

``estimator = "exact"`` ascends the exact gradient (no sampling, no ``env_steps``): a deterministic
path whose checkpoints the variance-along-training jobs share, so every estimator is compared at the
same points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from pgexp import exact
from pgexp.errors import UserError
from pgexp.estimators.base import Context
from pgexp.problems.problem import Problem
from pgexp.runs.estimate import check_combination, estimate_batch, stream_identity
from pgexp.sampling.rng import job_entropy

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


@dataclass
class Run:
    """One training run's rows and checkpoints ``{iteration: theta}``."""

    rows: dict[str, list] = field(default_factory=lambda: {k: [] for k in (
        "iteration", "J", "env_steps", "grad_norm", "step_norm", "diverged")})
    checkpoints: dict[int, np.ndarray] = field(default_factory=dict)
    diverged: bool = False


def check_ascent(optimizer: str, step_size: float, iterations: int) -> None:
    """Refuse an unknown optimizer, a non-positive step size or a negative iteration count, by name."""
    if optimizer not in OPTIMIZERS:
        raise UserError(f"--optimizer: {optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
    if not (np.isfinite(step_size) and step_size > 0):
        raise UserError(f"--step-size: {step_size!r}; allowed: a positive number")
    if iterations < 0:
        raise UserError(f"--iterations: {iterations}; allowed: a non-negative integer")


def train_run(problem: Problem, estimator: str, baseline: str = "none", *, lam: float = 0.95, batch_size: int,
              step_size: float, iterations: int, seed: int, optimizer: str = "sga",
              checkpoints: tuple[int, ...] = (), tick: Callable[[int], None] | None = None) -> Run:
    """``iterations`` steps of gradient ascent from ``problem.theta``; rows for ``t = 0..iterations``.

    ``tick(1)`` is called after every iteration (a progress bar's ``update``; :mod:`pgexp.progress`).
    """
    check_ascent(optimizer, step_size, iterations)
    est = None if estimator == "exact" else check_combination(problem, estimator, baseline, batch_size)
    entropy = job_entropy(stream_identity(problem, batch_size, seed), problem.theta)
    adam = Adam() if optimizer == "adam" else None
    theta = problem.theta.copy()
    run = Run()
    steps = 0
    for t in range(iterations + 1):
        at = Problem(problem.mdp, problem.policy, theta, problem.env_spec, problem.features_spec,
                     problem.policy_spec, problem.theta_spec)
        try:
            with np.errstate(all="ignore"):
                J, grad_exact, _ = exact.gradient(problem.mdp, problem.policy, theta)
        except UserError:
            if t == 0:
                raise  # the starting point itself is invalid: the user's mistake, not a divergence
            J, grad_exact = float("nan"), None  # e.g. an episodic policy that no longer terminates
        if t in checkpoints:
            run.checkpoints[t] = theta.copy()
        g = None
        if t < iterations and np.isfinite(J):
            if est is None:
                g = grad_exact
            else:
                with np.errstate(all="ignore"):
                    b = estimate_batch(Context(at), est, baseline, lam, batch_size, entropy, t)
                g, steps = b.grad, steps + b.env_steps
        if g is not None and np.all(np.isfinite(g)):
            delta = adam.step(g, step_size) if adam is not None else step_size * g
            new = theta + delta
        else:
            delta, new = None, theta
        bad = not np.isfinite(J) or (t < iterations and (g is None or not np.all(np.isfinite(g))
                                                         or not np.all(np.isfinite(new))))
        _append(run, t, J, steps, g, delta, bad)
        if tick is not None:
            tick(1)
        if bad:
            run.diverged = True
            break
        theta = new
    return run


def _append(run: Run, t: int, J: float, steps: int, g, delta, diverged: bool) -> None:
    r = run.rows
    r["iteration"].append(t)
    r["J"].append(float(J) if np.isfinite(J) else float("nan"))
    r["env_steps"].append(int(steps))
    with np.errstate(all="ignore"):
        r["grad_norm"].append(float(np.linalg.norm(g)) if g is not None else float("nan"))
        r["step_norm"].append(float(np.linalg.norm(delta)) if delta is not None else float("nan"))
    r["diverged"].append(bool(diverged))


def run_table(problem: Problem, run: Run, params: dict) -> pa.Table:
    """A run's rows with its parameters and ``J_star``, ``J_0`` as columns."""
    n = len(run.rows["iteration"])
    J_star = exact.optimal(problem.mdp).J_star
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
