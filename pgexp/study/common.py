"""What every config section shares: one-line errors naming the key, list checks, option strings."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Sequence
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
    if (not isinstance(value, list) or not value
            or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in value)):
        fail(key, f"expected a non-empty list of integers >= {minimum}, got {value!r}")
    if len(set(value)) != len(value):
        fail(key, "contains duplicates")
    return tuple(sorted(value))


def join_options(opts: Sequence[tuple[str, str | None]]) -> str:
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


def check_baselines(value: Any, key: str) -> tuple[str, ...]:
    """A non-empty list of baselines as the user writes them (``none``, ``fixed:c=0.5``), in canonical form."""
    from pgexp.estimators import parse_baseline
    from pgexp.estimators.spec import baseline_usage

    if not isinstance(value, list) or not value:
        fail(key, f"expected a non-empty list; allowed values: {', '.join(baseline_usage())}")
    out = []
    for v in value:
        try:
            out.append(parse_baseline(str(v), what=key).name)
        except UserError as exc:
            fail(key, str(exc).removeprefix(f"{key}: "))
    if len(set(out)) != len(out):
        fail(key, "contains duplicates")
    return tuple(out)


def hyperparameter_values(raw: dict[str, Any], where: str,
                          inherited: dict[str, float] | None = None) -> dict[str, float]:
    """The registry's hyperparameters (``lam``, a plug-in's own) that a config section sets, validated."""
    from pgexp.estimators import hyperparameters

    out = dict(inherited or {})
    for name, h in hyperparameters().items():
        if raw.get(name) is not None:
            try:
                out[name] = h.validate(raw[name], f"config key '{where + '.' if where else ''}{name}'")
            except UserError as exc:
                raise UserError(str(exc)) from None
    return out


def estimator_options(estimator: str, baseline: str, params: dict[str, float],
                      fit_batch_size: int | None) -> list[tuple[str, str | None]]:
    """The options only this estimator x baseline takes: its hyperparameters (every one, default or given:
    changing one reruns only the jobs that use it) and ``--fit-batch-size`` when it fits anything."""
    from pgexp.estimators import ESTIMATORS

    est = ESTIMATORS[estimator]
    opts: list[tuple[str, str | None]] = [(h.option, repr(float(params.get(h.name, h.default))))
                                          for h in est.hyperparameters]
    if fit_batch_size is not None and est.needs_fit(baseline):
        opts.append(("--fit-batch-size", str(int(fit_batch_size))))
    return opts


def pairs_options(pairs: list[tuple[str, str]], params: dict[str, float],
                  fit_batch_size: int | None) -> list[tuple[str, str | None]]:
    """``--pairs`` and the options those pairs take (their hyperparameters, every one, default or given; ``--fit-batch-
    size`` when one of them fits anything): one job's options for several pairs, in a deterministic order."""
    opts: dict[str, tuple[str, str | None]] = {}
    for e, b in pairs:
        for k, v in estimator_options(e, b, params, fit_batch_size):
            opts[k] = (k, v)
    return [("--pairs", " ".join(f"{e}~{b}" for e, b in pairs)), *opts.values()]


def check_fit_batch_size(value: Any, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        fail(key, f"expected a positive integer (trajectories of every auxiliary fit), got {value!r}")
    return int(value)


def pair_allowed(estimator: str, baseline: str, track: str = "tabular") -> bool:
    """Whether the registry pairs ``estimator`` with ``baseline`` on ``track``."""
    from pgexp.estimators import BASELINES, ESTIMATORS

    est, base = ESTIMATORS[estimator], BASELINES[baseline.partition(":")[0]]
    return base.name in est.baselines and track in est.tracks and track in base.tracks

