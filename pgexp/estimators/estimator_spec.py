"""The estimator spec (:class:`Estimator`), its unbiasedness rules, and its registry :data:`ESTIMATORS`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pgexp.errors import UserError
from pgexp.estimators.baseline_spec import BASELINES, BaselineChoice, parse_baseline
from pgexp.estimators.exact_spec import ExactSpec
from pgexp.estimators.hyperparameter import Hyperparameter
from pgexp.estimators.vocabulary import OBJECTIVES, TRACKS, resolve

Unbiased = bool | Callable[..., bool]  # (baseline, params) or (baseline, params, gamma) -> bool
GAMMAS_UNKNOWN = (1.0, 0.5)  # where a rule that reads gamma is asked without one: unbiased only if at both


def takes_gamma(rule: Callable[..., bool]) -> bool:
    """Whether an unbiasedness rule reads the objective's discount: a third positional parameter, or ``gamma``."""
    try:
        params = inspect.signature(rule).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.name == "gamma" or p.kind == p.VAR_POSITIONAL for p in params)


def apply_rule(rule: Callable[..., bool], baseline: str, params: Mapping[str, float], gamma: float | None) -> Any:
    """``rule(baseline, params)``, or with the discount when it reads it (third positional, or ``gamma=``)."""
    if gamma is None or not takes_gamma(rule):
        return rule(baseline, params)
    try:
        positional = [p for p in inspect.signature(rule).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        positional = []
    return rule(baseline, params, gamma) if len(positional) >= 3 or any(
        p.kind == p.VAR_POSITIONAL for p in positional) else rule(baseline, params, gamma=gamma)


@dataclass(frozen=True)
class Estimator:
    """A registered estimator: everything the system asks of it.

    Attributes:
        name: registry key (``--estimator``).
        fn: ``"module:function"`` or callable ``fn(batch) -> w (N, L)`` (see the module docstring).
        baselines: the baselines it accepts (names in :data:`BASELINES`).
        unbiased: whether ``E[g] = grad J`` exactly: a bool, or a rule ``unbiased(baseline_name, params)`` or
            ``unbiased(baseline_name, params, gamma)`` when the answer depends on the objective's discount
            (the ``*_common`` estimators: unbiased only with ``gamma = 1``).  ``pgexp check-estimator`` tests
            every claim.
        objectives: objective kinds it is defined for (``finite``, ``discounted``, ``episodic``).
        hyperparameters: its :class:`Hyperparameter` s; ``batch.params`` holds their values.
        tracks: ``tabular`` (exact gradient) and/or ``continuous`` (continuous-state tasks).
        sampling: ``trajectories`` (the job's common trajectories: paired with every other such estimator)
            or ``rollin_rollout`` (its own scheme: one ``(s, a)`` per sample, ``batch.returns`` the roll-out).
        fit: an auxiliary fit of its own, ``"module:function"`` or callable ``(ctx, seq, n) -> (fitted,
            env_steps)`` drawn on an independent stream with ``n = --fit-batch-size`` (``batch.fitted``).
        label, color, order: how figures show it.
        doc: one line (CLI help).
        vectorized: ``fn`` takes a stack of replicates (``batch.blocks > 1``) and computes each trajectory's weights
            from its own replicate only (per-trajectory formulas qualify as they are; :mod:`pgexp.estimators.batch`);
            with a ``fit``, that takes a :class:`~pgexp.sampling.rng.Streams` stack and returns one fit per
            replicate.  Otherwise (a plug-in's default) the runner calls ``fn`` and ``fit`` once per replicate.
        min_group_size: ``None``: not a group estimator; else it is sampled in groups of ``G`` responses per prompt
            (:mod:`pgexp.sampling.groups`; ``pgexp check-estimator`` samples it so) and needs ``G >=`` this.
        scale: the claim "unbiased up to a positive scalar": ``"module:function"`` or callable ``(group_size,
            horizon, params) -> c > 0`` with ``E ĝ = c grad J`` (``dr_grpo``: ``(G - 1)/(G H)``); ``None``: no such
            claim.  ``pgexp check-estimator`` tests it like ``unbiased``.
        kernel: the step-weight rule the fused kernels know it by (one of :data:`KERNEL_RULES`; ``advantage``
            reads the estimator's per-replicate fit ``(S, A)`` if it has one, else the exact advantage), so a stack
            is sampled, weighted and accumulated in one compiled pass; ``None``: the general route only.  The
            two routes give the same numbers (a test).
        training_kernel: the compiled training engine's implementation of the same step weights
            (:data:`pgexp.runs.train_kernels.KERNELS`: ``reinforce``, ``reward_to_go``, ``reward_to_go_common``,
            ``gae``, ``gae_common``, ``actor_critic``), or ``None``: ``pgexp train`` runs it through the general
            engine.  A kernel draws the same trajectories as ``fn`` and must give the same numbers to rounding
            (``tests/runs/test_training_fast.py``).
        oracle: it reads exact quantities (``V``, ``Q``, ``A`` or ``b*``) itself, whatever its baseline: a reference
            point, ranked apart from what can be implemented (:func:`~pgexp.estimators.registry.is_oracle`).
        exact: its exact counterpart (:class:`~pgexp.estimators.exact_spec.ExactSpec`: the baselines the exact engine
            covers, its weight family and literal weights, where advantage normalisation is exact), or ``None``:
            ``pgexp exact-variance`` does not offer it.
    """

    name: str
    fn: str | Callable
    baselines: tuple[str, ...]
    unbiased: Unbiased = True
    objectives: tuple[str, ...] = OBJECTIVES
    hyperparameters: tuple[Hyperparameter, ...] = ()
    tracks: tuple[str, ...] = TRACKS
    sampling: str = "trajectories"
    fit: str | Callable | None = None
    label: str = ""
    color: str | None = None
    order: int = 0
    doc: str = ""
    vectorized: bool = False
    kernel: str | None = None
    training_kernel: str | None = None
    min_group_size: int | None = None
    scale: str | Callable | None = None
    oracle: bool = False
    exact: ExactSpec | None = None

    @property
    def function(self) -> Callable:
        return resolve(self.fn, f"estimator {self.name}")

    @property
    def fit_fn(self) -> Callable | None:
        return None if self.fit is None else resolve(self.fit, f"estimator {self.name} fit")

    @property
    def scale_fn(self) -> Callable | None:
        return None if self.scale is None else resolve(self.scale, f"estimator {self.name} scale")

    def claim(self, baseline: str, params: Mapping[str, float] | None = None, gamma: float | None = None) -> str:
        """What the registry claims of its mean: ``unbiased``, ``scaled`` (a known positive multiple of ``grad J``,
        :attr:`scale`) or ``biased``."""
        if self.is_unbiased(baseline, params, gamma):
            return "unbiased"
        return "scaled" if self.scale is not None else "biased"

    @property
    def normalizable(self) -> tuple[str, ...]:
        """The baselines with which ``--normalize-advantages`` has its exact scale (none without an exact family)."""
        return () if self.exact is None else self.exact.normalizable

    def defaults(self) -> dict[str, float]:
        return {h.name: float(h.default) for h in self.hyperparameters}

    def params(self, given: Mapping[str, Any] | None = None) -> dict[str, float]:
        """Its hyperparameters: the defaults, overridden by ``given`` (other names are ignored), validated."""
        given = given or {}
        return {h.name: h.validate(given[h.name]) if given.get(h.name) is not None else float(h.default)
                for h in self.hyperparameters}

    def is_unbiased(self, baseline: str, params: Mapping[str, float] | None = None, gamma: float | None = None) -> bool:
        """The registry's claim for this baseline, hyperparameters and discount ``gamma``.

        A rule that reads ``gamma`` asked without one (``None``: the objective is not known) answers for every
        discount: unbiased only if unbiased both at ``gamma = 1`` and below it.
        """
        if isinstance(self.unbiased, bool):
            return self.unbiased
        name, p = baseline.partition(":")[0], {**self.defaults(), **(params or {})}
        if not takes_gamma(self.unbiased):
            return bool(self.unbiased(name, p))
        gammas = GAMMAS_UNKNOWN if gamma is None else (float(gamma),)
        return all(bool(apply_rule(self.unbiased, name, p, g)) for g in gammas)

    @property
    def unbiased_reads_gamma(self) -> bool:
        """Whether the unbiasedness rule depends on the objective's discount."""
        return not isinstance(self.unbiased, bool) and takes_gamma(self.unbiased)

    def needs_fit(self, baseline: str) -> bool:
        """Whether it draws an independent fitting batch with this baseline (``--fit-batch-size`` applies)."""
        return self.fit is not None or BASELINES[baseline.partition(":")[0]].fitted

    def check(self, baseline: str, objective: str, track: str = "tabular") -> BaselineChoice:
        """Refuse a meaningless estimator x baseline x objective x track combination, by name."""
        choice = parse_baseline(baseline)
        if choice.spec.name not in self.baselines:
            raise UserError(f"--estimator {self.name} with --baseline {choice.spec.name}: not meaningful; "
                            f"allowed baselines for {self.name}: {', '.join(self.baselines)}")
        if track not in self.tracks:
            raise UserError(f"--estimator {self.name}: not available for {track} problems (defined for "
                            f"{' and '.join(self.tracks)} problems)")
        if track not in choice.spec.tracks:
            raise UserError(f"--baseline {choice.spec.name}: not available for {track} problems "
                            f"(defined for {' and '.join(choice.spec.tracks)} problems)")
        if objective not in self.objectives:
            raise UserError(f"--estimator {self.name} is defined for the {' and '.join(self.objectives)} objectives, "
                            f"not {objective} (gamma = 1 with H = inf); give --horizon H or --gamma < 1")
        return choice


ESTIMATORS: dict[str, Estimator] = {}
