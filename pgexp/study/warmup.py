"""Compile pgexp's numba kernels into numba's on-disk cache before the jobs that use them: ``pgexp compile``.

A kernel is compiled the first time a process calls it and cached beside its source (``__pycache__``): on a
fresh clone the first jobs of a study each compile what they use -- about 10 s of CPU for the estimate
engine, 30 s for the compiled trainer, 15 s for the exact engine -- and jobs that start together compile the
same kernels side by side.  The workflow runs one ``pgexp compile FAMILY`` job per family first and the jobs
wait for theirs: each kernel is compiled once, the families side by side.

Each family runs tiny versions of what its jobs run -- every built-in pair on every objective, the compiled
trainer, the exact engine's recursions -- so the kernels are compiled with the argument types the jobs use
(the cache is keyed by them); a family whose kernels are cached already takes about a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

TINY: dict[str, tuple[str, float | None, int | str]] = {  # (env, gamma, horizon): one problem per objective
    "finite": ("garnet:states=3,actions=2,branching=2,seed=0", 0.9, 3),
    "episodic": ("short_corridor", None, "inf"),
    "discounted": ("chain:length=3", 0.8, "inf"),
}


def built_in_pairs(kind: str) -> list[str]:
    """Every built-in estimator~baseline pair defined for an objective on the tabular track and sampled one
    trajectory at a time (group estimators need ``--group-size`` and run no compiled estimate kernel)."""
    from pgexp.estimators import BASELINES, ESTIMATORS

    return [f"{e.name}~{b}" if not BASELINES[b].options else f"{e.name}~{b}:c=0.5"
            for e in ESTIMATORS.values() if kind in e.objectives and "tabular" in e.tracks and not callable(e.fn)
            and e.min_group_size is None for b in e.baselines if "tabular" in BASELINES[b].tracks]


def warm_estimate() -> None:
    """The estimate engine: every built-in pair on every objective (fused and general routes, stacked and alone),
    the practice options, per-trajectory gradients."""
    from pgexp.problems.problem import build_problem
    from pgexp.runs.estimate import run_pairs

    for kind, (env, gamma, horizon) in TINY.items():
        prob = build_problem(env, gamma=gamma, horizon=horizon)
        pairs = built_in_pairs(kind)
        fused_only = [p for p in pairs if p.split("~")[0] in ("reinforce", "reward_to_go", "gae")
                      and p.split("~")[1].partition(":")[0] in ("none", "value_exact")]
        for chosen in (pairs, fused_only):  # the fused kernels reading drawn arrays, then drawing their own
            run_pairs(prob, chosen, batch_size=2, replicates=3, seed=0, progress=False)
        practice = {"finite": ["gae_common~value_exact~norm", "reward_to_go~none~norm"],
                    "episodic": ["reward_to_go~value_exact~cut2-value_learned",
                                 "reward_to_go~value_exact~norm+cut2-none"],
                    "discounted": ["reward_to_go~value_exact~cut2-value_learned"]}[kind]
        run_pairs(prob, practice, batch_size=2, replicates=3, seed=0, progress=False)


def warm_train() -> None:
    """The compiled trainer (one kernel serves every estimator, baseline, optimizer and update) and the exact
    ascent path."""
    from pgexp.problems.problem import build_problem
    from pgexp.runs.train import TrainOptions, train_grid

    prob = build_problem(TINY["finite"][0], gamma=0.9, horizon=3)
    for est, base in (("reinforce", "none"), ("exact", "none")):
        train_grid(prob, TrainOptions(est, base, batch_size=2, iterations=2), [0.1], [0])


def warm_exact() -> None:
    """The exact engine's compiled loops: moment recursions and curves, the decomposition, GAE's trade-off, the
    enumeration of normalised batches, the compiled normal draws of the cosine prediction."""
    from pgexp.estimators import BASELINES, ESTIMATORS
    from pgexp.exact.batch import COMPILED_DRAWS, normal_cosine
    from pgexp.exact.catalogue import decomposable, exact_pairs
    from pgexp.exact.decomposition import decomposition_table
    from pgexp.exact.moments import exact_curves
    from pgexp.exact.normalization import exact_normalized
    from pgexp.exact.tradeoff import lambda_tradeoff
    from pgexp.problems.problem import build_problem

    env, gamma, _ = TINY["finite"]

    def build(h):
        return build_problem(env, gamma=gamma, horizon=h)

    pairs = [p for p in exact_pairs(list(ESTIMATORS), [b for b in BASELINES if not BASELINES[b].options])
             if "tabular" in ESTIMATORS[p[0]].tracks]
    exact_curves(build, [2, 3], pairs, [1, 2], lam=0.9)
    decomposition_table(build, [2, 3], [p for p in pairs if p[0] in decomposable()], lam=0.9)
    lambda_tradeoff(build(3), [0.5, 1.0], [1, 2])
    exact_normalized(build(2), "reward_to_go", "value_exact", [1, 2])
    d = 4
    normal_cosine(np.zeros(d), np.eye(d), np.ones(d), [1], np.random.SeedSequence(0), draws=-(-COMPILED_DRAWS // d))


def warm_analysis() -> None:
    """The bootstrap's compiled resample counts (metrics, slopes, comparisons, curves)."""
    from pgexp.analysis.resampling import draw_counts

    draw_counts(np.random.default_rng(0), 5, 3)
    draw_counts(np.random.default_rng(0), 5, 3, with_sample=True)


FAMILIES: dict[str, Callable[[], None]] = {"estimate": warm_estimate, "train": warm_train, "exact": warm_exact,
                                           "analysis": warm_analysis}


def warm(family: str) -> dict[str, float]:
    """Compile one family's kernels (``all``: every family); seconds per family."""
    names = list(FAMILIES) if family == "all" else [family]
    out = {}
    for name in names:
        t0 = time.perf_counter()
        FAMILIES[name]()
        out[name] = time.perf_counter() - t0
    return out
