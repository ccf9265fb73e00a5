"""``pgexp bench pergrad``: per-sample gradients by ``torch.func.vmap(grad)`` against a loop of ``backward()``.

The same MLP (same parameters, float64) and the same batch of ``(observation, action)``
samples; the loop is the textbook way -- for each sample, zero the module's gradients, ``loss =
log_softmax(module(o))[a]``, ``loss.backward()``, copy the flattened gradient -- and the vmap path is
:meth:`pgexp.policies.obs_mlp.ObsMLPPolicy.step_scores`.  Each is timed ``repeats`` times after one warm-up;
medians are reported, with the largest difference between the two results as a check.  Both write
into a preallocated result array, so the timing measures the gradients rather than page faults.
"""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any

import numpy as np
import torch

from pgexp.policies.mlp import ACTIVATIONS, MLPSpec
from pgexp.policies.obs_mlp import ObsMLPPolicy
from pgexp.runs.context import set_threads


def _loop_module(policy: ObsMLPPolicy, theta: np.ndarray, dtype: torch.dtype) -> torch.nn.Module:
    sizes = [policy.obs_dim, *policy.spec.hidden, policy.num_actions]
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(torch.nn.Linear(a, b, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[policy.spec.activation]())
    module = torch.nn.Sequential(*layers)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(torch.as_tensor(theta, dtype=dtype), module.parameters())
    return module


def loop_scores(module: torch.nn.Module, obs: torch.Tensor, actions: torch.Tensor,
                out: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample ``grad log pi(a|o)`` by one ``backward()`` per sample, ``(M, d)`` (into ``out`` if given)."""
    params = list(module.parameters())
    if out is None:
        out = torch.empty(obs.shape[0], sum(p.numel() for p in params), dtype=obs.dtype)
    for k in range(obs.shape[0]):
        module.zero_grad(set_to_none=False)
        loss = torch.log_softmax(module(obs[k]), dim=-1)[actions[k]]
        loss.backward()
        torch.cat([p.grad.reshape(-1) for p in params if p.grad is not None], out=out[k])
    return out


def bench_pergrad(batch: int = 1000, hidden: tuple[int, ...] = (64, 64), obs_dim: int = 4, actions: int = 2,
                  repeats: int = 5, threads: int | None = None) -> dict[str, Any]:
    """Median seconds of ``batch`` per-sample gradients: vmap vs a loop of ``backward()``; ``ratio = loop / vmap``."""
    set_threads(threads)
    policy = ObsMLPPolicy(obs_dim, actions, MLPSpec(tuple(hidden), "tanh", 0))
    theta = policy.default_theta()
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((batch, obs_dim))
    acts = rng.integers(0, actions, batch)
    tdtype = torch.float64  # both paths in float64: the same MLP, the same numbers
    module = _loop_module(policy, theta, tdtype)
    o_t, a_t = torch.as_tensor(obs, dtype=tdtype), torch.as_tensor(acts)

    # both write into a preallocated (batch, d) result: fresh ~40 MB arrays would add the same
    # page-faulting cost to both and measure the allocator rather than the gradients
    v_out = np.empty((batch, policy.dim))
    l_out = torch.empty(batch, policy.dim, dtype=tdtype)

    def run_vmap():
        return policy.step_scores(theta, obs, acts, out=v_out)

    def run_loop():
        return loop_scores(module, o_t, a_t, out=l_out).numpy()

    v, lp = run_vmap().copy(), run_loop().copy()  # warm-up, and the check that both compute the same thing
    vt, lt = [], []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        run_vmap()
        vt.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_loop()
        lt.append(time.perf_counter() - t0)
    vs, ls = statistics.median(vt), statistics.median(lt)
    return {
        "benchmark": "pergrad",
        "batch": int(batch),
        "hidden": "x".join(map(str, hidden)) or "none",
        "obs_dim": int(obs_dim),
        "actions": int(actions),
        "dim": int(policy.dim),
        "dtype": "float64",
        "threads": int(torch.get_num_threads()),
        "repeats": int(max(1, repeats)),
        "vmap_seconds": vs,
        "loop_seconds": ls,
        "ratio": ls / vs if vs > 0 else float("inf"),
        "vmap_seconds_all": vt,
        "loop_seconds_all": lt,
        "max_abs_diff": float(np.abs(v - lp).max()),
    }
