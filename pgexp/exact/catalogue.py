"""What the exact engine covers, read off the registry: each estimator's :class:`~pgexp.estimators.exact_spec.
ExactSpec` (its exact baselines, its weight family), the baseline parser, and the checks of a pair.

Kept free of numerical imports: the study loads it on every ``snakemake`` call to pick the pairs that
have exact curves.  Nothing here is a list of names: a plug-in that declares an exact family is covered
like a built-in.  The old constants (``SUPPORTED``, ``ESTIMATORS``, ``VALUE_ESTIMATORS``, ``LAMBDA_ESTIMATORS``,
``COMMON_ESTIMATORS``) are still read here, derived from the registry when read (:func:`__getattr__`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pgexp.errors import UserError
from pgexp.estimators.exact_spec import EXACT_ONLY_BASELINES, ExactSpec

# the engines of pgexp.exact.moments, trajectory estimators first (the groups and the action-dependent pairs have
# their own modules: pgexp.exact.groups, pgexp.exact.action_dependent)
MOMENT_ENGINES = ("family", "rollout")


def exact_specs(engines: Sequence[str] = MOMENT_ENGINES) -> dict[str, ExactSpec]:
    """Every registered estimator whose exact spec's engine is one of ``engines``, engine by engine, each in
    registration order."""
    from pgexp.estimators import ESTIMATORS  # the built-ins registered

    return {name: est.exact for engine in engines for name, est in ESTIMATORS.items()
            if est.exact is not None and est.exact.engine == engine}


def supported() -> dict[str, tuple[str, ...]]:
    """Estimator -> the baselines :mod:`pgexp.exact.moments` covers for it."""
    return {name: spec.baselines for name, spec in exact_specs().items()}


def exact_spec(estimator: str) -> ExactSpec:
    """The exact spec of an estimator :mod:`pgexp.exact.moments` covers, else a one-line refusal naming those."""
    specs = exact_specs()
    if estimator not in specs:
        raise UserError(f"exact variance: estimator {estimator!r} not supported; allowed: {', '.join(specs)}")
    return specs[estimator]


def engine_of(estimator: str) -> str | None:
    """The exact engine an estimator declares (``None``: none, or not registered)."""
    from pgexp.estimators import ESTIMATORS

    est = ESTIMATORS.get(estimator)
    return None if est is None or est.exact is None else est.exact.engine


def decomposable() -> tuple[str, ...]:
    """The estimators whose variance decomposes over one trajectory's steps: those with a weight family (not the
    roll-in/roll-out scheme, which samples its own times)."""
    return tuple(exact_specs(("family",)))


def reads_lambda(estimator: str) -> bool:
    """Whether the estimator has GAE's ``lam`` (its exact numbers depend on it, and the JSON records it)."""
    from pgexp.estimators import ESTIMATORS

    est = ESTIMATORS.get(estimator)
    return est is not None and any(h.name == "lam" for h in est.hyperparameters)


def reads_values(estimator: str) -> bool:
    """Whether the estimator's family reads its baseline as a value table ``V`` (GAE's delta)."""
    spec = exact_specs().get(estimator)
    return spec is not None and spec.baseline_input == "values"


def defined_for(estimator: str) -> tuple[str, ...]:
    """The objectives the estimator is registered for."""
    from pgexp.estimators import ESTIMATORS

    return ESTIMATORS[estimator].objectives


def _display(name: str) -> str:
    return {"fixed": "fixed:c=VALUE", "value_table": "value_table (--value PATH.npy)"}.get(name, name)


@dataclass(frozen=True)
class Baseline:
    """A parsed baseline: ``kind`` (a registered name, or ``value_table``) and ``c`` for ``fixed``."""

    kind: str
    c: float | None = None

    @property
    def value(self) -> float:
        """The constant of ``fixed``."""
        if self.c is None:
            raise ValueError(f"baseline {self.kind!r} has no constant")
        return float(self.c)

    @property
    def label(self) -> str:
        return f"fixed:c={self.c:g}" if self.kind == "fixed" else self.kind


def parse_baseline(spec: str) -> Baseline:
    """A baseline as the user writes it -> :class:`Baseline`: the registry's parser
    (:func:`pgexp.estimators.spec.parse_baseline`: ``NAME`` or ``fixed:c=VALUE``), and the exact engine's own
    ``value_table`` (a user's value table); whether the engine covers it with an estimator is
    :func:`check_combination`'s question."""
    from pgexp.estimators.spec import parse_baseline as parse_registry_baseline

    if str(spec) in EXACT_ONLY_BASELINES:
        return Baseline(str(spec))
    choice = parse_registry_baseline(str(spec))
    known = {b for bs in supported().values() for b in bs}
    if choice.spec.name not in known:  # registered, but no estimator's exact spec covers it
        raise UserError(f"--baseline: unknown {str(spec)!r} for the exact engine; allowed: "
                        f"{', '.join(sorted(_display(b) for b in known))}")
    return Baseline(choice.spec.name, choice.options.get("c"))


def check_combination(estimator: str, baseline: Baseline | str) -> Baseline:
    """Refuse an estimator x baseline the exact engine does not cover, naming those it does."""
    b = parse_baseline(baseline) if isinstance(baseline, str) else baseline
    spec = exact_spec(estimator)
    if b.kind not in spec.baselines:
        raise UserError(f"exact variance: baseline {b.label!r} not supported with {estimator}; allowed: "
                        f"{', '.join(_display(x) for x in spec.baselines)}")
    return b


def exact_pairs(estimators: Sequence[str], baselines: Sequence[str]) -> list[tuple[str, str]]:
    """The ``(estimator, baseline)`` pairs of a study with an exact counterpart of the Monte-Carlo estimator
    (``optimal`` is the exact oracle, fitted in Monte Carlo; ``value_learned`` and ``actor_critic`` have none)."""
    known = supported()
    return [(e, b) for e in estimators for b in baselines
            if e in known and b in known[e] and b not in ("fixed", "value_table")]


def __getattr__(name: str) -> Any:
    """The former constants, derived from the registry when read (a plug-in registered later is included)."""
    if name == "SUPPORTED":
        return supported()
    if name == "ESTIMATORS":
        return tuple(supported())
    if name == "VALUE_ESTIMATORS":
        return tuple(e for e in supported() if reads_values(e))
    if name == "LAMBDA_ESTIMATORS":
        return tuple(e for e in supported() if reads_lambda(e))
    if name == "COMMON_ESTIMATORS":  # no gamma^h: the finite and episodic objectives only
        return tuple(e for e in supported() if "discounted" not in defined_for(e))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
