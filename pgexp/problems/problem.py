"""A *problem*: an MDP, a policy over its features and a parameter vector -- what every command takes.

``build_problem`` turns the CLI/config options (``--env``, ``--features``, ``--policy``, ``--theta``,
``--gamma``, ``--horizon``) into one object; the same keys are used in the YAML config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pgexp.memory import require_memory
from pgexp.policies import TabularPolicy, make_features, make_policy
from pgexp.policies.theta import make_theta
from pgexp.problems.mdp import FiniteMDP
from pgexp.problems.registry import make_env, parse_gamma, parse_horizon


@dataclass(frozen=True, eq=False)
class Problem:
    """An MDP with a policy and the point ``theta`` at which gradients are taken."""

    track: ClassVar[str] = "tabular"  # exact gradients (continuous-state tasks: pgexp.problems.continuous)

    mdp: FiniteMDP
    policy: TabularPolicy
    theta: np.ndarray
    env_spec: str
    features_spec: str
    policy_spec: str
    theta_spec: str
    group_size: int = 1  # responses per prompt (initial state) in a batch: pgexp.sampling.groups

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


def build_problem(
    env: str,
    *,
    features: str | None = None,
    policy: str | None = None,
    theta: str | None = None,
    gamma: float | str | None = None,
    horizon: int | str | None = None,
    track: str | None = None,
    policy_std: float | None = None,
    learn_std: bool = False,
) -> Any:
    """Assemble a :class:`Problem`; ``gamma``/``horizon`` override the problem's own values.

    A continuous-state Gymnasium task (``gym:CartPole-v1``) gives a
    :class:`~pgexp.problems.continuous.ContinuousProblem` instead (same options, no ``features``);
    ``track="tabular"`` refuses one (for commands that need the exact values).  A linear-quadratic problem
    (``lqr:...``) gives a :class:`~pgexp.problems.lqr.LQRProblem` (exact values too); ``policy_std`` and
    ``learn_std`` set its Gaussian policy (and a continuous-action task's).
    """
    from pgexp.errors import UserError
    from pgexp.problems.continuous import build_continuous_problem, is_continuous_gym
    from pgexp.problems.lqr import build_lqr_problem, is_lqr

    if is_lqr(env):
        return build_lqr_problem(env, features=features, policy=policy, theta=theta, gamma=gamma, horizon=horizon,
                                 policy_std=policy_std, learn_std=learn_std)
    if is_continuous_gym(env):
        if track == "tabular":
            raise UserError(f"--env {env}: a continuous-state task has no exact values; this command needs a tabular "
                            "problem (a Gymnasium toy-text task such as gym:FrozenLake-v1, garnet, chain, corridor)")
        return build_continuous_problem(env, features=features, policy=policy, theta=theta, gamma=gamma,
                                        horizon=horizon, policy_std=policy_std, learn_std=learn_std)
    if policy_std is not None or learn_std:
        raise UserError("--policy-std, --learn-std: Gaussian policies only (lqr:... problems and continuous-action "
                        "Gymnasium tasks); this problem has discrete actions")
    mdp = make_env(env)
    changes: dict[str, Any] = {}
    if gamma is not None:
        changes["gamma"] = parse_gamma(float(gamma) if isinstance(gamma, str) else gamma, what="--gamma")
    if horizon is not None:
        changes["horizon"] = parse_horizon(_int_or_text(horizon), what="--horizon")
    if changes:
        mdp = mdp.replace(**changes)
    require_horizon_memory(mdp)
    feats = make_features(features, mdp)
    pol = make_policy(policy, feats)
    th = make_theta(theta, pol.dim, pol)
    default = "init" if hasattr(pol, "default_theta") else "zeros"
    return Problem(mdp, pol, th, env, feats.name if pol.name == "linear" else "onehot-state", pol.name,
                   default if theta is None else theta)


def require_horizon_memory(mdp: FiniteMDP) -> None:
    """Refuse a finite horizon whose exact values ``V_h(s)``, ``h = 0..H`` (every command computes them:
    ``8 (H + 1) S`` bytes) would not fit in memory."""
    if mdp.horizon is not None:
        require_memory(8.0 * (mdp.horizon + 1) * mdp.num_states,
                       f"--horizon {mdp.horizon} (exact values for {mdp.horizon + 1} steps x {mdp.num_states} states)")


def _int_or_text(value: int | str) -> int | str:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    return value
