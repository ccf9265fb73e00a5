"""Training jobs: stochastic gradient ascent over a grid of step sizes x seeds, measured exactly.

Every iteration records the exact ``J(theta_t)`` (tabular), the environment steps used so far, the
batch's mean sampled return, the norm of the update direction and ``||theta_{t+1} - theta_t||``.
Iteration ``t`` draws its batch from the replicate stream ``t`` of the run's identity (problem, theta_0,
horizon, batch size, seed -- not the step size), so the same seed gives the same curve, bit for bit,
whichever other runs share the grid.  A run whose objective, episode or update stops being finite is
recorded as diverged at that iteration (rows so far kept); a study goes on.

Two engines, one table:

* **compiled** (:mod:`pgexp.runs.train_kernels`): softmax-linear policies on small tabular problems with
  ``exact`` or an estimator whose spec names a ``training_kernel`` (:func:`compiled_estimators`: the
  registry says which), baselines :data:`FAST_BASELINES`; every run of the grid in one numba loop, exact
  ``J`` from a compiled solve (:mod:`pgexp.runs.tabular_exact`).  It alone has per-step updates, the online
  value baseline, the exact minimum-variance constant ``optimal_exact``, ``--baseline-offset`` and NPG;
  their maths is derived in :mod:`pgexp.runs.train_kernels`.
* **general** (:func:`train_run`): any registered estimator, baseline and hyperparameters, any policy, on
  either track; one run at a time through :func:`pgexp.runs.estimate.estimate_batch`.  On continuous-state
  tasks the objective is the *evaluation return*, the mean undiscounted return of ``eval_episodes`` fresh
  episodes from a separate evaluation stream (columns ``eval_return``, ``eval_return_se``).

Both draw the same trajectories for the same identity, and agree to rounding on what both can do
(``tests/runs/test_training_fast.py``).  Per run the table also says where it ended: the greedy policy of
its last ``theta`` (``final_policy``), how deterministic that policy is on the states it visits
(``final_policy_prob``), the greedy policy's exact value and whether it is optimal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from pgexp.errors import UserError
from pgexp.estimators import ESTIMATORS, parse_baseline
from pgexp.estimators.baselines import TRAINING_ONLY_BASELINES
from pgexp.runs.context import make_context
from pgexp.runs.estimate import check_combination, estimate_batch, stream_identity
from pgexp.sampling.rng import MAIN, job_entropy, stream

OPTIMIZERS = ("sga", "adam", "npg")
UPDATES = ("per_batch", "per_step")
VALUE_FEATURES = ("onehot", "constant")
TRAINING_BASELINES = TRAINING_ONLY_BASELINES
EXACT = "exact"  # --estimator exact: ascend the exact gradient
FAST_BASELINES = ("none", "constant", "value_exact", "value_online", "optimal_exact", "optimal_npg_exact",
                  "fixed")
CONVERGED_MIN_OCCUPANCY = 1e-3  # states with at least this share of the final policy's visits judge convergence


@dataclass(frozen=True)
class TrainOptions:
    """What a training job does besides the problem, the step sizes and the seeds.

    Attributes:
        estimator: a registered estimator, or ``exact`` (ascend the exact gradient).
        baseline: a registered baseline, or ``value_online`` / ``optimal_exact`` / ``optimal_npg_exact`` (training
            only).
        batch_size: trajectories per iteration ``N`` (1 with ``update = per_step``).
        iterations: ``T``; rows are ``t = 0..T`` (the last without an update).
        optimizer: ``sga`` (``theta += eta g``), ``adam``, or ``npg`` (tabular natural gradient).
        update: ``per_batch`` (one step per iteration) or ``per_step`` (after every time step, the book's).
        baseline_offset: ``epsilon`` added to the baseline (any baseline; 0 = none).
        baseline_step_size: ``alpha_w`` of ``value_online``.
        value_features: ``onehot`` (one weight per state) or ``constant`` (one weight) for ``value_online``.
        params: the estimator's hyperparameters (e.g. ``{"lam": 0.95}`` for ``gae``; the registry's).
        fit_batch_size: trajectories of every auxiliary fit (general engine; default the batch size).
        eval_episodes: continuous-state tasks: fresh episodes per evaluation of the objective.
        checkpoints: iterations whose ``theta`` is kept.
        record_every: keep the rows ``t = 0, k, 2k, ...`` and each run's last row (1 = every iteration).
        trace_seeds: seeds whose policy ``pi`` is kept at every kept row (column ``trace_pi``).
    """

    estimator: str
    baseline: str = "none"
    batch_size: int = 1
    iterations: int = 100
    optimizer: str = "sga"
    update: str = "per_batch"
    baseline_offset: float = 0.0
    baseline_step_size: float = 0.0
    value_features: str = "onehot"
    params: Mapping[str, float] = field(default_factory=dict)
    fit_batch_size: int | None = None
    eval_episodes: int = 20
    checkpoints: tuple[int, ...] = ()
    record_every: int = 1
    trace_seeds: tuple[int, ...] = ()

    def columns(self) -> dict:
        """The options as table columns (constant per job)."""
        online = self.baseline == "value_online"
        return {"estimator": self.estimator, "baseline": self.baseline, "batch_size": int(self.batch_size),
                "optimizer": self.optimizer, "update": self.update, "baseline_offset": float(self.baseline_offset),
                "baseline_step_size": float(self.baseline_step_size) if online else 0.0,
                "value_features": self.value_features if online else "", "iterations": int(self.iterations),
                "record_every": int(self.record_every), **{k: float(v) for k, v in self.params.items()},
                **({"fit_batch_size": int(self.fit_batch_size)} if self.fit_batch_size is not None else {})}


ROWS = ("iteration", "J", "batch_return_mean", "env_steps", "grad_norm", "step_norm", "diverged")
EVAL_ROWS = ("eval_return", "eval_return_se")  # continuous-state tasks


@dataclass
class Run:
    """One run: its rows (``iteration``, ``J``, ``batch_return_mean``, ``env_steps``, ``grad_norm``,
    ``step_norm``, ``diverged``), checkpoints ``{iteration: theta}``, last finite ``theta``, the policy trace
    ``(rows, S*A)`` (traced seeds), the online value weights ``w`` at the end (``value_online``) and why it
    diverged (empty if it did not)."""

    rows: dict[str, Any] = field(default_factory=lambda: {k: [] for k in ROWS})
    checkpoints: dict[int, np.ndarray] = field(default_factory=dict)
    diverged: bool = False
    reason: str = ""
    theta: np.ndarray | None = None
    trace: np.ndarray | None = None
    value_weights: np.ndarray | None = None


# ------------------------------------------------------------------------------------------ checks

def check_ascent(optimizer: str, step_size: float, iterations: int) -> None:
    """Refuse an unknown optimizer, a non-positive step size or a negative iteration count, by name."""
    if optimizer not in OPTIMIZERS:
        raise UserError(f"--optimizer: {optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
    if not (np.isfinite(step_size) and step_size > 0):
        raise UserError(f"--step-size: {step_size!r}; allowed: a positive number")
    if iterations < 0:
        raise UserError(f"--iterations: {iterations}; allowed: a non-negative integer")


def training_kernel(estimator: str) -> str | None:
    """The compiled engine's kernel for ``estimator``: its spec's ``training_kernel`` (``exact`` for
    ``exact``), or ``None`` when only the general engine runs it."""
    if estimator == EXACT:
        return EXACT
    spec = ESTIMATORS.get(estimator)
    return None if spec is None else spec.training_kernel


def compiled_estimators() -> list[str]:
    """The registered estimators the compiled engine runs (read from the registry, plug-ins included)."""
    return [e.name for e in ESTIMATORS.values() if e.training_kernel is not None]


def fast_only() -> str:
    """What the compiled engine needs, in words (for messages)."""
    return ("compiled engine: softmax-linear policy, a small tabular problem, "
            f"--estimator {'|'.join(compiled_estimators())}")


def baseline_name(baseline: str) -> str:
    """``fixed`` of ``fixed:c=0.5``: the baseline's registry (or training-only) name."""
    return baseline.partition(":")[0]


def compiled_engine_fits(problem: Any) -> bool:
    """Whether the compiled engine can run this problem (softmax-linear policy, small dense MDP)."""
    from pgexp.policies.softmax_linear import SoftmaxLinearPolicy
    from pgexp.runs.tabular_exact import fits_dense

    if getattr(problem, "track", "tabular") != "tabular" or getattr(problem, "group_size", 1) > 1:
        return False  # group sampling (pgexp.sampling.groups) runs through the general engine
    pol = problem.policy
    return isinstance(pol, SoftmaxLinearPolicy) and fits_dense(problem.mdp) and \
        pol.num_states * pol.num_actions * pol.dim <= 4_000_000


def one_step(mdp) -> bool:
    """Whether every episode is one action long (a bandit / contextual bandit, or ``H = 1``)."""
    if mdp.horizon == 1:
        return True
    absorbing = mdp.absorbing_states()
    starts = np.flatnonzero(mdp.mu > 0)
    if absorbing[starts].any():
        return False
    nxt = mdp.dense_P[starts].reshape(-1, mdp.num_states)
    return bool(np.all(nxt[:, ~absorbing] == 0.0))


def check_options(opts: TrainOptions) -> None:
    """Refuse option values that are wrong whatever the problem, by name."""
    if opts.update not in UPDATES:
        raise UserError(f"--update: {opts.update!r}; allowed: per-batch, per-step")
    if opts.optimizer not in OPTIMIZERS:
        raise UserError(f"--optimizer: {opts.optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
    if opts.value_features not in VALUE_FEATURES:
        raise UserError(f"value_features: {opts.value_features!r}; allowed: {', '.join(VALUE_FEATURES)}")
    if opts.iterations < 0:
        raise UserError(f"--iterations: {opts.iterations}; allowed: a non-negative integer")
    if opts.record_every < 1:
        raise UserError(f"--record-every: {opts.record_every}; allowed: a positive integer")
    if not np.isfinite(opts.baseline_offset):
        raise UserError(f"--baseline-offset: {opts.baseline_offset!r}; allowed: a finite number")
    if opts.batch_size < 1:
        raise UserError(f"--batch-size: {opts.batch_size}; allowed: a positive integer")
    if opts.baseline == "value_online":
        if not (np.isfinite(opts.baseline_step_size) and opts.baseline_step_size > 0):
            raise UserError(f"--baseline-step-size: {opts.baseline_step_size!r}; --baseline value_online needs a "
                            "positive alpha_w")
    elif opts.baseline_step_size:
        raise UserError(f"--baseline-step-size: only with --baseline value_online (got --baseline {opts.baseline})")


def compiled_only(opts: TrainOptions) -> list[str]:
    """The options that only the compiled engine has (as the user wrote them)."""
    return [name for name, on in (
        ("--update per-step", opts.update == "per_step"), ("--optimizer npg", opts.optimizer == "npg"),
        (f"--baseline {opts.baseline}", opts.baseline in TRAINING_BASELINES),
        ("--baseline-offset", opts.baseline_offset != 0.0)) if on]


def check_kernel(estimator: str) -> str:
    """The estimator's compiled kernel, refused by name when the engine has no such kernel or the estimator
    lacks a hyperparameter the kernel reads (a plug-in's ``training_kernel``)."""
    from pgexp.runs import train_kernels as K

    kernel = training_kernel(estimator)
    if kernel == EXACT:
        return kernel
    spec = ESTIMATORS[estimator]
    if kernel not in K.KERNELS:
        raise UserError(f"estimator {estimator}: training_kernel {kernel!r}; allowed: {', '.join(K.KERNELS)}")
    missing = [h for h in K.KERNEL_PARAMS.get(str(kernel), ()) if h not in spec.defaults()]
    if missing:
        raise UserError(f"estimator {estimator}: training_kernel {kernel!r} reads the hyperparameter {missing[0]!r}, "
                        "which the estimator does not have")
    return str(kernel)


def check_compiled(problem: Any, opts: TrainOptions) -> None:
    """Refuse, by name, the combinations the compiled engine cannot give a meaning to."""
    from pgexp.runs.train_kernels import PER_STEP_KERNELS

    kernel = check_kernel(opts.estimator)
    if kernel == EXACT:
        if opts.baseline != "none" or opts.update != "per_batch" or opts.baseline_offset:
            raise UserError("--estimator exact ascends the exact gradient: no baseline, offset or per-step update")
    else:
        check_combination(problem, opts.estimator, "none" if opts.baseline in TRAINING_BASELINES else opts.baseline,
                          opts.batch_size)
        if ESTIMATORS[opts.estimator].baselines == ("none",) and (opts.baseline != "none" or opts.baseline_offset):
            raise UserError(f"--estimator {opts.estimator} takes no baseline: --baseline {opts.baseline}"
                            f"{' --baseline-offset' if opts.baseline_offset else ''}; allowed: --baseline none")
    if opts.update == "per_step":
        if kernel not in PER_STEP_KERNELS:
            allowed = [e for e in compiled_estimators() if ESTIMATORS[e].training_kernel in PER_STEP_KERNELS]
            raise UserError(f"--update per-step: --estimator {opts.estimator}; allowed: {', '.join(allowed)} (a "
                            "step's weight may not need the later steps)")
        if opts.batch_size != 1:
            raise UserError(f"--update per-step: --batch-size {opts.batch_size}; allowed: 1 (the book's algorithm "
                            "updates after every step of every episode)")
        if opts.optimizer == "adam":
            raise UserError("--update per-step: --optimizer adam is not supported; allowed: sga, npg")
    if opts.optimizer == "npg" and problem.features_spec != "tabular":
        raise UserError(f"--optimizer npg: needs --features tabular (theta a table of logits), got "
                        f"{problem.features_spec!r}")
    if opts.baseline in ("optimal_exact", "optimal_npg_exact") and not one_step(problem.mdp):
        raise UserError(f"--baseline {opts.baseline}: the exact minimum-variance constant is implemented for "
                        "one-step problems (bandits, H = 1); this problem's episodes are longer")


def choose_engine(problem: Any, opts: TrainOptions) -> str:
    """``"compiled"`` or ``"general"``; refuses a combination neither can run, naming the option."""
    check_options(opts)
    fast = training_kernel(opts.estimator) is not None and baseline_name(opts.baseline) in FAST_BASELINES and \
        compiled_engine_fits(problem)
    if not fast:
        special = compiled_only(opts)
        if special:
            raise UserError(f"{special[0]}: needs the {fast_only()} and a baseline among {', '.join(FAST_BASELINES)} "
                            f"(got --estimator {opts.estimator} --baseline {opts.baseline})")
        return "general"
    check_compiled(problem, opts)
    return "compiled"


# ------------------------------------------------------------------------------------ general engine

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
    est, choice, params = _check_run(problem, estimator, baseline, params, batch_size, step_size, iterations,
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


def _check_run(problem: Any, estimator: str, baseline: str, params: Mapping[str, float] | None, batch_size: int,
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
    from pgexp.runs import train_kernels as K

    kernel = training_kernel(opts.estimator)
    params = ESTIMATORS[opts.estimator].params(opts.params) if opts.estimator in ESTIMATORS else {}
    base = baseline_name(opts.baseline)
    fixed = parse_baseline(opts.baseline).options["c"] if base == "fixed" else 0.0
    n = int(opts.batch_size)
    return K.Settings(
        estimator=K.EXACT if kernel == EXACT else K.KERNELS[str(kernel)], baseline=K.BASELINE_CODES[base],
        optimizer=K.OPTIMIZER_CODES[opts.optimizer], update=K.UPDATE_CODES[opts.update], batch_size=n,
        iterations=int(opts.iterations), fit_batch_size=int(opts.fit_batch_size or n),
        value_features=K.VALUE_FEATURE_CODES[opts.value_features], offset=float(opts.baseline_offset),
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
        run.reason = K.DIVERGENCE_REASONS[int(out.reason[i])]
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
        _check_run(problem, opts.estimator, opts.baseline, opts.params, opts.batch_size, 1.0, opts.iterations,
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


# ------------------------------------------------------------------------------------ where runs end

def final_policy(problem: Any, theta: np.ndarray, J_star: float, dense=None, cache: dict | None = None) -> dict:
    """Which deterministic policy a run's last ``theta`` is closest to, and whether it is optimal.

    ``final_policy``: the greedy action of every non-absorbing state (comma-separated; for a bandit the
    arm); ``final_policy_prob``: the smallest ``max_a pi(a|s)`` over the states that hold at least
    :data:`CONVERGED_MIN_OCCUPANCY` of the final policy's visits (1 = deterministic where it matters);
    ``final_policy_J``: the greedy policy's exact value (``-inf`` if it never terminates);
    ``final_policy_optimal``: whether that value is ``J*`` (to 1e-9 relative).  ``dense`` (a
    :class:`~pgexp.runs.tabular_exact.DenseMDP`) and ``cache`` (greedy policy -> value) make many runs cheap.
    """
    from pgexp.runs.tabular_exact import dense_mdp, values, visits

    mdp = problem.mdp
    dm = dense if dense is not None else dense_mdp(mdp)
    cache = {} if cache is None else cache
    pi = problem.policy.probs(theta)
    greedy = pi.argmax(axis=1)
    live = ~dm.absorbing
    V = np.zeros((dm.horizon + 1 if dm.horizon > 0 else 1, mdp.num_states))
    occ = np.zeros(mdp.num_states)
    with np.errstate(all="ignore"):
        _, ok = values(dm, pi, V)
        ok = ok and visits(dm, pi, occ)
    where = (occ >= CONVERGED_MIN_OCCUPANCY * occ.sum()) & live if ok else live & (mdp.mu > 0)
    prob = float(pi.max(axis=1)[where].min()) if where.any() else float("nan")
    key = tuple(int(a) for a in greedy)
    if key not in cache:
        det = np.zeros_like(pi)
        det[np.arange(pi.shape[0]), greedy] = 1.0
        with np.errstate(all="ignore"):
            J, ok = values(dm, det, V)
        cache[key] = float(J) if ok else float("-inf")
    J_greedy = cache[key]
    optimal = bool(np.isfinite(J_greedy) and J_greedy >= J_star - 1e-9 * (1.0 + abs(J_star)))
    return {"final_policy": ",".join(str(int(a)) for a in greedy[live]), "final_policy_prob": prob,
            "final_policy_J": J_greedy, "final_policy_optimal": optimal}


def keep_rows(n: int, every: int) -> np.ndarray:
    """Indices of the kept rows of a run with ``n`` rows: ``0, k, 2k, ...`` and the last."""
    idx = np.arange(0, n, every)
    return idx if idx[-1] == n - 1 else np.append(idx, n - 1)


def grid_table(problem: Any, runs: list[Run], grid: list[tuple[float, int]], params: dict,
               opts: TrainOptions, engine: str) -> pa.Table:
    """One table for the grid: one row per kept iteration of each run, the job's parameters as columns,
    ``J_star``, ``J_0``, ``run_diverged``, ``diverged_reason``, the final-policy columns
    (:func:`final_policy`) and, for traced seeds, ``trace_pi`` (``pi`` flattened, ``S*A``)."""
    from pgexp.runs.tabular_exact import dense_mdp, fits_dense

    J_star = make_context(problem).best_return()
    ident = problem.identity()
    tabular = getattr(problem, "track", "tabular") == "tabular"
    dense = dense_mdp(problem.mdp) if tabular and fits_dense(problem.mdp) else None
    cache: dict[tuple[int, ...], float] = {}
    chunks: dict[str, list] = {}
    lengths = []
    for (eta, seed), run in zip(grid, runs):
        keep = keep_rows(len(run.rows["iteration"]), opts.record_every)
        n = keep.size
        lengths.append(n)
        cols = {k: np.asarray(v)[keep] for k, v in run.rows.items()}
        theta = run.theta if run.theta is not None else problem.theta
        fin = final_policy(problem, theta, J_star, dense, cache) if dense is not None else {}
        cols |= {"step_size": np.full(n, eta), "seed": np.full(n, seed, np.int64), "J_0": np.full(n, run.rows["J"][0]),
                 "run_diverged": np.full(n, run.diverged), "diverged_reason": np.full(n, run.reason, object),
                 **{k: np.full(n, v, object if isinstance(v, str) else None) for k, v in fin.items()}}
        for k, v in cols.items():
            chunks.setdefault(k, []).append(v)
    total = int(sum(lengths))
    table: dict[str, pa.Array] = {}
    shape = {"num_states": problem.mdp.num_states, "num_actions": problem.mdp.num_actions} if tabular else {}
    for k, v in {**ident, **shape, **params, "engine": engine}.items():
        table[k] = pa.array(np.full(total, v, dtype=object if isinstance(v, str) else None))
    for k, parts in chunks.items():
        table[k] = pa.array(np.concatenate(parts))
    table["J_star"] = pa.array(np.full(total, J_star))
    traced = [(run, keep_rows(len(run.rows["iteration"]), opts.record_every)) for run in runs]
    if any(run.trace is not None for run in runs):
        flat, offsets, mask = [], [0], []
        for run, keep in traced:
            for j in keep:
                row = run.trace[j] if run.trace is not None else np.zeros(0)
                flat.append(row)
                offsets.append(offsets[-1] + row.size)
                mask.append(run.trace is None)
        values = pa.array(np.concatenate(flat) if flat else np.zeros(0))
        table["trace_pi"] = pa.ListArray.from_arrays(pa.array(np.asarray(offsets, np.int32)), values,
                                                   mask=pa.array(np.asarray(mask)))
    return pa.table(table)


def run_table(problem: Any, run: Run, params: dict) -> pa.Table:
    """One run as a table (the one-run API): :func:`grid_table` of a grid of one, ``params`` as columns."""
    eta, seed = float(params.get("step_size", np.nan)), int(params.get("seed", 0))
    rest = {k: v for k, v in params.items() if k not in ("step_size", "seed")}
    return grid_table(problem, [run], [(eta, seed)], rest, TrainOptions(estimator=str(params.get("estimator", ""))),
                      "general")
