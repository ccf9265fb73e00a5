"""The estimator registry: one function + one entry per estimator.

An :class:`Estimator` says what it consumes (plain trajectories, or seeds for its own sampling
scheme), which baselines make sense with it, which objectives it is defined for and when it is
unbiased.  The generic tests (unbiasedness, determinism, shapes, common random numbers) are
parametrised over :data:`ESTIMATORS`, so a new entry is tested without new test code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from pgexp.errors import UserError
from pgexp.estimators.baselines import BASELINES

ALL_OBJECTIVES = ("finite", "discounted", "episodic")


@dataclass(frozen=True)
class Estimator:
    """A registered estimator.

    Attributes:
        name: registry key (``--estimator``).
        impl: ``"module:function"`` of ``fn(ctx, data, baseline, aux, lam) -> WeightedScores``; ``data``/``aux``
            are :class:`~pgexp.sampling.Trajectories` when ``consumes == "trajectories"``, else seed arrays.
            Resolved on first use, so the registry's metadata imports without the compiled kernels
            (the workflow validates configs against it at every ``snakemake`` call).
        consumes: ``"trajectories"`` (the job's common trajectories) or ``"seeds"`` (own sampler).
        baselines: the baselines that make sense with it.
        objectives: the objective kinds it is defined for.
        unbiased: ``unbiased(baseline, lam)``: whether ``E[g] = grad J`` exactly.
        aux_for: baselines needing an independent batch (the runner samples it).
        own_aux: the estimator always draws an independent batch itself (e.g. a critic fit).
        doc: one line.
        label: its name in figures and legends (default: ``name``).
        color: its hue in figures (any matplotlib colour; default: a spare hue picked from the name).
        order: its position in figures and tables (lower first; ties by name).
    """

    name: str
    impl: str
    consumes: str
    baselines: tuple[str, ...]
    objectives: tuple[str, ...]
    unbiased: Callable[[str, float], bool]
    doc: str
    aux_for: tuple[str, ...] = ("value_learned", "optimal")
    own_aux: bool = False
    label: str = ""
    color: str | None = None
    order: int = 100

    @property
    def fn(self) -> Callable:
        module, _, func = self.impl.partition(":")
        return getattr(importlib.import_module(module), func)

    def check(self, baseline: str, objective: str) -> None:
        """Refuse an estimator x baseline x objective combination that makes no sense, by name."""
        if baseline not in BASELINES:
            raise UserError(f"--baseline: unknown {baseline!r}; allowed: {', '.join(BASELINES)}")
        if baseline not in self.baselines:
            raise UserError(f"--estimator {self.name} with --baseline {baseline}: not meaningful; "
                            f"allowed baselines for {self.name}: {', '.join(self.baselines)}")
        if objective not in self.objectives:
            raise UserError(f"--estimator {self.name} is defined for the {' and '.join(self.objectives)} objectives, "
                            f"not {objective} (gamma = 1 with H = inf); give --horizon H or --gamma < 1")


ESTIMATORS: dict[str, Estimator] = {}


@dataclass(frozen=True)
class Baseline:
    """How a baseline looks in figures (what it computes is in :mod:`pgexp.estimators.baselines`).

    Attributes:
        name: registry key (``--baseline``).
        label: its name in figures and legends.
        color: its colour where figures colour by baseline (any matplotlib colour).
        marker: its matplotlib marker, in every figure.
        shade: where figures colour by estimator, the estimator's hue mixed with black (< 0) or
            white (> 0) by this fraction, so the pairs of one estimator stay apart.
        order: its position in figures and tables (lower first).
    """

    name: str
    label: str
    color: str
    marker: str
    shade: float = 0.0
    order: int = 100


BASELINE_SPECS: dict[str, Baseline] = {}


def register_baseline(spec: Baseline) -> Baseline:
    BASELINE_SPECS[spec.name] = spec
    return spec


# Okabe-Ito colour-blind-safe hues, one per baseline.
register_baseline(Baseline("none", "no baseline", "#000000", "o", 0.0, order=0))
register_baseline(Baseline("constant", "leave-one-out mean", "#e69f00", "s", 0.35, order=1))
register_baseline(Baseline("value_exact", "exact V", "#0072b2", "^", -0.3, order=2))
register_baseline(Baseline("value_learned", "learned V̂", "#cc79a7", "v", 0.55, order=3))
# not the optimal baseline itself: Greensmith et al.'s per-coordinate constant, *fitted* on an independent batch
register_baseline(Baseline("optimal", "fitted per-coord. b̂", "#009e73", "D", -0.55, order=4))


def register_estimator(est: Estimator) -> Estimator:
    ESTIMATORS[est.name] = est
    return est


def get_estimator(name: str) -> Estimator:
    if name not in ESTIMATORS:
        raise UserError(f"--estimator: unknown {name!r}; allowed: {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name]


_always = lambda baseline, lam: True  # noqa: E731

register_estimator(Estimator("reinforce", "pgexp.estimators.trajectory:reinforce", "trajectories", BASELINES, ALL_OBJECTIVES, _always,
                             "(sum_h score_h) (G_0 - b)", label="REINFORCE", color="#0173b2", order=0))
register_estimator(Estimator("reward_to_go", "pgexp.estimators.trajectory:reward_to_go", "trajectories", BASELINES, ALL_OBJECTIVES, _always,
                             "sum_h score_h (G_h - gamma^h b(s_h))  (Q-based PG)", label="reward-to-go", color="#de8f05",
                             order=1))
register_estimator(Estimator("advantage_exact", "pgexp.estimators.trajectory:advantage_exact", "trajectories", ("none",), ALL_OBJECTIVES, _always,
                             "sum_h gamma^h score_h A_h(s_h, a_h), oracle A", label="exact advantage", color="#029e73",
                             order=2))
register_estimator(Estimator("rollin_rollout", "pgexp.estimators.rollout:rollin_rollout", "seeds", BASELINES, ("finite", "discounted"), _always,
                             "the lecture's roll-in/roll-out: Z score(s,a) (y - b(s)), Z = 1/(1-gamma) for H=inf",
                             label="roll-in/roll-out", color="#d55e00", order=4))
register_estimator(Estimator("actor_critic", "pgexp.estimators.rollout:actor_critic", "trajectories", ("none",), ("finite", "discounted"),
                             lambda baseline, lam: False,
                             "the lecture's: least-squares critic f, sum_h gamma^h score_h (f - E_pi f)", own_aux=True,
                             label="actor-critic", color="#4d4d4d", order=5))
register_estimator(Estimator("gae", "pgexp.estimators.trajectory:gae", "trajectories", ("value_exact", "value_learned", "none"), ALL_OBJECTIVES,
                             lambda baseline, lam: baseline == "value_exact" or lam == 1.0,
                             "sum_h gamma^h score_h GAE(lambda) advantage; the baseline names V", label="GAE(λ)",
                             color="#cc78bc", order=3))

__all__ = ["BASELINES", "BASELINE_SPECS", "ESTIMATORS", "Baseline", "Estimator", "get_estimator", "register_baseline",
           "register_estimator"]
