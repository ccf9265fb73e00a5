"""Benchmarks behind ``pgexp bench``: each prints one JSON line (median seconds of a few repeats)."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np


def bench_exact(states: int, repeats: int = 3) -> dict[str, Any]:
    """Median seconds of exact ``grad J`` on ``garnet:states=N,actions=4,branching=5,seed=0`` (gamma 0.9, H=inf)."""
    from pgexp import exact
    from pgexp.problems.problem import build_problem

    spec = f"garnet:states={states},actions=4,branching=5,seed=0"
    t0 = time.perf_counter()
    prob = build_problem(spec, theta="random:seed=0,scale=1")
    build = time.perf_counter() - t0
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        _, grad, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
        times.append(time.perf_counter() - t0)
    return {
        "benchmark": "exact",
        "problem": spec,
        "gamma": prob.mdp.gamma,
        "horizon": "inf",
        "features": prob.features_spec,
        "states": states,
        "dim": prob.policy.dim,
        "seconds": statistics.median(times),
        "seconds_all": times,
        "build_seconds": build,
        "grad_norm": float(np.linalg.norm(grad)),
    }


def bench_sampler(batch_size: int = 1000, repeats: int = 3) -> dict[str, Any]:
    """Environment steps per second of sampling + a reward-to-go batch estimate, on one thread.

    ``garnet:states=100,actions=4,branching=5,seed=0`` with H = 100 at a random theta; each timed
    call is one fresh batch (its own replicate stream); the median over ``max(repeats, 20)`` calls.
    """
    import numba

    from pgexp.estimators import get_estimator
    from pgexp.problems.problem import build_problem
    from pgexp.runs.context import TabularContext
    from pgexp.runs.estimate import estimate_batch

    numba.set_num_threads(1)
    spec = "garnet:states=100,actions=4,branching=5,seed=0"
    prob = build_problem(spec, horizon=100, theta="random:seed=0,scale=1")
    ctx = TabularContext(prob)
    est = get_estimator("reward_to_go")
    estimate_batch(ctx, est, "none", None, batch_size, 0, 0)  # compile / warm caches
    rates = []
    for rep in range(1, max(repeats, 20) + 1):
        t0 = time.perf_counter()
        out = estimate_batch(ctx, est, "none", None, batch_size, 0, rep)
        rates.append(out.env_steps / (time.perf_counter() - t0))
    return {
        "benchmark": "sampler",
        "problem": spec,
        "horizon": 100,
        "estimator": "reward_to_go",
        "batch_size": batch_size,
        "threads": 1,
        "steps_per_second": statistics.median(rates),
        "steps_per_second_min": min(rates),
        "steps_per_second_max": max(rates),
        "calls": len(rates),
    }


def bench_pergrad(batch_size: int = 1000, repeats: int = 5, threads: int | None = 1) -> dict[str, Any]:
    """Per-sample gradients: ``torch.func.vmap`` vs a loop of ``backward()`` (see :mod:`pgexp.bench.pergrad`)."""
    from pgexp.bench.pergrad import bench_pergrad as run_pergrad

    return {"benchmark": "pergrad", **run_pergrad(batch=batch_size, repeats=max(repeats, 5), threads=threads)}


BENCHMARKS = {"exact": bench_exact, "sampler": bench_sampler, "pergrad": bench_pergrad}


def run(what: str, *, states: int = 100_000, repeats: int = 3, batch_size: int = 1000,
        threads: int | None = 1) -> dict[str, Any]:
    if what == "exact":
        return bench_exact(states, repeats)
    if what == "sampler":
        return bench_sampler(batch_size, repeats)
    if what == "pergrad":
        return bench_pergrad(batch_size, repeats, threads)
    raise ValueError(f"unknown benchmark {what!r}; allowed: {', '.join(BENCHMARKS)}")
