"""Problem registry: a spec string in, a validated :class:`~pgexp.problems.mdp.FiniteMDP` out.

Each problem is one builder ``f(options: dict, spec: Spec) -> FiniteMDP`` registered under a name with
its allowed keys and defaults; :func:`make_env` parses the spec, refuses unknown keys by name and calls
the builder.  Every problem also accepts ``gamma`` and ``horizon`` (an integer or ``inf``).

The registry is metadata: a builder may be named ``"module:function"`` and is imported on the first
:func:`make_env` that needs it, and an entry declares the problem's default discount (:func:`declared_gamma`),
so the workflow checks a config against it on every ``snakemake`` call without importing numpy
(:mod:`pgexp.problems.catalog` registers the built-ins).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgexp.errors import UserError
from pgexp.specs import Spec, check_keys, parse_spec

if TYPE_CHECKING:
    from pgexp.problems.mdp import FiniteMDP

Builder = Callable[[dict[str, Any], Spec], "FiniteMDP"]


@dataclass(frozen=True)
class EnvEntry:
    """A registered problem: its builder (a function or ``"module:function"``), its keys with defaults, a
    one-line description, and ``gamma``: its default discount (``None``: the problem's data decides, e.g. a
    file's own field; :func:`declared_gamma` then cannot answer without building it)."""

    builder: Builder | str
    defaults: dict[str, Any]
    doc: str
    takes_target: bool = False
    gamma: float | None = None

    def build(self, options: dict[str, Any], spec: Spec) -> FiniteMDP:
        fn = self.builder
        if isinstance(fn, str):  # imported here, on first use: the registry itself stays numpy-free
            module, _, name = fn.partition(":")
            fn = getattr(importlib.import_module(module), name)
        return fn(options, spec)


REGISTRY: dict[str, EnvEntry] = {}


def add_problem(name: str, builder: Builder | str, defaults: dict[str, Any], doc: str, *,
                takes_target: bool = False, gamma: float | None = None) -> None:
    """Add a problem to :data:`REGISTRY` (``gamma``/``horizon`` keys are implied; see :class:`EnvEntry`)."""
    REGISTRY[name] = EnvEntry(builder, defaults, doc, takes_target,
                              None if gamma is None else parse_gamma(gamma, what=f"problem {name!r} gamma"))


def register(name: str, defaults: dict[str, Any], doc: str, *, takes_target: bool = False,
             gamma: float | None = None):
    """Decorator form of :func:`add_problem` (a plug-in's own problem)."""

    def deco(fn: Builder) -> Builder:
        add_problem(name, fn, defaults, doc, takes_target=takes_target, gamma=gamma)
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


def env_spec(text: str | Spec) -> Spec:
    """The parsed ``--env`` spec of a registered problem (unknown names refused, listing the registered ones)."""
    spec = text if isinstance(text, Spec) else parse_spec(
        text, what="--env", with_target=frozenset(n for n, e in REGISTRY.items() if e.takes_target)
    )
    if spec.name not in REGISTRY:
        raise UserError(f"--env: unknown problem {spec.name!r}; allowed: {', '.join(sorted(REGISTRY))}")
    return spec


def env_options(spec: Spec) -> dict[str, Any]:
    """The builder's options: the spec's over the registered defaults (unknown keys refused by name)."""
    entry = REGISTRY[spec.name]
    if entry.takes_target:
        return dict(spec.options)  # gym kwargs / file contents are checked by the builder itself
    return check_keys(spec, {"gamma": None, "horizon": None, **entry.defaults}, what="--env")


def make_env(text: str | Spec) -> FiniteMDP:
    """Build the MDP a spec string names, e.g. ``garnet:states=100,actions=4,branching=5,seed=0``."""
    spec = env_spec(text)
    try:
        return REGISTRY[spec.name].build(env_options(spec), spec)
    except UserError as exc:  # a builder's own check ("field 'r': ...") names the spec it came from
        if str(exc).startswith("--env"):
            raise
        raise UserError(f"--env {spec.canonical() if isinstance(text, Spec) else text}: {exc}") from None


def declared_gamma(text: str | Spec) -> float | None:
    """The discount :func:`make_env` gives the problem, read off the spec and the registry without building
    it: the spec's ``gamma`` key, else the entry's declared default; ``None`` when only the problem's data
    knows (a file's own ``gamma`` field, a plug-in that declares none).  Raises what :func:`make_env` would
    for an unknown name or key."""
    spec = env_spec(text)
    options = env_options(spec)
    if options.get("gamma") is not None:
        return parse_gamma(options["gamma"], what="--env gamma")
    return REGISTRY[spec.name].gamma


def apply_common(mdp: FiniteMDP, options: dict[str, Any], *, gamma: float, horizon: int | None) -> FiniteMDP:
    """Apply a problem's default ``gamma``/``horizon`` unless the spec gave its own."""
    g = parse_gamma(options["gamma"], what="--env gamma") if options.get("gamma") is not None else gamma
    h = (parse_horizon(options["horizon"], what="--env horizon")
         if "horizon" in options and options["horizon"] is not None else horizon)
    return mdp.replace(gamma=g, horizon=h)


__all__ = ["REGISTRY", "EnvEntry", "add_problem", "declared_gamma", "env_options", "env_spec", "make_env",
           "parse_gamma", "parse_horizon", "register"]
