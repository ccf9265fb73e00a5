"""The ``--policy mlp:hidden=64x64,activation=tanh,seed=0`` spec, without torch.

Parsing and checking the spec needs no network, so the workflow validates every policy of a study
config (:mod:`pgexp.study`) without importing torch on each ``snakemake`` call; :mod:`pgexp.policies.mlp`
builds the network from the parsed :class:`MLPSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgexp.errors import UserError
from pgexp.specs import Spec, check_keys, parse_spec

ACTIVATION_NAMES = ("tanh", "relu")
MLP_DEFAULTS: dict[str, Any] = {"hidden": "64x64", "activation": "tanh", "seed": 0}


@dataclass(frozen=True)
class MLPSpec:
    """Hidden sizes, activation and init seed of an MLP policy."""

    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    seed: int = 0

    @property
    def name(self) -> str:
        """Canonical spec string, every key present (used in tables, identities and seeds)."""
        hid = "x".join(str(h) for h in self.hidden) if self.hidden else "none"
        return f"mlp:activation={self.activation},hidden={hid},seed={self.seed}"


def parse_hidden(value: Any) -> tuple[int, ...]:
    """``32`` | ``"64x64"`` | ``none``/``0`` (no hidden layer: linear in the input) -> sizes."""
    if value is None or value == 0 or (isinstance(value, str) and value.strip().lower() in {"", "none"}):
        return ()
    if isinstance(value, bool):
        raise UserError(f"--policy mlp: hidden={value!r}; allowed: e.g. 32, 64x64 or none")
    parts = [value] if isinstance(value, int) else str(value).lower().split("x")
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise UserError(f"--policy mlp: hidden={value!r}; allowed: e.g. 32, 64x64 or none") from None
    if any(s < 1 for s in sizes):
        raise UserError(f"--policy mlp: hidden={value!r}; layer sizes must be positive integers")
    return sizes


def parse_mlp_spec(spec: str | Spec) -> MLPSpec:
    """``mlp[:hidden=64x64,activation=tanh|relu,seed=0]`` -> :class:`MLPSpec`."""
    parsed = spec if isinstance(spec, Spec) else parse_spec(spec, what="--policy")
    if parsed.name != "mlp":
        raise UserError(f"--policy: {parsed.name!r} is not an mlp spec")
    o = check_keys(parsed, MLP_DEFAULTS, what="--policy")
    act = str(o["activation"]).lower()
    if act not in ACTIVATION_NAMES:
        raise UserError(f"--policy mlp: activation={o['activation']!r}; allowed: {', '.join(ACTIVATION_NAMES)}")
    seed = o["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"--policy mlp: seed={seed!r}; allowed: a non-negative integer")
    return MLPSpec(parse_hidden(o["hidden"]), act, int(seed))
