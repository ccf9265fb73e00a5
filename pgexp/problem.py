"""A *problem*: an MDP, a policy over its features and a parameter vector -- what every command takes.

``build_problem`` turns the CLI/config options (``--env``, ``--features``, ``--policy``, ``--theta``,
``--gamma``, ``--horizon``) into one object; the same keys are used in the YAML config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pgexp.envs import make_env, parse_gamma, parse_horizon
from pgexp.errors import UserError
from pgexp.mdp import FiniteMDP
from pgexp.policies import TabularPolicy, make_features, make_policy
from pgexp.specs import check_keys, parse_spec


@dataclass(frozen=True, eq=False)
class Problem:
    """An MDP with a policy and the point ``theta`` at which gradients are taken."""

    mdp: FiniteMDP
    policy: TabularPolicy
    theta: np.ndarray
    env_spec: str
    features_spec: str
    policy_spec: str
    theta_spec: str

    def identity(self) -> dict[str, Any]:
        """The problem's parameters as plain values (for parquet columns, seeds and provenance)."""
        return {
            "env": self.mdp.name or self.env_spec,
            "features": self.features_spec,
            "policy": self.policy_spec,
            "theta": self.theta_spec,
            "gamma": self.mdp.gamma,
            "horizon": -1 if self.mdp.horizon is None else int(self.mdp.horizon),
            "dim": int(self.policy.dim),
        }


def make_theta(spec: str | None, dim: int, policy: object | None = None) -> np.ndarray:
    """``init`` | ``zeros`` | ``random:seed=S,scale=X`` (N(0, X^2) entries) | ``PATH.npy`` -> ``(dim,)`` float64.

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
        path = Path(text)
        if not path.is_file():
            raise UserError(f"--theta: no such file {text!r}")
        theta = np.load(path, allow_pickle=False).astype(np.float64).reshape(-1)
        if theta.shape != (dim,):
            raise UserError(f"--theta {text}: has {theta.size} entries; this policy has dim = {dim}")
        if not np.all(np.isfinite(theta)):
            raise UserError(f"--theta {text}: contains non-finite values")
        return theta
    parsed = parse_spec(text, what="--theta")
    if parsed.name == "zeros":
        check_keys(parsed, {}, what="--theta")
        return np.zeros(dim)
    if parsed.name == "random":
        o = check_keys(parsed, {"seed": 0, "scale": 1.0}, what="--theta")
        rng = np.random.default_rng(np.random.SeedSequence([int(o["seed"]), dim]))
        return float(o["scale"]) * rng.standard_normal(dim)
    raise UserError(f"--theta: {text!r}; allowed: init, zeros, random:seed=S,scale=X, or a PATH.npy of length dim")


def build_problem(
    env: str,
    *,
    features: str | None = None,
    policy: str | None = None,
    theta: str | None = None,
    gamma: float | str | None = None,
    horizon: int | str | None = None,
) -> Problem:
    """Assemble a :class:`Problem`; ``gamma``/``horizon`` override the problem's own values."""
    mdp = make_env(env)
    changes: dict[str, Any] = {}
    if gamma is not None:
        changes["gamma"] = parse_gamma(float(gamma) if isinstance(gamma, str) else gamma, what="--gamma")
    if horizon is not None:
        changes["horizon"] = parse_horizon(_int_or_text(horizon), what="--horizon")
    if changes:
        mdp = mdp.replace(**changes)
    feats = make_features(features, mdp)
    pol = make_policy(policy, feats)
    th = make_theta(theta, pol.dim, pol)
    default = "init" if hasattr(pol, "default_theta") else "zeros"
    return Problem(mdp, pol, th, env, feats.name if pol.name == "linear" else "onehot-state", pol.name,
                   default if theta is None else theta)


def _int_or_text(value: int | str) -> int | str:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    return value
