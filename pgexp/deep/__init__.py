"""Continuous-state track: Gymnasium CartPole-v1 / Acrobot-v1 with torch MLP policies.

No exact gradient exists here, so estimators are measured against the mean of a very large
independent batch (the *reference*, with its own standard error); see :mod:`pgexp.deep.estimate`.

* :mod:`pgexp.deep.sampler`    -- batches of episodes from ``gymnasium.vector`` envs, seeded from a SeedSequence.
* :mod:`pgexp.deep.policy`     -- softmax MLP over observations; per-sample gradients by ``torch.func``.
* :mod:`pgexp.deep.estimators` -- reinforce, reward_to_go (none / constant / learned value), gae.
* :mod:`pgexp.deep.estimate`   -- :func:`deep_estimate` (replicates vs the reference), :func:`deep_reference`.
* :mod:`pgexp.deep.train`      -- :func:`deep_train` (learning curves of evaluation return).
* :mod:`pgexp.deep.bench`      -- :func:`bench_pergrad` (vmap vs a loop of ``backward()``).

Imports are lazy so ``import pgexp.deep`` (e.g. to ask :func:`is_continuous_gym`) stays cheap.
"""

from __future__ import annotations

from typing import Any

from pgexp.deep.sampler import is_continuous_gym

_LAZY = {
    "deep_estimate": "pgexp.deep.estimate",
    "deep_reference": "pgexp.deep.estimate",
    "build_deep_problem": "pgexp.deep.estimate",
    "deep_train": "pgexp.deep.train",
    "deep_train_run": "pgexp.deep.train",
    "bench_pergrad": "pgexp.deep.bench",
    "sample_episodes": "pgexp.deep.sampler",
    "gym_task": "pgexp.deep.sampler",
    "ObsMLPPolicy": "pgexp.deep.policy",
    "DEEP_ESTIMATORS": "pgexp.deep.estimators",
    "DEEP_BASELINES": "pgexp.deep.estimators",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pgexp.deep' has no attribute {name!r}")


__all__ = [  # noqa: RUF022 - the lazily imported names
    "is_continuous_gym", "deep_estimate", "deep_reference", "build_deep_problem", "deep_train", "deep_train_run",
    "bench_pergrad", "sample_episodes", "gym_task", "ObsMLPPolicy", "DEEP_ESTIMATORS", "DEEP_BASELINES",
]
