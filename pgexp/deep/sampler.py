"""Batches of episodes from Gymnasium's continuous-state environments (CartPole-v1, Acrobot-v1, ...).

One batch of ``N`` episodes runs as one ``gymnasium.vector`` environment with ``N`` sub-environments,
each contributing its *first* episode: Gymnasium's own vectorised implementation where the
environment registers one (``CartPole-v1``: ``CartPoleVectorEnv``, ~70x faster than a Python loop of
single environments, same dynamics), else a ``SyncVectorEnv`` of ``gym.make`` copies (``Acrobot-v1``).
Sub-environments that have finished keep being stepped by the vector env (auto-reset) but are masked
out; nothing after an episode's end is recorded.

Seeding (no global random state): the batch's ``numpy.random.SeedSequence`` gives two children --
child 0 an integer seed for ``reset(seed=...)`` (a ``SyncVectorEnv`` seeds sub-environment ``i`` with
``seed + i``; the vectorised CartPole draws all initial states from one generator), child 1 a
``numpy.random.Generator`` for the actions (inverse-CDF sampling from one uniform per sub-environment
and step).  The same SeedSequence gives the same batch, bit for bit.

Episodes end at termination, at the environment's own time limit (500 steps for both), or at the
``horizon`` cap, whichever comes first: the objective is ``J = E[sum_{t < T} gamma^t r_t]`` with that
``T`` (a finite-horizon problem; truncation is part of it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from pgexp.errors import UserError


@dataclass(frozen=True)
class GymTask:
    """A Gymnasium environment with a ``Box`` observation and ``Discrete`` actions."""

    env_id: str
    obs_dim: int
    num_actions: int
    max_steps: int
    vectorised: bool  # Gymnasium has a native vector implementation

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
    text = spec.strip()
    text = text.removeprefix("gym:")
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
        if not isinstance(obs, gym.spaces.Box) or len(obs.shape) != 1 or not isinstance(act, gym.spaces.Discrete):
            raise UserError(f"--env gym:{env_id}: needs a flat Box observation and Discrete actions "
                            f"(has {obs} / {act})")
        max_steps = es.max_episode_steps
        if max_steps is None:
            raise UserError(f"--env gym:{env_id}: has no time limit; continuous-state episodes need one")
        return GymTask(env_id, int(obs.shape[0]), int(act.n), int(max_steps), es.vector_entry_point is not None)
    finally:
        env.close()


def is_continuous_gym(spec: str) -> bool:
    """Whether an ``--env`` spec names a continuous-state Gymnasium environment (the :mod:`pgexp.deep` track)
    rather than a tabular problem (e.g. ``gym:FrozenLake-v1`` is tabular)."""
    text = spec.strip()
    if not text.startswith("gym:"):
        return False
    try:
        gym_task(text)
    except UserError:
        return False
    return True


@dataclass(frozen=True, eq=False)
class Episodes:
    """A padded batch: ``obs (N, L, obs_dim)`` float64, ``actions (N, L)`` int64, ``rewards (N, L)``
    float64 (zero padding), ``lengths (N,)``, ``terminated (N,)`` (ended by the environment, not by a
    time limit or the cap)."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    lengths: np.ndarray
    terminated: np.ndarray

    @property
    def num(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def mask(self) -> np.ndarray:
        return np.arange(self.obs.shape[1])[None, :] < self.lengths[:, None]

    @property
    def env_steps(self) -> int:
        return int(self.lengths.sum())

    @property
    def truncated(self) -> np.ndarray:
        return ~self.terminated

    def undiscounted_returns(self) -> np.ndarray:
        return self.rewards.sum(axis=1)


def child(seq: np.random.SeedSequence, k: int) -> np.random.SeedSequence:
    """The ``k``-th child of ``seq`` without mutating it (``spawn`` would count children)."""
    return np.random.SeedSequence(seq.entropy, spawn_key=tuple(seq.spawn_key) + (k,))


def _make_vec(task: GymTask, n: int):
    import gymnasium as gym

    mode = "vector_entry_point" if task.vectorised else "sync"
    return gym.make_vec(task.env_id, num_envs=n, vectorization_mode=mode)


def sample_episodes(task: GymTask, probs_fn: Callable[[np.ndarray], np.ndarray], n: int, seq: np.random.SeedSequence,
                    horizon: int | None = None) -> Episodes:
    """``n`` episodes; ``probs_fn(obs (k, obs_dim) float64) -> (k, A)`` gives the policy's action probabilities."""
    if n < 1:
        raise UserError(f"batch size {n}; allowed: a positive integer")
    H = task.horizon(horizon)
    words = child(seq, 0).generate_state(2, np.uint32)
    reset_seed = int(words[0]) << 31 | int(words[1]) >> 1  # 63 bits: sub-environment seeds seed + i never collide
    rng = np.random.default_rng(child(seq, 1))
    obs_buf = np.zeros((n, H, task.obs_dim))
    actions = np.zeros((n, H), dtype=np.int64)
    rewards = np.zeros((n, H))
    lengths = np.zeros(n, dtype=np.int64)
    terminated = np.zeros(n, dtype=bool)
    done = np.zeros(n, dtype=bool)
    env = _make_vec(task, n)
    try:
        obs, _ = env.reset(seed=reset_seed)
        for t in range(H):
            live = ~done
            if not live.any():
                break
            u = rng.random(n)  # one uniform per sub-environment and step, drawn whether live or not
            o = np.asarray(obs, dtype=np.float64)
            a = np.zeros(n, dtype=np.int64)
            p = np.asarray(probs_fn(o[live]), dtype=np.float64)
            cdf = np.cumsum(p, axis=1)
            a[live] = np.minimum((u[live, None] >= cdf[:, :-1]).sum(axis=1), task.num_actions - 1)
            obs_buf[live, t] = o[live]
            actions[live, t] = a[live]
            obs, r, term, trunc, _ = env.step(a)
            rewards[live, t] = np.asarray(r, dtype=np.float64)[live]
            lengths[live] += 1
            terminated |= live & np.asarray(term, dtype=bool)
            done |= live & (np.asarray(term, dtype=bool) | np.asarray(trunc, dtype=bool))
    finally:
        env.close()
    L = int(lengths.max())
    return Episodes(obs_buf[:, :L].copy(), actions[:, :L].copy(), rewards[:, :L].copy(), lengths, terminated)


def describe(task: GymTask) -> dict[str, Any]:
    return {"env": task.name, "obs_dim": task.obs_dim, "num_actions": task.num_actions, "max_steps": task.max_steps}
