"""Exact-variance entry points for linear-quadratic problems: the scalar recursion where it applies
(:mod:`pgexp.exact.lqr_moments`), else a labelled high-precision Monte Carlo with its interval.

The Monte-Carlo route samples ``trajectories`` independent trajectories (its own stream, hashed from the problem,
the pair and ``seed``) through the estimator registry and the lqr track's context -- the same code the estimate
jobs run -- and reports the sample mean and covariance with ``method = "monte_carlo"``, the number of trajectories,
per-coordinate standard errors of the mean (``mean_se``) and a 95 % normal interval of ``tr Cov g``
(``trace_cov_ci``, from the spread of ``||g_i - mean||^2``).  For ``optimal`` and ``constant`` it estimates the
moments of ``u``, ``v`` and ``R`` and composes them exactly as the recursion does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.estimators import get_estimator
from pgexp.estimators.batch import step_weights, with_baseline
from pgexp.estimators.spec import parse_baseline as parse_registry_baseline
from pgexp.exact.lqr_moments import (
    LAMBDA_ESTIMATORS,
    SUPPORTED,
    Moments,
    check_lambda,
    check_pair,
    compose,
    curve_rows,
    parse_baseline,
    scalar_moments,
    variance_json,
)
from pgexp.runs.engine import baseline_values, linear_parts
from pgexp.runs.lqr_context import LQRContext
from pgexp.sampling.rng import Streams, job_entropy

MC_TRAJECTORIES = 200_000  # the Monte-Carlo route's default trajectories


def monte_carlo_moments(problem: Any, estimator: str, baseline: str, lam: float = 0.95,
                        trajectories: int = MC_TRAJECTORIES, seed: int = 0) -> Moments:
    """A labelled Monte-Carlo estimate of the same moments (systems with more than one dimension): ``trajectories``
    independent trajectories through the estimator registry; ``info`` carries ``monte_carlo_trajectories``,
    ``mean_se`` and a 95 % normal interval ``trace_cov_ci`` of ``tr Cov g``."""
    kind, const = check_pair(estimator, baseline)
    ctx = LQRContext(problem)
    est = get_estimator(estimator)
    params = est.params({"lam": lam} if estimator in LAMBDA_ESTIMATORS else {})
    entropy = job_entropy({**problem.identity(), "role": "exact_monte_carlo", "estimator": estimator,
                           "baseline": baseline, "seed": int(seed)}, problem.theta)
    chunk = max(1, min(trajectories, 1_000_000 // max(ctx.steps, 1)))
    rows: dict[str, list[np.ndarray]] = {}
    done = 0
    uvr = kind in ("optimal", "constant")
    choice = parse_registry_baseline("none" if uvr else ("fixed:c=" + repr(const) if kind == "fixed" else kind))
    while done < trajectories:
        n = min(chunk, trajectories - done)
        streams = Streams(entropy, done, 1)
        batch = ctx.sample("trajectories", streams, n).replace(params=params)
        based = with_baseline(batch, *baseline_values(ctx, choice, batch, None, streams.child(2)))
        if uvr:
            u, v = linear_parts(est, based)
            rows.setdefault("u", []).append(ctx.gradients(based, u, per_trajectory=True))
            rows.setdefault("v", []).append(ctx.gradients(based, v, per_trajectory=True))
            rows.setdefault("R", []).append(batch.returns[:, 0])
        else:
            w = step_weights(est.function, based, est.name)
            rows.setdefault("g", []).append(ctx.gradients(based, w, per_trajectory=True))
        done += n
    M = done
    info: dict[str, Any] = {"monte_carlo_trajectories": M}
    if uvr:
        U, V, R = (np.concatenate(rows[k]) for k in ("u", "v", "R"))
        mom = compose(U.mean(0), V.mean(0), U.T @ U / M, U.T @ V / M, V.T @ V / M, V.T @ R / M, float(R.mean()),
                      float(R @ R / M), ctx.exact_gradient[1], kind, method="monte_carlo")
        G = U - (np.asarray(mom.info["b_star"]) * V if kind == "optimal" else mom.info["mean_return"] * V)
    else:
        G = np.concatenate(rows["g"])
        mean = G.mean(0)
        cov = np.cov(G, rowvar=False, ddof=1).reshape(G.shape[1], G.shape[1])
        mom = Moments(mean, cov, ctx.exact_gradient[1], "monte_carlo", info={"constant": const} if kind == "fixed"
                      else {})
    dev = ((G - G.mean(0)) ** 2).sum(axis=1)
    se = float(dev.std(ddof=1) / math.sqrt(M))
    info |= {"mean_se": [float(x) for x in G.std(0, ddof=1) / math.sqrt(M)],
             "trace_cov_ci": [float(dev.mean() - 1.96 * se), float(dev.mean() + 1.96 * se)]}
    mom.info = {**mom.info, **info}
    return mom



def trajectory_moments(problem: Any, estimator: str, baseline: str = "none", *, lam: float = 0.95,
                       method: str = "auto", trajectories: int = MC_TRAJECTORIES) -> Moments:
    """The exact recursion on a scalar system (``method`` ``auto``, ``recursion`` or ``dp``), else -- or with
    ``monte_carlo`` -- the labelled Monte-Carlo estimate."""
    check_lambda(estimator, lam)
    check_pair(estimator, baseline)
    if method not in ("auto", "recursion", "dp", "monte_carlo"):
        raise UserError(f"--method {method!r} on a linear-quadratic problem; allowed: auto, recursion (dp), "
                        "monte_carlo")
    scalar = problem.system.scalar
    if method in ("recursion", "dp") and not scalar:
        raise UserError(f"--method {method}: the exact recursion covers scalar systems (n = m = 1); this one has "
                        f"n = {problem.system.n}, m = {problem.system.m}: use --method monte_carlo (or auto)")
    if method == "monte_carlo" or not scalar:
        return monte_carlo_moments(problem, estimator, baseline, lam, trajectories)
    return scalar_moments(problem, estimator, baseline, lam)


def exact_variance(problem: Any, estimator: str, baseline: str = "none", *, lam: float = 0.95, method: str = "auto",
                   batch_sizes: list[int] | tuple[int, ...] = ()) -> dict:
    """The ``pgexp exact-variance`` JSON (:func:`pgexp.exact.lqr_moments.variance_json`)."""
    mom = trajectory_moments(problem, estimator, baseline, lam=lam, method=method)
    return variance_json(problem, mom, estimator, baseline, lam, batch_sizes)


def exact_curves(problem_builder: Any, horizons: list[int | None], pairs: list[tuple[str, str]],
                 batch_sizes: list[int], *, lam: float = 0.95) -> list[dict]:
    """``pgexp exact-curves`` rows for a linear-quadratic problem; pairs the engine does not cover are skipped."""
    rows = []
    for h in horizons:
        problem = problem_builder(h)
        for est, base in pairs:
            if est not in SUPPORTED or parse_baseline(base)[0] not in SUPPORTED[est]:
                continue
            mom = trajectory_moments(problem, est, base, lam=lam)
            rows += curve_rows(problem, mom, est, base, lam, batch_sizes)
    return rows


__all__ = ["MC_TRAJECTORIES", "exact_curves", "exact_variance", "monte_carlo_moments", "trajectory_moments"]
