"""Problem registry: a spec string in, a validated :class:`~pgexp.mdp.FiniteMDP` out.

Each problem is one builder ``f(options: dict, spec: Spec) -> FiniteMDP`` registered under a name with
its allowed keys and defaults; :func:`make_env` parses the spec, refuses unknown keys by name and calls
the builder.  Every problem also accepts ``gamma`` and ``horizon`` (an integer or ``inf``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pgexp.errors import UserError
from pgexp.problems.mdp import FiniteMDP
from pgexp.specs import Spec, check_keys, parse_spec


@dataclass(frozen=True)
class EnvEntry:
    """A registered problem: its builder, its keys with defaults, and a one-line description."""

    builder: Callable[[dict[str, Any], Spec], FiniteMDP]
    defaults: dict[str, Any]
    doc: str
    takes_target: bool = False


REGISTRY: dict[str, EnvEntry] = {}


def register(name: str, defaults: dict[str, Any], doc: str, *, takes_target: bool = False):
    """Decorator adding a builder to :data:`REGISTRY` (``gamma``/``horizon`` keys are implied)."""

    def deco(fn: Callable[[dict[str, Any], Spec], FiniteMDP]):
        REGISTRY[name] = EnvEntry(fn, defaults, doc, takes_target)
        return fn

    return deco


def parse_horizon(value: Any, *, what: str = "horizon") -> int | None:
    """``inf``/``None`` -> ``None``; a positive integer -> ``int``; anything else is refused."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in {"inf", "infinite", "infinity"}:
        return None
    if isinstance(value, float) and math.isinf(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{what}: {value!r}; allowed: a positive integer or 'inf'")
    return int(value)


def parse_gamma(value: Any, *, what: str = "gamma") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise UserError(f"{what}: {value!r}; allowed: a number in [0, 1]")
    return float(value)


def make_env(text: str | Spec) -> FiniteMDP:
    """Build the MDP a spec string names, e.g. ``garnet:states=100,actions=4,branching=5,seed=0``."""
    spec = text if isinstance(text, Spec) else parse_spec(
        text, what="--env", with_target=frozenset(n for n, e in REGISTRY.items() if e.takes_target)
    )
    if spec.name not in REGISTRY:
        raise UserError(f"--env: unknown problem {spec.name!r}; allowed: {', '.join(sorted(REGISTRY))}")
    entry = REGISTRY[spec.name]
    if entry.takes_target:
        options = dict(spec.options)  # gym kwargs / file contents are checked by the builder itself
    else:
        options = check_keys(spec, {"gamma": None, "horizon": None, **entry.defaults}, what="--env")
    return entry.builder(options, spec)


def apply_common(mdp: FiniteMDP, options: dict[str, Any], *, gamma: float, horizon: int | None) -> FiniteMDP:
    """Apply a problem's default ``gamma``/``horizon`` unless the spec gave its own."""
    g = parse_gamma(options["gamma"], what="--env gamma") if options.get("gamma") is not None else gamma
    h = (parse_horizon(options["horizon"], what="--env horizon")
         if "horizon" in options and options["horizon"] is not None else horizon)
    return mdp.replace(gamma=g, horizon=h)


__all__ = ["REGISTRY", "make_env", "parse_gamma", "parse_horizon", "register"]
