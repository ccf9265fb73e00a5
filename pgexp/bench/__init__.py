"""Benchmarks behind ``pgexp bench``: each prints one JSON line (median seconds of a few repeats)."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, MiB (``getrusage`` ``ru_maxrss``: KiB on Linux, bytes on macOS).

    The whole process as the operating system sees it -- interpreter, libraries, numba's and scipy's own
    allocations -- which ``tracemalloc`` (Python-visible allocations only) would not count.
    """
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def bench_exact(states: int, repeats: int = 3) -> dict[str, Any]:
    """Median seconds of exact ``grad J`` on ``garnet:states=N,actions=4,branching=5,seed=0`` (gamma 0.9, H=inf).

    ``build_seconds``: building the problem (garnet, validation, features, theta); ``seconds``: one
    ``exact.gradient`` (the median of ``repeats``), after a warm-up on a 1000-state garnet that compiles (or
    loads) the numba kernels (``warmup_seconds``).  ``peak_rss_mb``: the process's peak resident memory
    (:func:`peak_rss_mb`), ``peak_rss_build_mb`` the same right after the build.
    """
    from pgexp import exact
    from pgexp.problems.problem import build_problem

    t0 = time.perf_counter()
    warm = build_problem("garnet:states=1000,actions=4,branching=5,seed=0", theta="random:seed=0,scale=1")
    exact.gradient(warm.mdp, warm.policy, warm.theta)
    warmup = time.perf_counter() - t0
    del warm
    spec = f"garnet:states={states},actions=4,branching=5,seed=0"
    t0 = time.perf_counter()
    prob = build_problem(spec, theta="random:seed=0,scale=1")
    build = time.perf_counter() - t0
    rss_build = peak_rss_mb()
    times, cpu = [], []
    for _ in range(max(1, repeats)):
        t0, c0 = time.perf_counter(), time.process_time()
        J, grad, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
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
        "cpu_seconds": statistics.median(cpu),
        "build_seconds": build,
        "warmup_seconds": warmup,
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_build_mb": rss_build,
        "J": J,
        "grad_norm": float(np.linalg.norm(grad)),
    }


SAMPLER_PROBLEM = "garnet:states=1000,actions=4,branching=5,seed=0"
SAMPLER_SIZES = (10, 100, 1000, 10000)


def bench_sampler(batch_sizes: tuple[int, ...] = SAMPLER_SIZES, repeats: int = 3,
                  problem: str = SAMPLER_PROBLEM) -> dict[str, Any]:
    """Environment steps per second of sampling + a reward-to-go batch estimate, on one thread, beside what a user
    would write instead (:mod:`pgexp.bench.rivals`: a plain numba loop, plain vectorised numpy), in the same run.

    ``problem`` with ``H = 100`` at a random theta; per batch size, each timed call is one fresh batch (pgexp: its
    own replicate stream, through :func:`pgexp.runs.estimate.estimate_batch` -- what every estimate job runs); the
    median over ``max(repeats, 20)`` calls (5 at ``N >= 10000``).  Compilation is paid before timing.
    """
    import numba

    from pgexp.bench.rivals import naive_numba, numpy_vectorised
    from pgexp.estimators import get_estimator
    from pgexp.problems.problem import build_problem
    from pgexp.runs.context import TabularContext
    from pgexp.runs.estimate import estimate_batch

    numba.set_num_threads(1)
    H = 100
    prob = build_problem(problem, horizon=H, theta="random:seed=0,scale=1")
    ctx = TabularContext(prob)
    mdp, pi = prob.mdp, ctx.pi
    P = mdp.P
    indptr, indices, data = P.indptr.astype(np.int64), P.indices.astype(np.int64), P.data.astype(np.float64)
    p_cdf = np.concatenate([np.cumsum(data[indptr[i]:indptr[i + 1]]) for i in range(indptr.size - 1)])
    mu_cdf, pi_cdf, gamma = np.cumsum(mdp.mu), np.cumsum(pi, axis=1), float(mdp.gamma)
    est = get_estimator("reward_to_go")
    rng = np.random.default_rng(0)
    runners = {
        "pgexp": lambda n, k: estimate_batch(ctx, est, "none", None, n, 0, k),
        "naive_numba": lambda n, k: naive_numba(indptr, indices, data, pi, mu_cdf, mdp.r, gamma, H, n, k),
        "numpy": lambda n, k: numpy_vectorised(indptr, indices, p_cdf, pi_cdf, mu_cdf, mdp.r, gamma, H, n, rng),
    }
    for run in runners.values():  # compile / warm caches
        run(10, 0)
    rows = []
    for n in batch_sizes:
        calls = 5 if n >= 10_000 else max(repeats, 20)
        rates = {}
        for name, run in runners.items():
            times = []
            for k in range(1, calls + 1):
                t0 = time.perf_counter()
                run(n, k)
                times.append(time.perf_counter() - t0)
            rates[name] = n * H / statistics.median(times)
        rows.append({"batch_size": n, **{f"{k}_steps_per_second": v for k, v in rates.items()},
                     "ratio_naive_numba": rates["pgexp"] / rates["naive_numba"],
                     "ratio_numpy": rates["pgexp"] / rates["numpy"]})
    return {"benchmark": "sampler", "problem": problem, "horizon": H, "estimator": "reward_to_go", "baseline": "none",
            "threads": 1, "rows": rows,
            "min_ratio_naive_numba": min(r["ratio_naive_numba"] for r in rows),
            "min_ratio_numpy": min(r["ratio_numpy"] for r in rows)}


STANDARD_JOB: dict[str, Any] = {"env": "garnet:states=20,actions=4,branching=3,seed=0", "gamma": 1.0, "theta": "zeros",
                "horizons": (4, 10, 25, 64, 160), "batch_sizes": (4, 16, 64), "pairs": ("gae~value_exact",),
                "replicates": 400, "min_trajectories": 3200, "seed": 0}


def bench_estimate(repeats: int = 3) -> dict[str, Any]:
    """The end-to-end rate of a standard estimate job beside the raw sampler's, in the same process.

    The job is the default study's garnet with ``gae~value_exact`` (15 cells, :data:`STANDARD_JOB`): building the
    problems, the exact truth, every replicate, the table and its parquet file (in a temporary folder); its rate is
    the environment steps of all its estimates over that time (median of ``repeats``, after one untimed run that
    pays compilation).  The raw sampler is :func:`pgexp.sampling.tabular.sample` drawing the same number of
    trajectories of the reference cell (``H = 25``) into arrays, nothing else.
    """
    import tempfile
    from pathlib import Path

    import numba

    from pgexp.io import write_table
    from pgexp.problems.problem import build_problem
    from pgexp.runs.context import TabularContext
    from pgexp.runs.estimate import run_grid
    from pgexp.sampling.rng import Streams
    from pgexp.sampling.tabular import sample

    numba.set_num_threads(1)
    job = STANDARD_JOB

    def build(h):
        return build_problem(job["env"], gamma=job["gamma"], theta=job["theta"], horizon=h)

    def run_job(path: Path) -> int:
        t = run_grid(build, job["horizons"], job["batch_sizes"], list(job["pairs"]), replicates=job["replicates"],
                     seed=job["seed"], min_trajectories=job["min_trajectories"], progress=False)
        write_table(t, str(path), {"kind": "bench"})
        return int(np.asarray(t.column("env_steps")).sum())

    times, steps = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_job(Path(tmp) / "warm.parquet")
        cold = time.perf_counter() - t0
        for k in range(max(repeats, 1)):
            t0 = time.perf_counter()
            steps = run_job(Path(tmp) / f"job{k}.parquet")
            times.append(time.perf_counter() - t0)
    ctx = TabularContext(build(25))
    sample(ctx.mdp, ctx.tables, Streams(1, 0, 1).trajectory_seeds(10))  # compile
    n = 100_000
    raw = []
    for k in range(max(repeats, 5)):
        seeds = Streams(1, k, 1).trajectory_seeds(n)
        t0 = time.perf_counter()
        tr = sample(ctx.mdp, ctx.tables, seeds)
        raw.append(tr.env_steps / (time.perf_counter() - t0))
    job_rate = steps / statistics.median(times)
    sampler_rate = statistics.median(raw)
    return {"benchmark": "estimate", "job": {k: list(v) if isinstance(v, tuple) else v for k, v in job.items()},
            "threads": 1, "env_steps": steps, "seconds": statistics.median(times), "seconds_all": times,
            "seconds_first_run": cold, "steps_per_second": job_rate, "sampler_steps_per_second": sampler_rate,
            "ratio": job_rate / sampler_rate}


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
    from pgexp.runs.train import TrainOptions, train_grid
    from pgexp.runs.train_tables import grid_table

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
    from pgexp.runs.train import TrainOptions, train_grid
    from pgexp.runs.train_tables import grid_table

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
    """Median seconds of GAE's exact moments (lambda 0.95, V = V^pi) by the recursion, the set-up excluded (its
    memo cleared before each repeat: the set-up keeps the moments it computed)."""
    from pgexp.exact.model import make_setup
    from pgexp.exact.moments import trajectory_moments
    from pgexp.problems.problem import build_problem

    prob = build_problem(f"garnet:states={states},actions=4,branching=5,seed=0", horizon=horizon,
                         theta="random:seed=0,scale=1")
    st = make_setup(prob)
    times = []
    for _ in range(max(1, repeats)):
        st.memo.clear()
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


BENCHMARKS = {"exact": bench_exact, "sampler": bench_sampler, "estimate": bench_estimate, "pergrad": bench_pergrad,
              "exact-variance": bench_exact_variance, "train": bench_train}


def run(what: str, *, states: int = 100_000, repeats: int = 3, batch_size: int = 1000,
        threads: int | None = 1) -> dict[str, Any]:
    if what == "exact":
        return bench_exact(states, repeats)
    if what == "sampler":
        return bench_sampler(repeats=repeats)
    if what == "estimate":
        return bench_estimate(repeats)
    if what == "pergrad":
        return bench_pergrad(batch_size, repeats, threads)
    if what == "train":
        return bench_train(repeats)
    if what == "exact-variance":
        return bench_exact_variance(repeats=repeats)
    raise ValueError(f"unknown benchmark {what!r}; allowed: {', '.join(BENCHMARKS)}")
