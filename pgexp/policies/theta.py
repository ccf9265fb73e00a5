"""Parameter points ``theta``: ``init`` | ``zeros`` | ``random:seed=S,scale=X`` | ``values:X;Y;...`` | ``PATH.npy``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pgexp.errors import UserError
from pgexp.specs import check_keys, parse_spec


def make_theta(spec: str | None, dim: int, policy: object | None = None) -> np.ndarray:
    """``init`` | ``zeros`` | ``random:seed=S,scale=X`` (N(0, X^2) entries) | ``values:X;Y;...`` (the entries,
    ``;``-separated, ``dim`` of them) | ``PATH.npy`` -> ``(dim,)`` float64.

    ``init`` is the policy's own initialisation (an MLP's seeded layer init) and the default for
    policies that have one; for softmax-linear the default is ``zeros``.
    """
    if spec is None:
        text = "init" if hasattr(policy, "default_theta") else "zeros"
    else:
        text = spec.strip()
    if text == "init":
        if not hasattr(policy, "default_theta"):
            raise UserError("--theta init: this policy has no initialisation of its own; "
                            "use zeros, random:seed=S,scale=X or PATH.npy")
        return np.asarray(policy.default_theta(), dtype=np.float64)
    if text.endswith(".npy"):
        return theta_file(text, dim)
    if text.startswith("values:"):
        try:
            theta = np.array([float(x) for x in text[len("values:"):].split(";")], dtype=np.float64)
        except ValueError:
            theta = np.array([np.nan])
        if theta.shape != (dim,) or not np.all(np.isfinite(theta)):
            raise UserError(f"--theta {text}: expected {dim} finite numbers separated by ';' "
                            f"(this policy has dim = {dim})")
        return theta
    parsed = parse_spec(text, what="--theta")
    if parsed.name == "zeros":
        check_keys(parsed, {}, what="--theta")
        return np.zeros(dim)
    if parsed.name == "random":
        o = check_keys(parsed, {"seed": 0, "scale": 1.0}, what="--theta")
        rng = np.random.default_rng(np.random.SeedSequence([int(o["seed"]), dim]))
        return float(o["scale"]) * rng.standard_normal(dim)
    raise UserError(f"--theta: {text!r}; allowed: init, zeros, random:seed=S,scale=X, values:X;Y;..., or a PATH.npy "
                    "of length dim")


def theta_file(text: str, dim: int) -> np.ndarray:
    """A ``PATH.npy`` theta: a 1-d array of ``dim`` finite numbers, else a one-line error naming the file."""
    path = Path(text)
    if not path.is_file():
        raise UserError(f"--theta: no such file {text!r}")
    try:
        raw = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"--theta {text}: not a .npy array ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(raw, np.ndarray) or raw.dtype.kind not in "biuf":
        raise UserError(f"--theta {text}: holds {getattr(raw, 'dtype', type(raw))} values; allowed: numbers")
    if raw.ndim != 1:
        raise UserError(f"--theta {text}: has shape {raw.shape}; allowed: a 1-d array of dim = {dim} entries")
    theta = raw.astype(np.float64)
    if theta.shape != (dim,):
        raise UserError(f"--theta {text}: has {theta.size} entries; this policy has dim = {dim}")
    if not np.all(np.isfinite(theta)):
        raise UserError(f"--theta {text}: contains non-finite values")
    return theta
