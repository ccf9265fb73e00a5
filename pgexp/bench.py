"""Benchmarks behind ``pgexp bench``: each prints one JSON line (median seconds of a few repeats)."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np


def bench_exact(states: int, repeats: int = 3) -> dict[str, Any]:
    """Median seconds of exact ``grad J`` on ``garnet:states=N,actions=4,branching=5,seed=0`` (gamma 0.9, H=inf)."""
    from pgexp import exact
    from pgexp.problem import build_problem

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


BENCHMARKS = {"exact": bench_exact}


def run(what: str, *, states: int = 100_000, repeats: int = 3) -> dict[str, Any]:
    if what == "exact":
        return bench_exact(states, repeats)
    raise ValueError(f"unknown benchmark {what!r}; allowed: {', '.join(BENCHMARKS)}")
