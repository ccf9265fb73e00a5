"""Parsing of ``NAME`` / ``NAME:key=value,key=value`` spec strings.

The same grammar names environments (``garnet:states=100,actions=4``), features (``random:d=8``),
parameter vectors (``random:seed=0,scale=1``) and, later, policies.  Gymnasium specs carry an id with
its own colon-free name: ``gym:FrozenLake-v1:map_name=4x4,is_slippery=true``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pgexp.errors import UserError


def coerce(text: str) -> Any:
    """Turn a spec value into bool / int / float / None, else keep the string."""
    low = text.strip().lower()
    if low in {"true", "yes", "on"}:
        return True
    if low in {"false", "no", "off"}:
        return False
    if low in {"none", "null"}:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


@dataclass(frozen=True)
class Spec:
    """A parsed spec: ``name``, optional positional ``target`` (gym id, file path) and keyword ``options``."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    target: str | None = None

    def canonical(self) -> str:
        """A normalised string for the spec (options sorted), used for identities and seeds."""
        head = self.name if self.target is None else f"{self.name}:{self.target}"
        if not self.options:
            return head
        body = ",".join(f"{k}={_fmt(v)}" for k, v in sorted(self.options.items()))
        return f"{head}:{body}"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_options(text: str, *, what: str) -> dict[str, Any]:
    """Parse ``key=value,key=value`` into a dict, with an error naming the bad item."""
    options: dict[str, Any] = {}
    if not text.strip():
        return options
    for item in text.split(","):
        if "=" not in item:
            raise UserError(f"{what}: expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise UserError(f"{what}: empty key in {item!r}")
        if key in options:
            raise UserError(f"{what}: key {key!r} given twice")
        options[key] = coerce(value)
    return options


def parse_spec(text: str, *, what: str = "spec", with_target: frozenset[str] = frozenset()) -> Spec:
    """Parse ``NAME[:TARGET][:key=value,...]``.

    Names in ``with_target`` take a positional target after the first colon (``gym:ID``,
    ``file:PATH``); for ``file`` the whole rest is the path (paths may contain ``=`` or ``,``).
    """
    text = text.strip()
    if not text:
        raise UserError(f"{what}: empty spec")
    name, _, rest = text.partition(":")
    name = name.strip()
    if name in with_target:
        if not rest:
            raise UserError(f"{what}: {name!r} needs a target, e.g. {name}:VALUE")
        if name == "file":
            return Spec(name, {}, rest)
        target, _, opts = rest.partition(":")
        return Spec(name, parse_options(opts, what=what), target.strip())
    return Spec(name, parse_options(rest, what=what))


SEED_MAX = 2**63 - 1  # seeds are stored as int64 columns


def check_value(what: str, name: str, key: str, value: Any, default: Any) -> None:
    """Refuse a value of another type than its default's: a flag is ``true``/``false``, an integer an integer
    (a seed one in ``[0, 2^63)``), a number a finite number.  Defaults of ``None`` or text take anything."""
    where = f"{what}{' ' + name if name else ''}: {key}={value!r}; allowed:"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UserError(f"{where} true or false")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where} an integer")
        if key == "seed" and not 0 <= value <= SEED_MAX:
            raise UserError(f"{where} an integer in [0, 2^63 - 1] (a seed)")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserError(f"{where} a finite number")


def check_keys(spec: Spec, allowed: dict[str, Any], *, what: str) -> dict[str, Any]:
    """Merge ``spec.options`` over the defaults in ``allowed``; refuse unknown keys by name, and values whose type
    differs from their default's (:func:`check_value`: ``seed=-1``, ``scale=nan``, ``d=2.5``)."""
    unknown = sorted(set(spec.options) - set(allowed))
    if unknown:
        raise UserError(
            f"{what} {spec.name!r}: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed)) or '(none)'}"
        )
    for key, value in spec.options.items():
        check_value(what, spec.name, key, value, allowed[key])
    return {**allowed, **spec.options}
