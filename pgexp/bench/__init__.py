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


STUDY_PAIRS = (("reinforce", "none"), ("reward_to_go", "value_exact"), ("gae", "value_exact"), ("actor_critic", "none"))


def bench_train_pairs(repeats: int = 3) -> dict[str, Any]:
    """The default study's training job, pair by pair: ``garnet:states=20,actions=4,branching=3,seed=0``, gamma 1,
    H = 25, batch 16, 4 step sizes x 8 seeds x 200 iterations.  Per pair the compiled engine's seconds for the
    whole grid (median of ``repeats``, the table included) and the general engine's milliseconds per iteration
    (one run of 20 iterations); ``pairs_seconds`` sums the compiled grids."""
    from pgexp.estimators import ESTIMATORS
    from pgexp.problems.problem import build_problem
    from pgexp.runs.train import TrainOptions, grid_table, train_grid

    prob = build_problem("garnet:states=20,actions=4,branching=3,seed=0", gamma=1.0, horizon=25)
    etas, seeds = [0.03, 0.1, 0.3, 1.0], [0, 1, 2, 3, 4, 100, 101, 102]
    out: dict[str, Any] = {}
    for est, base in STUDY_PAIRS:
        opts = TrainOptions(est, base, batch_size=16, iterations=200, params=ESTIMATORS[est].params())
        train_grid(prob, TrainOptions(est, base, batch_size=16, iterations=2), [0.1], [0])  # compile / load
        times = []
        for _ in range(max(repeats, 1)):
            t0 = time.perf_counter()
            runs, engine = train_grid(prob, opts, etas, seeds)
            grid_table(prob, runs, [(e, s) for e in etas for s in seeds], opts.columns(), opts, engine)
            times.append(time.perf_counter() - t0)
        short = TrainOptions(est, base, batch_size=16, iterations=20, params=opts.params)
        t0 = time.perf_counter()
        train_grid(prob, short, [0.1], [0], engine="general")
        out[f"{est}~{base}"] = {"compiled_seconds": statistics.median(times), "engine": engine,
                                "general_ms_per_iteration": 1000.0 * (time.perf_counter() - t0) / 20}
    return {"study_problem": "garnet:states=20,actions=4,branching=3,seed=0 gamma=1 H=25 batch=16, 32 runs x 200 "
                             "iterations", "study_pairs": out,
            "pairs_seconds": sum(v["compiled_seconds"] for v in out.values())}


def bench_train(repeats: int = 3, runs: int = 400, iterations: int = 1000) -> dict[str, Any]:
    """Training iterations per second on the short corridor at batch size 1, both engines in one process.

    ``reinforce~none``, SGA with ``eta = 2^-13`` from ``theta = 0`` (no run diverges).  The general engine
    (one run at a time through the estimator registry and the exact solver) runs 200 iterations per
    repeat; the compiled engine runs ``runs`` runs (4 step sizes x ``runs / 4`` seeds) x ``iterations``
    -- the grid of a training job -- per repeat.  Rates are medians over ``repeats``; compilation and
    first-call costs are paid before timing.  ``compiled_with_table_iterations_per_second`` adds building
    the output table (final policies, one exact evaluation per run).  Then the default study's pairs
    (:func:`bench_train_pairs`).
    """
    import numba

    from pgexp.problems.problem import build_problem
    from pgexp.runs.train import TrainOptions, grid_table, train_grid

    numba.set_num_threads(1)
    prob = build_problem("short_corridor")
    eta = 2.0**-13
    seeds = list(range(max(runs // 4, 1)))
    etas = [eta * f for f in (1.0, 0.75, 0.5, 0.25)]
    opts = TrainOptions("reinforce", "none", batch_size=1, iterations=iterations)
    train_grid(prob, TrainOptions("reinforce", "none", batch_size=1, iterations=5), [eta], [0])  # compile
    train_grid(prob, TrainOptions("reinforce", "none", batch_size=1, iterations=5), [eta], [0], engine="general")
    general, compiled, with_table = [], [], []
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        train_grid(prob, TrainOptions("reinforce", "none", batch_size=1, iterations=200), [eta], [0], engine="general")
        general.append(200 / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        out, engine = train_grid(prob, opts, etas, seeds)
        mid = time.perf_counter()
        grid_table(prob, out, [(e, s) for e in etas for s in seeds], opts.columns(), opts, engine)
        end = time.perf_counter()
        n = len(etas) * len(seeds) * iterations
        compiled.append(n / (mid - t0))
        with_table.append(n / (end - t0))
    g, c = statistics.median(general), statistics.median(compiled)
    return {
        "benchmark": "train",
        "problem": "short_corridor",
        "estimator": "reinforce",
        "baseline": "none",
        "batch_size": 1,
        "threads": 1,
        "general_iterations_per_second": g,
        "general_ms_per_iteration": 1000.0 / g,
        "compiled_iterations_per_second": c,
        "compiled_with_table_iterations_per_second": statistics.median(with_table),
        "compiled_runs": len(etas) * len(seeds),
        "compiled_iterations": iterations,
        "speedup": c / g,
        "repeats": len(general),
        **bench_train_pairs(repeats),
    }


def _time_gae(states: int, horizon: int, repeats: int, full: bool) -> dict[str, Any]:
    """Median seconds of GAE's exact moments (lambda 0.95, V = V^pi) by the recursion, the set-up excluded."""
    from pgexp.exact.model import make_setup
    from pgexp.exact.moments import trajectory_moments
    from pgexp.problems.problem import build_problem

    prob = build_problem(f"garnet:states={states},actions=4,branching=5,seed=0", horizon=horizon,
                         theta="random:seed=0,scale=1")
    st = make_setup(prob)
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        m = trajectory_moments(st, "gae", "value_exact", lam=0.95, method="dp", full=full)
        times.append(time.perf_counter() - t0)
    return {"states": states, "horizon": horizon, "dim": int(m.mean.size), "full_cov": full,
            "seconds": statistics.median(times), "trace_cov": m.trace_cov}


def bench_exact_variance(states: int = 100, horizon: int = 100, repeats: int = 3) -> dict[str, Any]:
    """GAE's exact per-trajectory moments by the (time, state) recursion on
    ``garnet:states=S,actions=4,branching=5,seed=0`` (tabular features, ``d = 4 S``, its own gamma) at horizon
    ``H``: the trace only (``O(H (S A d + nnz d))``) and the full covariance (``+ O(H S d^2)``), and the trace's
    growth with ``S`` (at ``H``) and with ``H`` (at ``S``)."""
    main = _time_gae(states, horizon, repeats, False)
    full = _time_gae(states, horizon, repeats, True)
    grow_s = [_time_gae(s, horizon, repeats, False) for s in (states // 4, states // 2, states, 2 * states)]
    grow_h = [_time_gae(states, h, repeats, False) for h in (horizon // 4, horizon // 2, horizon, 2 * horizon)]
    return {"benchmark": "exact-variance", "problem": f"garnet:states={states},actions=4,branching=5,seed=0",
            "estimator": "gae", "baseline": "value_exact", "lam": 0.95, "horizon": horizon, "dim": main["dim"],
            "seconds": main["seconds"], "seconds_full_cov": full["seconds"],
            "growth_states": [{k: r[k] for k in ("states", "dim", "seconds")} for r in grow_s],
            "growth_horizon": [{k: r[k] for k in ("horizon", "seconds")} for r in grow_h]}


BENCHMARKS = {"exact": bench_exact, "sampler": bench_sampler, "pergrad": bench_pergrad,
              "exact-variance": bench_exact_variance, "train": bench_train}


def run(what: str, *, states: int = 100_000, repeats: int = 3, batch_size: int = 1000,
        threads: int | None = 1) -> dict[str, Any]:
    if what == "exact":
        return bench_exact(states, repeats)
    if what == "sampler":
        return bench_sampler(batch_size, repeats)
    if what == "pergrad":
        return bench_pergrad(batch_size, repeats, threads)
    if what == "train":
        return bench_train(repeats)
    if what == "exact-variance":
        return bench_exact_variance(repeats=repeats)
    raise ValueError(f"unknown benchmark {what!r}; allowed: {', '.join(BENCHMARKS)}")
