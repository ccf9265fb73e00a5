"""Shared fixtures: a catalogue of small problems covering every objective and problem family."""

from __future__ import annotations

import os

# One BLAS thread, as Snakemake gives a one-thread job: on a shared 2-core machine OpenBLAS threads spin
# on the small matrices here (a 70 x 70 ridge solve took 24 ms with them, 0.8 ms without).  Set before
# numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from pgexp.problems.problem import Problem, build_problem  # noqa: E402

# (id, env spec, features, gamma, horizon): every objective kind and every problem family.
SMALL_PROBLEMS = [
    ("corridor-episodic", "short_corridor", None, None, None),
    ("corridor-finite", "short_corridor", None, None, 7),
    ("corridor-discounted", "short_corridor", None, 0.9, "inf"),
    ("garnet-discounted", "garnet:states=6,actions=3,branching=3,seed=1", None, 0.9, None),
    ("garnet-finite-undiscounted", "garnet:states=5,actions=2,branching=2,seed=2", None, 1.0, 6),
    ("garnet-finite-discounted-randfeat", "garnet:states=7,actions=3,branching=4,seed=3", "random:d=4,seed=0", 0.8, 9),
    ("chain-discounted", "chain:length=5", None, 0.95, None),
    ("chain-finite", "chain:length=4,seed=1", None, 1.0, 12),
    ("frozenlake-finite", "gym:FrozenLake-v1:map_name=4x4,is_slippery=true", None, None, 20),
    ("frozenlake-discounted", "gym:FrozenLake-v1:map_name=4x4,is_slippery=true", None, 0.9, "inf"),
]


def make_problem(env: str, features: str | None, gamma, horizon, seed: int = 0, scale: float = 0.7) -> Problem:
    return build_problem(env, features=features, theta=f"random:seed={seed},scale={scale}", gamma=gamma,
                         horizon=horizon)


@pytest.fixture(params=SMALL_PROBLEMS, ids=[p[0] for p in SMALL_PROBLEMS])
def small_problem(request) -> Problem:
    _, env, features, gamma, horizon = request.param
    return make_problem(env, features, gamma, horizon)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="module")
def torch_one_thread():
    """Torch on one thread for a module (tiny tensors: threads only add overhead and contention)."""
    import torch  # here, not at the top: most test modules never need torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
