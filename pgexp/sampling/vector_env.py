"""Batches of episodes from Gymnasium's continuous-state tasks (CartPole-v1, Acrobot-v1, ...).

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
and step; a Gaussian policy on continuous actions: ``a = mu(o) + sigma(o) z`` with one standard normal vector per
sub-environment and step).  The same SeedSequence gives the same batch, bit for bit.

Continuous actions are stored and passed to ``step`` as sampled, unclipped: an environment that clips them to its
bounds (Pendulum, MountainCarContinuous, MuJoCo's control range) does so as part of its dynamics, and the score is
the Gaussian's at the sampled action (:mod:`pgexp.policies.gaussian_mlp`).

Episodes end at termination, at the environment's own time limit (500 steps for both), or at the
``horizon`` cap, whichever comes first: the objective is ``J = E[sum_{t < T} gamma^t r_t]`` with that
``T`` (a finite-horizon problem; truncation is part of it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pgexp.errors import UserError
from pgexp.problems.continuous import GymTask
from pgexp.sampling.rng import child


@dataclass(frozen=True, eq=False)
class Episodes:
    """A padded batch: ``obs (N, L, obs_dim)`` float64, ``actions (N, L)`` int64 (``(N, L, m)`` float64 for
    continuous actions), ``rewards (N, L)``
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


def _make_vec(task: GymTask, n: int):
    import gymnasium as gym

    mode = "vector_entry_point" if task.vectorised else "sync"
    return gym.make_vec(task.env_id, num_envs=n, vectorization_mode=mode)


def sample_episodes(task: GymTask, probs_fn: Callable[[np.ndarray], np.ndarray] | None, n: int,
                    seq: np.random.SeedSequence, horizon: int | None = None, *,
                    gaussian_fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None) -> Episodes:
    """``n`` episodes; ``probs_fn(obs (k, obs_dim) float64) -> (k, A)`` gives the policy's action probabilities, or for
    continuous actions ``gaussian_fn(obs) -> (mu (k, m), sigma (k, m))`` the Gaussian's mean and deviation."""
    if n < 1:
        raise UserError(f"batch size {n}; allowed: a positive integer")
    H = task.horizon(horizon)
    words = child(seq, 0).generate_state(2, np.uint32)
    reset_seed = int(words[0]) << 31 | int(words[1]) >> 1  # 63 bits: sub-environment seeds seed + i never collide
    rng = np.random.default_rng(child(seq, 1))
    obs_buf = np.zeros((n, H, task.obs_dim))
    m = task.action_dim
    actions = np.zeros((n, H, m)) if m else np.zeros((n, H), dtype=np.int64)
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
            o = np.asarray(obs, dtype=np.float64)
            if gaussian_fn is not None:
                zs = rng.standard_normal((n, m))  # one normal vector per sub-environment and step, live or not
                mu, sd = gaussian_fn(o)
                a = np.asarray(mu, dtype=np.float64) + np.asarray(sd, dtype=np.float64) * zs
            else:
                assert probs_fn is not None
                u = rng.random(n)  # one uniform per sub-environment and step, drawn whether live or not
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
