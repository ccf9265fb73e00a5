"""What the exact engine covers: estimator x baseline combinations, baseline names, and their checks.

Kept free of numerical imports: the study loads it on every ``snakemake`` call to pick the pairs that
have exact curves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pgexp.errors import UserError

VALUE_ESTIMATORS = ("gae", "gae_common")   # their baseline names the value table V of GAE's delta
LAMBDA_ESTIMATORS = VALUE_ESTIMATORS
_BASIC = ("none", "value_exact", "fixed", "optimal", "constant")
SUPPORTED: dict[str, tuple[str, ...]] = {
    "reinforce": _BASIC,
    "reward_to_go": _BASIC,
    "advantage_exact": ("none",),
    "gae": ("none", "value_exact", "value_table"),
    "reward_to_go_common": ("none", "value_exact"),
    "gae_common": ("none", "value_exact", "value_table"),
    "rollin_rollout": _BASIC,
}
ESTIMATORS = tuple(SUPPORTED)
# The common variants (no gamma^h) are defined for the finite and episodic objectives, as in the registry.
COMMON_ESTIMATORS = ("reward_to_go_common", "gae_common")


def _display(name: str) -> str:
    return {"fixed": "fixed:c=VALUE", "value_table": "value_table (--value PATH.npy)"}.get(name, name)


@dataclass(frozen=True)
class Baseline:
    """A parsed baseline: ``kind`` (one of :data:`SUPPORTED`'s names) and ``c`` for ``fixed``."""

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
    """``none | value_exact | constant | optimal | value_table | fixed:c=VALUE`` -> :class:`Baseline`."""
    name, _, rest = str(spec).partition(":")
    if name == "fixed":
        key, _, val = rest.partition("=")
        try:
            c = float(val)
        except ValueError:
            c = math.nan
        if key != "c" or not math.isfinite(c):
            raise UserError(f"--baseline {spec!r}: a fixed constant is written fixed:c=VALUE (a finite number)")
        return Baseline("fixed", c)
    if rest or name not in {b for bs in SUPPORTED.values() for b in bs}:
        known = sorted({_display(b) for bs in SUPPORTED.values() for b in bs})
        raise UserError(f"--baseline: unknown {spec!r} for the exact engine; allowed: {', '.join(known)}")
    return Baseline(name)


def check_combination(estimator: str, baseline: Baseline | str) -> Baseline:
    """Refuse an estimator x baseline the exact engine does not cover, naming those it does."""
    b = parse_baseline(baseline) if isinstance(baseline, str) else baseline
    if estimator not in SUPPORTED:
        raise UserError(f"exact variance: estimator {estimator!r} not supported; allowed: {', '.join(ESTIMATORS)}")
    if b.kind not in SUPPORTED[estimator]:
        raise UserError(f"exact variance: baseline {b.label!r} not supported with {estimator}; allowed: "
                        f"{', '.join(_display(x) for x in SUPPORTED[estimator])}")
    return b


def exact_pairs(estimators: Sequence[str], baselines: Sequence[str]) -> list[tuple[str, str]]:
    """The ``(estimator, baseline)`` pairs of a study with an exact counterpart of the Monte-Carlo estimator
    (``optimal`` is the exact oracle, fitted in Monte Carlo; ``value_learned`` and ``actor_critic`` have none)."""
    return [(e, b) for e in estimators for b in baselines
            if e in SUPPORTED and b in SUPPORTED[e] and b not in ("fixed", "value_table")]
