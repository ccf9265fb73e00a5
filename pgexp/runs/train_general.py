"""The general training engine (:mod:`pgexp.runs.train`): any registered estimator, baseline and policy, on either
track, one run at a time through :func:`pgexp.runs.estimate.estimate_batch`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.runs.context import make_context
from pgexp.runs.estimate import check_combination, estimate_batch, stream_identity
from pgexp.runs.train_options import EVAL_ROWS, EXACT, Run, check_ascent, fast_only
from pgexp.sampling.rng import MAIN, job_entropy, stream


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
        m = np.zeros_like(g) if self.m is None else self.m
        v = np.zeros_like(g) if self.v is None else self.v
        self.t += 1
        self.m = self.beta1 * m + (1 - self.beta1) * g
        self.v = self.beta2 * v + (1 - self.beta2) * g * g
        m_hat = self.m / (1 - self.beta1 ** float(self.t))
        v_hat = self.v / (1 - self.beta2 ** float(self.t))
        return eta * m_hat / (np.sqrt(v_hat) + self.eps)


def train_run(problem: Any, estimator: str, baseline: str = "none", *, params: Mapping[str, float] | None = None,
              batch_size: int, step_size: float, iterations: int, seed: int, optimizer: str = "sga",
              checkpoints: tuple[int, ...] = (), fit_batch_size: int | None = None, eval_episodes: int = 20,
              tick: Callable[[int], None] | None = None) -> Run:
    """The general engine: ``iterations`` steps of ascent from ``problem.theta`` through the estimator
    registry, on either track; rows for ``t = 0..iterations`` (see the module docstring).

    ``tick(1)`` is called after every iteration (a progress bar's ``update``; :mod:`pgexp.progress`).
    """
    ctx0 = make_context(problem)
    est, choice, params = check_run(problem, estimator, baseline, params, batch_size, step_size, iterations,
                                     optimizer, fit_batch_size, eval_episodes)
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
        g, ret, reason = None, float("nan"), ""
        if not np.isfinite(J):
            reason = "J not finite or policy does not terminate"
        elif t < iterations:
            g, used, ret, reason = _direction(ctx, est, choice, params, batch_size, entropy, t, fit_batch_size)
            steps += used
        if g is not None and np.all(np.isfinite(g)):
            delta = adam.step(g, step_size) if adam is not None else step_size * g
            new = theta + delta
        else:
            delta, new = None, theta
        if not reason and t < iterations and (g is None or not np.all(np.isfinite(g)) or not np.all(np.isfinite(new))):
            reason = "update not finite"
        _append(run, t, J, ret, steps, g, delta if reason == "" else None, bool(reason), extra)
        if tick is not None:
            tick(1)
        if reason:
            run.diverged, run.reason = True, reason
            break
        theta = new
    run.theta = theta
    return run


def check_run(problem: Any, estimator: str, baseline: str, params: Mapping[str, float] | None, batch_size: int,
               step_size: float, iterations: int, optimizer: str, fit_batch_size: int | None,
               eval_episodes: int) -> tuple[Any, Any, Any]:
    """The general engine's checks; ``(estimator spec, baseline choice, hyperparameters)`` (``None`` for exact)."""
    check_ascent(optimizer, step_size, iterations)
    if optimizer == "npg":
        raise UserError(f"--optimizer npg: needs the {fast_only()}")
    if isinstance(eval_episodes, bool) or eval_episodes < 1:
        raise UserError(f"--eval-episodes: {eval_episodes}; allowed: a positive integer")
    if estimator == EXACT:
        if problem.track == "continuous":
            raise UserError("--estimator exact: the exact gradient exists only for tabular and linear-quadratic "
                            "problems")
        return None, None, params
    est, choice = check_combination(problem, estimator, baseline, batch_size, fit_batch_size)
    return est, choice, est.params(params)


def _direction(ctx: Any, est: Any, choice: Any, params: Any, batch_size: int, entropy: int, t: int,
               fit_batch_size: int | None) -> tuple[np.ndarray | None, int, float, str]:
    """Iteration ``t``'s gradient (exact when ``est`` is ``None``), env steps, mean return, divergence reason."""
    with np.errstate(all="ignore"):
        if est is None:
            return ctx.exact_gradient[1], 0, float("nan"), ""
        b = estimate_batch(ctx, est, choice, params, batch_size, entropy, t, fit_batch_size=fit_batch_size)
    if b.truncated and ctx.kind == "episodic":
        return None, b.env_steps, b.return_mean, "episode hit the step cap"
    return b.grad, b.env_steps, b.return_mean, ""


def _append(run: Run, t: int, J: float, ret: float, steps: int, g, delta, diverged: bool,
            extra: Mapping[str, float]) -> None:
    r = run.rows
    r["iteration"].append(t)
    r["J"].append(float(J) if np.isfinite(J) else float("nan"))
    r["batch_return_mean"].append(float(ret))
    r["env_steps"].append(int(steps))
    with np.errstate(all="ignore"):
        r["grad_norm"].append(float(np.linalg.norm(g)) if g is not None else float("nan"))
        r["step_norm"].append(float(np.linalg.norm(delta)) if delta is not None else float("nan"))
    r["diverged"].append(bool(diverged))
    for k in EVAL_ROWS:
        if k in r:
            r[k].append(float(extra.get(k, float("nan"))))
