"""What every config section shares: one-line errors naming the key, list checks, option strings."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from typing import Any, NoReturn

from pgexp.errors import UserError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def config_hash(config: dict[str, Any]) -> str:
    """A short, order-independent hash of the whole config (provenance)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def horizon_token(h: int | None) -> str:
    return "inf" if h is None else str(h)



def fail(key: str, message: str) -> NoReturn:
    raise UserError(f"config key '{key}': {message}")


def check_names(value: Any, key: str, allowed: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        fail(key, f"expected a non-empty list; allowed values: {', '.join(allowed)}")
    bad = [v for v in value if v not in allowed]
    if bad:
        fail(key, f"unknown {', '.join(map(repr, bad))}; allowed: {', '.join(allowed)}")
    if len(set(value)) != len(value):
        fail(key, "contains duplicates")
    return tuple(value)


def check_ints(value: Any, key: str, *, minimum: int) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in value):
        fail(key, f"expected a non-empty list of integers >= {minimum}, got {value!r}")
    if len(set(value)) != len(value):
        fail(key, "contains duplicates")
    return tuple(sorted(value))


def join_options(opts: list[tuple[str, str | None]]) -> str:
    return " ".join(f"{k} {shlex.quote(v)}" for k, v in opts if v is not None)



def optional_section(config: dict[str, Any], name: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """An optional config section, its unknown keys refused by name; ``None`` when absent or empty."""
    raw = config.get(name)
    if not raw:
        return None
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        fail(f"{name}.{unknown[0]}", f"unknown key; allowed: {', '.join(keys)}")
    return raw


