"""What an estimator declares to the exact engine (:class:`ExactSpec`): the baselines it covers, the engine that
computes its moments, and -- for the trajectory estimators -- the callables that build its weight family (the
moment recursion, :mod:`pgexp.exact.families`) and its literal weights on enumerated trajectories
(:mod:`pgexp.exact.enumeration`), and the baselines with which advantage normalisation is exact.

Metadata only: the callables are named ``"module:function"`` (or given as a plug-in's callables) and resolved on
first use, so reading the registry imports no numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pgexp.errors import UserError
from pgexp.estimators.vocabulary import resolve

# Which exact engine computes an estimator's moments.  A plug-in declares "family": the other engines are formulas
# of the built-ins they name (the roll-in/roll-out scheme, the group estimators, the all-action estimator).
ENGINES = ("family", "rollout", "groups", "action")
# How a family reads its state baseline: b(s_0) ``(S,)`` (reinforce), b_h(s) ``(L, S)`` (reward_to_go), a value table
# V_h(s) ``(L+1, S)`` (GAE's delta), or no baseline at all
BASELINE_INPUTS = ("start", "steps", "values", "none")
# How a cut episode's bootstrap value enters the weights (pgexp.exact.families.family's ``bootstrap``): discounted
# from the episode's start (``gamma^L V``), from the step (``gamma V``: the common variants), or not at all
BOOTSTRAPS = ("start", "step", "none")
# baselines only the exact engine knows: a user's value table for a "values" family (--value PATH.npy)
EXACT_ONLY_BASELINES = ("value_table",)
# baselines the engine computes from a family's direction (what a constant baseline multiplies)
CONSTANT_BASELINES = ("optimal", "constant")


@dataclass(frozen=True)
class ExactSpec:
    """An estimator's exact counterpart (``register_estimator(..., exact=ExactSpec(...))``).

    Attributes:
        baselines: the baselines the exact engine covers for it: registered names it accepts, and ``value_table``
            (a user's value table, with ``baseline_input = "values"``).
        engine: ``family`` (the moment recursion on :attr:`family`, enumeration by :attr:`weights`: what a plug-in
            declares), or a built-in engine (``rollout``, ``groups``, ``action``; :data:`ENGINES`).
        family: ``"module:function"`` or callable ``(st, *, b0, b_steps, values, lam) -> WeightFamily``
            (:mod:`pgexp.exact.families`: ``st`` an :class:`~pgexp.exact.model.ExactSetup`; ``b0`` ``(S,)``,
            ``b_steps`` ``(L, S)``, ``values`` ``(L+1, S)`` or ``None``, only the one :attr:`baseline_input`
            names is given; ``lam`` GAE's lambda when the estimator has the hyperparameter ``lam``).
        weights: ``"module:function"`` or callable ``(st, paths, *, b0, b_steps, fixed, values, lam) -> w (n, L)``:
            the same weights written from the definition on enumerated trajectories
            (:class:`~pgexp.exact.enumeration.Paths`; ``fixed``: a constant baseline, or ``None``), the reference
            the recursion is tested against.
        baseline_input: how the family reads a state baseline (:data:`BASELINE_INPUTS`).
        direction: ``"module:function"`` or callable ``(st) -> c (L,)``: what a constant baseline multiplies,
            ``w_h(b) = w_h(0) - b c_h``; needed for ``optimal`` and ``constant``.
        bootstrap: how a cut episode's bootstrap value enters (:data:`BOOTSTRAPS`; ``none``: it reads no rewards).
        normalizable: the baselines with which advantage normalisation has its exact scale (a family without a
            past part: ``--normalize-advantages``).
    """

    baselines: tuple[str, ...]
    engine: str = "family"
    family: str | Callable | None = None
    weights: str | Callable | None = None
    baseline_input: str = "steps"
    direction: str | Callable | None = None
    bootstrap: str = "start"
    normalizable: tuple[str, ...] = ()

    def family_fn(self, name: str) -> Callable:
        return resolve(self.family_or_refuse(name, self.family), f"estimator {name} exact family")

    def weights_fn(self, name: str) -> Callable:
        return resolve(self.family_or_refuse(name, self.weights), f"estimator {name} exact weights")

    def direction_fn(self, name: str) -> Callable:
        return resolve(self.family_or_refuse(name, self.direction), f"estimator {name} exact direction")

    def family_or_refuse(self, name: str, target: str | Callable | None) -> str | Callable:
        if target is None:
            raise UserError(f"exact variance: estimator {name} has no weight family (engine {self.engine})")
        return target


def check_exact(name: str, exact: ExactSpec | None, baselines: tuple[str, ...], sampling: str) -> ExactSpec | None:
    """Refuse an exact spec that does not fit its estimator, naming the field (``register_estimator``)."""
    if exact is None:
        return None
    if not isinstance(exact, ExactSpec):
        raise UserError(f"register_estimator {name}: exact must be an ExactSpec or None, not {type(exact).__name__}")
    where = f"register_estimator {name}: exact"
    if exact.engine not in ENGINES:
        raise UserError(f"{where} engine {exact.engine!r}; allowed: {', '.join(ENGINES)}")
    if exact.baseline_input not in BASELINE_INPUTS:
        raise UserError(f"{where} baseline_input {exact.baseline_input!r}; allowed: {', '.join(BASELINE_INPUTS)}")
    if exact.bootstrap not in BOOTSTRAPS:
        raise UserError(f"{where} bootstrap {exact.bootstrap!r}; allowed: {', '.join(BOOTSTRAPS)}")
    extra = EXACT_ONLY_BASELINES if exact.baseline_input == "values" else ()
    unknown = [b for b in exact.baselines if b not in baselines and b not in extra]
    if not exact.baselines or unknown:
        raise UserError(f"{where} baselines {list(exact.baselines)!r}; allowed: a non-empty subset of the baselines "
                        f"it accepts ({', '.join(baselines + extra)})")
    if exact.engine == "family":
        if exact.family is None or exact.weights is None or sampling != "trajectories":
            raise UserError(f"{where}: engine 'family' needs family and weights (sampling 'trajectories')")
        if exact.baseline_input == "none" and set(exact.baselines) - {"none"}:
            raise UserError(f"{where} baselines {list(exact.baselines)!r}: baseline_input 'none' reads none")
        if set(exact.baselines) & set(CONSTANT_BASELINES) and exact.direction is None:
            raise UserError(f"{where}: baselines {', '.join(CONSTANT_BASELINES)} need its direction")
    unknown = [b for b in exact.normalizable if b not in baselines]
    if unknown or (exact.normalizable and exact.engine != "family"):
        raise UserError(f"{where} normalizable {list(exact.normalizable)!r}; allowed: baselines it accepts, with "
                        "engine 'family'")
    return exact
