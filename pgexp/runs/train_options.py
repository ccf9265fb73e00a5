"""What a training job is (:class:`TrainOptions`, one :class:`Run`'s rows) and what it may ask for: the checks
of its options, and which engine of :mod:`pgexp.runs.train` runs it (:func:`choose_engine`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.estimators import ESTIMATORS
from pgexp.estimators.baselines import TRAINING_ONLY_BASELINES
from pgexp.runs.estimate import check_combination
from pgexp.runs.train_codes import KERNEL_PARAMS, KERNELS, PER_STEP_KERNELS

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
    kernel = training_kernel(estimator)
    if kernel == EXACT:
        return kernel
    spec = ESTIMATORS[estimator]
    if kernel not in KERNELS:
        raise UserError(f"estimator {estimator}: training_kernel {kernel!r}; allowed: {', '.join(KERNELS)}")
    missing = [h for h in KERNEL_PARAMS.get(str(kernel), ()) if h not in spec.defaults()]
    if missing:
        raise UserError(f"estimator {estimator}: training_kernel {kernel!r} reads the hyperparameter {missing[0]!r}, "
                        "which the estimator does not have")
    return str(kernel)


def check_compiled(problem: Any, opts: TrainOptions) -> None:
    """Refuse, by name, the combinations the compiled engine cannot give a meaning to."""
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
