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
from pgexp.estimators.baselines import BASELINES, TRAINING_ONLY_BASELINES

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

    @property
    def fn(self) -> Callable:
        module, _, func = self.impl.partition(":")
        return getattr(importlib.import_module(module), func)

    def check(self, baseline: str, objective: str) -> None:
        """Refuse an estimator x baseline x objective combination that makes no sense, by name."""
        if baseline in TRAINING_ONLY_BASELINES:
            raise UserError(f"--baseline {baseline}: training only ({TRAINING_ONLY_BASELINES[baseline]}); "
                            "pgexp train accepts it")
        if baseline not in BASELINES:
            raise UserError(f"--baseline: unknown {baseline!r}; allowed: {', '.join(BASELINES)}")
        if baseline not in self.baselines:
            raise UserError(f"--estimator {self.name} with --baseline {baseline}: not meaningful; "
                            f"allowed baselines for {self.name}: {', '.join(self.baselines)}")
        if objective not in self.objectives:
            raise UserError(f"--estimator {self.name} is defined for the {' and '.join(self.objectives)} objectives, "
                            f"not {objective} (gamma = 1 with H = inf); give --horizon H or --gamma < 1")


ESTIMATORS: dict[str, Estimator] = {}


def register_estimator(est: Estimator) -> Estimator:
    ESTIMATORS[est.name] = est
    return est


def get_estimator(name: str) -> Estimator:
    if name not in ESTIMATORS:
        raise UserError(f"--estimator: unknown {name!r}; allowed: {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name]


_always = lambda baseline, lam: True  # noqa: E731

register_estimator(Estimator("reinforce", "pgexp.estimators.trajectory:reinforce", "trajectories", BASELINES, ALL_OBJECTIVES, _always,
                             "(sum_h score_h) (G_0 - b)"))
register_estimator(Estimator("reward_to_go", "pgexp.estimators.trajectory:reward_to_go", "trajectories", BASELINES, ALL_OBJECTIVES, _always,
                             "sum_h score_h (G_h - gamma^h b(s_h))  (Q-based PG)"))
register_estimator(Estimator("advantage_exact", "pgexp.estimators.trajectory:advantage_exact", "trajectories", ("none",), ALL_OBJECTIVES, _always,
                             "sum_h gamma^h score_h A_h(s_h, a_h), oracle A"))
register_estimator(Estimator("rollin_rollout", "pgexp.estimators.rollout:rollin_rollout", "seeds", BASELINES, ("finite", "discounted"), _always,
                             "the lecture's roll-in/roll-out: Z score(s,a) (y - b(s)), Z = 1/(1-gamma) for H=inf"))
register_estimator(Estimator("actor_critic", "pgexp.estimators.rollout:actor_critic", "trajectories", ("none",), ("finite", "discounted"),
                             lambda baseline, lam: False,
                             "the lecture's: least-squares critic f, sum_h gamma^h score_h (f - E_pi f)", own_aux=True))
register_estimator(Estimator("gae", "pgexp.estimators.trajectory:gae", "trajectories", ("value_exact", "value_learned", "none"), ALL_OBJECTIVES,
                             lambda baseline, lam: baseline == "value_exact" or lam == 1.0,
                             "sum_h gamma^h score_h GAE(lambda) advantage; the baseline names V"))

__all__ = ["BASELINES", "ESTIMATORS", "Estimator", "get_estimator", "register_estimator"]
