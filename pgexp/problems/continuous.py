"""Continuous-state problems: a Gymnasium task with a ``Box`` observation and ``Discrete`` actions
(``gym:CartPole-v1``, ``gym:Acrobot-v1``) or ``Box`` actions (``gym:Pendulum-v1``, ``gym:MountainCarContinuous-v0``,
the MuJoCo tasks ``gym:InvertedPendulum-v5``, ``gym:Hopper-v5``: a Gaussian policy,
:mod:`pgexp.policies.gaussian_mlp`), a policy over its observations and the point ``theta``.

Continuous actions are passed to the environment as the policy sampled them; the environment clips them to its
bounds where it does (Pendulum's torque, MountainCar's force, MuJoCo's control range): clipping is part of the
dynamics, and the score is the Gaussian's at the sampled action.

They differ from tabular problems only where the truth comes from (no exact gradient: a Monte-Carlo
reference, :mod:`pgexp.runs.reference`) and how trajectories are sampled (a ``gymnasium.vector``
environment, :mod:`pgexp.sampling.vector_env`); the estimators, the replicate grid, the training loop
and the tables are shared.

The objective is finite-horizon: ``J = E[sum_{t < T} gamma^t r_t]`` where an episode ends at termination,
at the task's own time limit, or at the ``horizon`` cap, whichever comes first (default ``gamma`` =
:data:`DEFAULT_GAMMA`; ``horizon`` ``None``/``inf`` means the task's time limit).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from pgexp.errors import UserError

if TYPE_CHECKING:  # the task's metadata (GymTask) stays numpy-free: the workflow reads it
    import numpy as np

DEFAULT_GAMMA = 0.99


@dataclass(frozen=True)
class GymTask:
    """A Gymnasium environment with a ``Box`` observation and ``Discrete`` actions."""

    env_id: str
    obs_dim: int
    num_actions: int
    max_steps: int
    vectorised: bool  # Gymnasium has a native vector implementation
    action_dim: int = 0  # Box actions: their dimension (0: Discrete, num_actions of them)
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()

    def __post_init__(self) -> None:  # bounds read back from a JSON record come as lists
        object.__setattr__(self, "action_low", tuple(self.action_low))
        object.__setattr__(self, "action_high", tuple(self.action_high))

    @property
    def continuous_actions(self) -> bool:
        return self.action_dim > 0

    @property
    def name(self) -> str:
        return f"gym:{self.env_id}"

    def horizon(self, cap: int | None) -> int:
        """Effective episode cap ``min(cap, max_steps)``."""
        if cap is None:
            return self.max_steps
        if isinstance(cap, bool) or int(cap) != cap or int(cap) < 1:
            raise UserError(f"--horizon: {cap!r}; allowed: a positive integer (episode cap) or inf")
        return min(int(cap), self.max_steps)


def env_id_of(spec: str) -> str:
    """``gym:CartPole-v1`` or ``CartPole-v1`` -> ``CartPole-v1`` (options are not supported)."""
    text = spec.strip().removeprefix("gym:")
    if ":" in text:
        raise UserError(f"--env {spec!r}: continuous-state gym environments take no options")
    return text


@cache
def gym_task(spec: str) -> GymTask:
    """Look up ``spec`` in Gymnasium's registry and check it has Box observations and Discrete actions."""
    import gymnasium as gym

    env_id = env_id_of(spec)
    try:
        es = gym.spec(env_id)
    except gym.error.Error as exc:  # NameNotFound / VersionNotFound / NamespaceNotFound ...
        raise UserError(f"--env gym:{env_id}: not a registered Gymnasium environment ({exc})") from None
    try:
        env = gym.make(env_id)
    except (gym.error.Error, ImportError) as exc:  # e.g. a missing optional dependency (box2d, mujoco)
        raise UserError(f"--env gym:{env_id}: cannot be created ({exc})") from None
    try:
        obs, act = env.observation_space, env.action_space
        box = isinstance(act, gym.spaces.Box) and len(act.shape) == 1
        if not isinstance(obs, gym.spaces.Box) or len(obs.shape) != 1 or not (isinstance(act, gym.spaces.Discrete)
                                                                                 or box):
            raise UserError(f"--env gym:{env_id}: needs a flat Box observation and Discrete or flat Box actions "
                            f"(has {obs} / {act})")
        max_steps = es.max_episode_steps
        if max_steps is None:
            raise UserError(f"--env gym:{env_id}: has no time limit; continuous-state episodes need one")
        if isinstance(act, gym.spaces.Box):
            return GymTask(env_id, int(obs.shape[0]), 0, int(max_steps), es.vector_entry_point is not None,
                           int(act.shape[0]), tuple(float(x) for x in act.low), tuple(float(x) for x in act.high))
        assert isinstance(act, gym.spaces.Discrete)
        return GymTask(env_id, int(obs.shape[0]), int(act.n), int(max_steps), es.vector_entry_point is not None)
    finally:
        env.close()


def latest_versions(ids: list[str]) -> list[str]:
    """The newest version of each task name (``CartPole-v0``, ``CartPole-v1`` -> ``CartPole-v1``)."""
    best: dict[str, tuple[int, str]] = {}
    for env_id in ids:
        name, _, version = env_id.rpartition("-v")
        v = int(version) if version.isdigit() else -1
        if name not in best or v > best[name][0]:
            best[name] = (v, env_id)
    return sorted(env_id for _, env_id in best.values())


MUJOCO = ("InvertedPendulum-v5", "Hopper-v5")  # the mujoco package is a dependency; these are tested


@cache
def gym_families() -> dict[str, list[str]]:
    """``{"tabular": [...], "continuous": [...]}``: Gymnasium's registered tasks that pgexp can build.

    Gymnasium's own toy-text and classic-control packages are tried, and the MuJoCo tasks pgexp tests
    (:data:`MUJOCO`; other packages need optional simulators); a task is tabular when it exposes its transition
    table, continuous when :func:`gym_task` accepts it -- the one description of the continuous-state tasks:
    ``pgexp envs`` prints it, and a config or command that refuses a task lists it (:func:`continuous_choices`).
    """
    import warnings

    import gymnasium as gym

    from pgexp.problems.gym_toytext import has_table

    tabular, continuous = [], []
    ids = [k for k, spec in gym.envs.registry.items() if isinstance(spec.entry_point, str)
           and spec.entry_point.startswith(("gymnasium.envs.toy_text", "gymnasium.envs.classic_control"))]
    for env_id in [*latest_versions(ids), *MUJOCO]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = gym.make(env_id)
            table = has_table(env.unwrapped)
            env.close()
            if table:
                tabular.append(env_id)
                continue
            try:
                gym_task(f"gym:{env_id}")
            except UserError:
                continue
            continuous.append(env_id)
    return {"tabular": tabular, "continuous": continuous}


def continuous_choices() -> str:
    """The continuous-state tasks as the user writes them, for an error's "allowed: ..."."""
    return ", ".join(f"gym:{t}" for t in gym_families()["continuous"])


def is_continuous_gym(spec: str) -> bool:
    """Whether an ``--env`` spec names a continuous-state Gymnasium task rather than a tabular problem
    (``gym:FrozenLake-v1`` is tabular: Gymnasium publishes its transition table)."""
    text = spec.strip()
    if not text.startswith("gym:"):
        return False
    try:
        gym_task(text)
    except UserError:
        return False
    return True


@dataclass(frozen=True, eq=False)
class ContinuousProblem:
    """A continuous-state task, a policy over its observations (:class:`~pgexp.policies.obs_mlp.ObsMLPPolicy`)
    and the point ``theta``; ``horizon`` is the effective episode cap."""

    track: ClassVar[str] = "continuous"

    task: GymTask
    policy: Any
    theta: np.ndarray
    env_spec: str
    theta_spec: str
    gamma: float
    horizon: int

    def identity(self) -> dict[str, Any]:
        """The problem's parameters as plain values (parquet columns, seeds, provenance)."""
        return {"env": self.task.name, "features": "obs", "policy": self.policy.name, "theta": self.theta_spec,
                "gamma": float(self.gamma), "horizon": int(self.horizon), "dim": int(self.policy.dim)}

    def at(self, theta: np.ndarray) -> ContinuousProblem:
        import numpy as np

        return replace(self, theta=np.asarray(theta, dtype=np.float64))


def build_continuous_problem(env: str, *, features: str | None = None, policy: str | None = None,
                             theta: str | None = None, gamma: float | str | None = None,
                             horizon: int | str | None = None, policy_std: float | None = None,
                             learn_std: bool = False) -> ContinuousProblem:
    """``env``: ``gym:CartPole-v1``; ``policy``: ``mlp:hidden=32,seed=0`` (default) or ``linear``;
    ``theta``: ``init`` (default: the network's seeded initialisation) | ``zeros`` | ``random:...`` | ``PATH.npy``.
    Continuous actions: a Gaussian MLP policy (``policy_std``, ``learn_std``, ``mlp:...,std=state``)."""
    from pgexp.policies.theta import make_theta
    from pgexp.problems.registry import parse_gamma, parse_horizon

    if features is not None:
        raise UserError(f"--features {features!r}: continuous-state tasks read the observation; give no --features")
    task = gym_task(env)
    pol: Any
    if task.continuous_actions:
        from pgexp.policies.gaussian_mlp import make_gaussian_policy

        pol = make_gaussian_policy(policy, task.obs_dim, task.action_dim, policy_std, learn_std)
    else:
        from pgexp.policies.obs_mlp import make_obs_policy

        if policy_std is not None or learn_std:
            raise UserError(f"--policy-std, --learn-std: Gaussian policies only; gym:{task.env_id} has discrete "
                            "actions")
        pol = make_obs_policy(policy, task.obs_dim, task.num_actions)
    th = make_theta(theta, pol.dim, pol)
    g = DEFAULT_GAMMA if gamma is None else parse_gamma(float(gamma) if isinstance(gamma, str) else gamma,
                                                         what="--gamma")
    h = parse_horizon(int(horizon) if isinstance(horizon, str) and horizon.strip().isdigit() else horizon,
                      what="--horizon")
    return ContinuousProblem(task, pol, th, env, "init" if theta is None else str(theta), g, task.horizon(h))
