"""A user's own MDP from ``.npz``, ``.yaml``/``.yml`` or ``.json``.

Fields: ``P`` (S, A, S), ``r`` (S, A), ``mu`` (S,), optional ``phi`` (S, A, d), ``gamma``, ``horizon``
(an integer or ``inf``).  Everything is validated on load; a mistake gives one :class:`UserError` that
names the field, the offending index and what is allowed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.problems.mdp import FiniteMDP, make_mdp
from pgexp.problems.registry import parse_gamma, parse_horizon
from pgexp.specs import Spec

REQUIRED = ("P", "r", "mu")
OPTIONAL = ("phi", "gamma", "horizon")


def read_fields(path: Path) -> dict[str, Any]:
    """The raw fields of an MDP file, by suffix."""
    if not path.is_file():
        raise UserError(f"--env file:{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        text = path.read_text()
        if suffix in {".yaml", ".yml"}:
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise UserError(f"--env file:{path}: unknown suffix {suffix!r}; allowed: .npz, .yaml, .yml, .json")
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"--env file:{path}: cannot read it: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"--env file:{path}: expected a mapping with fields {', '.join(REQUIRED + OPTIONAL)}")
    return data


def _array(fields: dict[str, Any], key: str, ndim: int, path: Path) -> np.ndarray:
    try:
        arr = np.asarray(fields[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"{path}: field {key!r} must be a numeric array of {ndim} dimensions "
                        "(ragged or non-numeric values found)") from None
    if arr.ndim != ndim:
        raise UserError(f"{path}: field {key!r} must have {ndim} dimensions, got shape {arr.shape}")
    return arr


def load_mdp(path: str | Path, *, name: str | None = None) -> FiniteMDP:
    """Load and validate an MDP file (see the module docstring for its fields)."""
    path = Path(path)
    fields = read_fields(path)
    missing = [k for k in REQUIRED if k not in fields]
    if missing:
        raise UserError(f"{path}: missing field(s) {', '.join(missing)}; required: P (S,A,S), r (S,A), mu (S,)")
    unknown = sorted(set(fields) - set(REQUIRED + OPTIONAL))
    if unknown:
        raise UserError(f"{path}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(REQUIRED + OPTIONAL)}")
    P = _array(fields, "P", 3, path)
    r = _array(fields, "r", 2, path)
    mu = _array(fields, "mu", 1, path)
    phi = _array(fields, "phi", 3, path) if "phi" in fields else None
    gamma = parse_gamma(_scalar(fields.get("gamma", 1.0)), what=f"{path}: field 'gamma'")
    horizon = parse_horizon(_scalar(fields.get("horizon", "inf")), what=f"{path}: field 'horizon'")
    try:
        return make_mdp(P, r, mu, gamma=gamma, horizon=horizon, phi=phi, name=name or f"file:{path}")
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None


def _scalar(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value = value.item() if value.shape == () else value
        if isinstance(value, bytes):
            value = value.decode()
    return value


def save_mdp(path: str | Path, mdp: FiniteMDP) -> None:
    """Write an MDP as ``.npz`` (dense ``P``) in the format :func:`load_mdp` reads."""
    fields: dict[str, Any] = {"P": mdp.dense_P, "r": mdp.r, "mu": mdp.mu, "gamma": np.float64(mdp.gamma),
                              "horizon": np.array("inf" if mdp.horizon is None else str(mdp.horizon))}
    if mdp.phi is not None:
        fields["phi"] = mdp.phi
    np.savez(path, **fields)


def build(o: dict[str, Any], spec: Spec) -> FiniteMDP:
    return load_mdp(spec.target or "", name=spec.canonical())
