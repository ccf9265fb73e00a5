"""Training jobs: stochastic gradient ascent over a grid of step sizes x seeds, measured exactly.

Every iteration records the exact ``J(theta_t)`` (tabular), the environment steps used so far, the
batch's mean sampled return, the norm of the update direction and ``||theta_{t+1} - theta_t||``.
Iteration ``t`` draws its batch from the replicate stream ``t`` of the run's identity (problem, theta_0,
horizon, batch size, seed -- not the step size), so the same seed gives the same curve, bit for bit,
whichever other runs share the grid.  A run whose objective, episode or update stops being finite is
recorded as diverged at that iteration (rows so far kept); a study goes on.

Two engines, one table:

* **compiled** (:mod:`pgexp.runs.train_kernels`): softmax-linear policies on small tabular problems with
  ``exact`` or an estimator whose spec names a ``training_kernel``
  (:func:`~pgexp.runs.train_options.compiled_estimators`: the registry says which), baselines
  :data:`~pgexp.runs.train_options.FAST_BASELINES`; every run of the grid in one numba loop, exact ``J`` from a
  compiled solve (:mod:`pgexp.runs.tabular_exact`).  It alone has per-step updates, the online value baseline,
  the exact minimum-variance constant ``optimal_exact``, ``--baseline-offset`` and NPG; their maths is derived
  in :mod:`pgexp.runs.train_kernels`.
* **general** (:func:`pgexp.runs.train_general.train_run`): any registered estimator, baseline and
  hyperparameters, any policy, on either track; one run at a time through
  :func:`pgexp.runs.estimate.estimate_batch`.  On continuous-state tasks the objective is the *evaluation
  return*, the mean undiscounted return of ``eval_episodes`` fresh episodes from a separate evaluation stream
  (columns ``eval_return``, ``eval_return_se``).

Both draw the same trajectories for the same identity, and agree to rounding on what both can do
(``tests/runs/test_training_fast.py``).  Per run the table also says where it ended
(:mod:`pgexp.runs.train_tables`): the greedy policy of its last ``theta`` (``final_policy``), how deterministic
that policy is on the states it visits (``final_policy_prob``), the greedy policy's exact value and whether it is
optimal.  What a job may ask for is checked in :mod:`pgexp.runs.train_options`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.estimators import ESTIMATORS, parse_baseline
from pgexp.runs.estimate import stream_identity
from pgexp.runs.train_codes import DIVERGENCE_REASONS
from pgexp.runs.train_general import Adam, check_run, train_run
from pgexp.runs.train_options import (
    EXACT,
    TRAINING_BASELINES,
    Run,
    TrainOptions,
    baseline_name,
    check_ascent,
    choose_engine,
    fast_only,
    training_kernel,
)
from pgexp.sampling.rng import job_entropy

# ------------------------------------------------------------------------------------ compiled engine

def kernel_model(problem: Any) -> Any:
    """The problem as the compiled kernels see it (:class:`pgexp.runs.train_kernels.Model`)."""
    from pgexp.runs.tabular_exact import dense_mdp
    from pgexp.runs.train_kernels import Model, Sampler
    from pgexp.sampling.tabular import effective_horizon, make_tables

    mdp, pol = problem.mdp, problem.policy
    dm = dense_mdp(mdp)
    tables = make_tables(mdp, np.full((mdp.num_states, mdp.num_actions), 1.0 / mdp.num_actions))
    tabular = problem.features_spec == "tabular"
    phi = np.zeros((1, 1, 1)) if tabular else np.ascontiguousarray(pol.features.dense(), dtype=np.float64)
    c = np.ascontiguousarray
    sampler = Sampler(r=dm.r, absorbing=dm.absorbing, gamma=dm.gamma, horizon=dm.horizon, kind=dm.kind,
                      max_len=int(effective_horizon(mdp)), mu_cdf=c(tables.mu_cdf, dtype=np.float64),
                      pi_ptr=c(tables.pi_ptr, dtype=np.int64), indptr=c(tables.indptr, dtype=np.int64),
                      indices=c(tables.indices, dtype=np.int32), p_prob=c(tables.p_prob, dtype=np.float64),
                      p_alias=c(tables.p_alias, dtype=np.int32))
    return Model(dm=dm, sampler=sampler, phi=phi, tabular=bool(tabular))


def kernel_settings(opts: TrainOptions) -> Any:
    """The job's options as the kernels' numbers (:class:`pgexp.runs.train_kernels.Settings`)."""
    from pgexp.runs import train_codes as C
    from pgexp.runs import train_kernels as K

    kernel = training_kernel(opts.estimator)
    params = ESTIMATORS[opts.estimator].params(opts.params) if opts.estimator in ESTIMATORS else {}
    base = baseline_name(opts.baseline)
    fixed = parse_baseline(opts.baseline).options["c"] if base == "fixed" else 0.0
    n = int(opts.batch_size)
    return K.Settings(
        estimator=C.EXACT if kernel == EXACT else C.KERNELS[str(kernel)], baseline=C.BASELINE_CODES[base],
        optimizer=C.OPTIMIZER_CODES[opts.optimizer], update=C.UPDATE_CODES[opts.update], batch_size=n,
        iterations=int(opts.iterations), fit_batch_size=int(opts.fit_batch_size or n),
        value_features=C.VALUE_FEATURE_CODES[opts.value_features], offset=float(opts.baseline_offset),
        fixed=float(fixed), alpha_w=float(opts.baseline_step_size), lam=float(params.get("lam", 0.0)),
        beta1=float(Adam.beta1), beta2=float(Adam.beta2), eps=float(Adam.eps))


def compiled_runs(problem: Any, opts: TrainOptions, step_sizes: list[float], seeds: list[int]) -> list[Run]:
    """Every (step size, seed) run of the grid through the compiled engine, in that order."""
    from pgexp.runs import train_kernels as K
    from pgexp.sampling.seedseq import entropy_words

    S, A, d = problem.mdp.num_states, problem.mdp.num_actions, problem.policy.dim
    grid = [(float(eta), int(seed)) for eta in step_sizes for seed in seeds]
    R, T = len(grid), int(opts.iterations)
    traced = [i for i, (_, seed) in enumerate(grid) if seed in opts.trace_seeds]
    trace_slot = np.full(R, -1, np.int64)
    trace_slot[traced] = np.arange(len(traced))
    ckpts = np.asarray(opts.checkpoints, dtype=np.int64)
    words = np.stack([entropy_words(job_entropy(stream_identity(problem, opts.batch_size, seed), problem.theta))
                      for _, seed in grid])
    inputs = K.Grid(thetas0=np.tile(np.asarray(problem.theta, dtype=np.float64), (R, 1)),
                    etas=np.array([eta for eta, _ in grid], dtype=np.float64), words=words, checkpoints=ckpts,
                    trace_slot=trace_slot)
    nw = (S if opts.value_features == "onehot" else 1) if opts.baseline == "value_online" else 1
    rows = (R, T + 1)
    out = K.Outputs(J=np.full(rows, np.nan), ret=np.full(rows, np.nan), steps=np.zeros(rows, np.int64),
                    gnorm=np.full(rows, np.nan), snorm=np.full(rows, np.nan), div_at=np.full(R, -1, np.int64),
                    reason=np.zeros(R, np.int64), theta=np.zeros((R, d)), w=np.zeros((R, nw)),
                    ckpt=np.full((R, max(len(ckpts), 1), d), np.nan),
                    trace=np.full((max(len(traced), 1), T + 1 if traced else 1, S * A), np.nan))
    K.train_grid(kernel_model(problem), kernel_settings(opts), inputs, out)
    runs = []
    for i in range(R):
        last = T if out.div_at[i] < 0 else int(out.div_at[i])
        n = last + 1
        run = Run()
        run.rows = {"iteration": list(range(n)), "J": out.J[i, :n], "batch_return_mean": out.ret[i, :n],
                    "env_steps": out.steps[i, :n], "grad_norm": out.gnorm[i, :n],
                    "step_norm": out.snorm[i, :n], "diverged": np.arange(n) == out.div_at[i]}
        run.diverged = bool(out.div_at[i] >= 0)
        run.reason = DIVERGENCE_REASONS[int(out.reason[i])]
        run.theta = out.theta[i].copy()
        run.value_weights = out.w[i].copy() if opts.baseline == "value_online" else None
        run.checkpoints = {int(t): out.ckpt[i, k].copy() for k, t in enumerate(ckpts) if t <= last}
        if trace_slot[i] >= 0:
            run.trace = out.trace[trace_slot[i], :n].copy()
        runs.append(run)
    return runs


def general_runs(problem: Any, opts: TrainOptions, step_sizes: list[float], seeds: list[int],
                 tick: Callable[[int], None] | None = None) -> list[Run]:
    """Every (step size, seed) run through the general engine (it keeps no policy trace)."""
    return [train_run(problem, opts.estimator, opts.baseline, params=opts.params, batch_size=opts.batch_size,
                      step_size=eta, iterations=opts.iterations, seed=seed, optimizer=opts.optimizer,
                      checkpoints=opts.checkpoints, fit_batch_size=opts.fit_batch_size,
                      eval_episodes=opts.eval_episodes, tick=tick)
            for eta in step_sizes for seed in seeds]


def check_grid(problem: Any, opts: TrainOptions, step_sizes: list[float], engine: str = "auto") -> str:
    """The engine that will run the grid (``engine``: ``auto``, ``compiled`` or ``general``); every option is
    checked and a combination neither engine can run is refused by name, before anything runs."""
    for eta in step_sizes:
        check_ascent(opts.optimizer, eta, opts.iterations)
    chosen = choose_engine(problem, opts)
    if engine == "general" and chosen == "compiled":
        if opts.update == "per_step" or opts.optimizer == "npg" or opts.baseline in TRAINING_BASELINES \
                or opts.baseline_offset:
            raise UserError(f"--engine general: cannot run these options; allowed: auto, compiled ({fast_only()})")
        chosen = "general"
    elif engine == "compiled" and chosen == "general":
        raise UserError(f"--engine compiled: needs the {fast_only()}; allowed here: auto, general")
    elif engine not in ("auto", "compiled", "general"):
        raise UserError(f"--engine: {engine!r}; allowed: auto, compiled, general")
    if chosen == "general":
        check_run(problem, opts.estimator, opts.baseline, opts.params, opts.batch_size, 1.0, opts.iterations,
                   opts.optimizer, opts.fit_batch_size, opts.eval_episodes)
    else:
        from pgexp import exact

        exact.gradient(problem.mdp, problem.policy, problem.theta)  # an invalid start is the user's mistake
    return chosen


def train_grid(problem: Any, opts: TrainOptions, step_sizes: list[float], seeds: list[int], *,
               engine: str = "auto", tick: Callable[[int], None] | None = None) -> tuple[list[Run], str]:
    """All runs of the grid ``step_sizes x seeds`` (that order) and the engine that ran them.

    ``engine``: ``auto`` (compiled where it applies), ``compiled`` or ``general`` (refused by name where
    it cannot run the options).  ``tick(n)`` reports progress in iterations (the compiled engine reports
    the grid at once, when it is done).
    """
    chosen = check_grid(problem, opts, step_sizes, engine)
    if chosen == "compiled":
        runs = compiled_runs(problem, opts, step_sizes, seeds)
        if tick is not None:
            tick(len(runs) * (opts.iterations + 1))
        return runs, chosen
    return general_runs(problem, opts, step_sizes, seeds, tick), chosen
