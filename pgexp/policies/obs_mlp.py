"""Softmax MLP policy over observations, ``pi(a|o) = softmax(MLP_theta(o))[a]``, with per-sample gradients.

``theta`` is a flat float64 numpy vector (the network of :class:`pgexp.policies.mlp.TorchMLP`).
Per-sample gradients come from ``torch.func``, never from a Python loop over samples:

* :meth:`ObsMLPPolicy.step_scores` -- ``grad log pi(a_k|o_k)`` for ``M`` steps, ``vmap(grad(log_prob))``;
* :meth:`ObsMLPPolicy.trajectory_gradients` -- ``g_i = sum_h w_ih grad log pi(a_ih|o_ih)`` for ``N``
  padded trajectories, ``vmap`` over trajectories of ``grad`` of the trajectory's weighted log-likelihood
  (equal to summing the step scores -- tested -- without materialising the ``(N, L, d)`` array);
* :meth:`ObsMLPPolicy.batch_gradient` -- the batch mean ``(1/N) sum_i g_i`` by one backward pass.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.func import grad, vmap

from pgexp.errors import UserError
from pgexp.policies.mlp import DTYPE, MLPSpec, TorchMLP, as_tensor, parse_mlp_spec
from pgexp.specs import parse_spec

DEFAULT_SPEC = MLPSpec((32,), "tanh", 0)
VMAP_ELEMENTS = 8_000_000  # floats of activations per vmap chunk (bounds memory on long episodes)


def parse_obs_policy(spec: str | None) -> MLPSpec:
    """``mlp:hidden=..,activation=..,seed=..`` (default ``mlp:hidden=32``), or ``linear`` (no hidden layer:
    softmax-linear in the observation with a bias per action)."""
    if spec is None:
        return DEFAULT_SPEC
    parsed = parse_spec(spec, what="--policy")
    if parsed.name == "linear":
        if parsed.options:
            raise UserError("--policy linear takes no options")
        return MLPSpec((), "tanh", 0)
    if parsed.name == "mlp":
        return parse_mlp_spec(parsed)
    raise UserError(f"--policy: {parsed.name!r}; allowed for continuous-state environments: linear, mlp:hidden=..")


class ObsMLPPolicy:
    """``obs_dim -> hidden -> num_actions`` softmax policy on a flat parameter vector."""

    def __init__(self, obs_dim: int, num_actions: int, spec: MLPSpec = DEFAULT_SPEC):
        self.obs_dim, self.num_actions, self.spec = int(obs_dim), int(num_actions), spec
        self.net = TorchMLP(self.obs_dim, self.num_actions, spec.hidden, spec.activation)
        self.dim = self.net.dim
        self.name = spec.name if spec.hidden else "linear"
        self._width = max((self.num_actions, self.obs_dim, *spec.hidden))

    def __repr__(self) -> str:
        return f"ObsMLPPolicy({self.name}, obs_dim={self.obs_dim}, A={self.num_actions}, dim={self.dim})"

    # ----------------------------------------------------------------- parameters
    def initial_theta(self, seed: int | None = None) -> np.ndarray:
        return self.net.init(self.spec.seed if seed is None else seed)

    def default_theta(self) -> np.ndarray:
        return self.initial_theta()

    # ----------------------------------------------------------------- evaluation
    def log_probs_torch(self, theta: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """``log pi(.|o)``: ``(..., obs_dim) -> (..., A)``."""
        return torch.log_softmax(self.net(theta, obs), dim=-1)

    def log_prob_torch(self, theta: torch.Tensor, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``log pi(a|o)`` for matching leading shapes of ``obs`` and ``action``."""
        return self.log_prob_p(self.net.unflatten(theta), obs, action)

    def log_prob_p(self, params: dict[str, torch.Tensor], obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``log pi(a|o)`` from the parameter dict (what ``torch.func`` differentiates; see ``TorchMLP.flatten``)."""
        logp = torch.log_softmax(self.net.apply(params, obs), dim=-1)
        return torch.gather(logp, -1, action.unsqueeze(-1)).squeeze(-1)

    def probs(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """``pi(.|o)`` as numpy, ``(..., A)`` (exp of log-softmax: safe for any logits)."""
        with torch.no_grad():
            return torch.exp(self.log_probs_torch(as_tensor(theta), as_tensor(obs))).numpy()

    def probs_fn(self, theta: np.ndarray):
        """``obs -> pi(.|obs)`` at fixed ``theta`` (what the sampler calls every step).

        The layers are applied directly (``F.linear`` and the activation, the same operations as the
        module): ``functional_call``'s re-parametrisation would cost more than the network at every step.
        """
        params = self.net.unflatten(as_tensor(theta))
        layers = [(params[f"{i}.weight"], params[f"{i}.bias"]) for i in range(0, 2 * len(self.spec.hidden) + 1, 2)]
        act = torch.tanh if self.spec.activation == "tanh" else torch.relu

        def fn(obs: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                x = as_tensor(obs)
                for j, (W, b) in enumerate(layers):
                    x = torch.nn.functional.linear(x, W, b)
                    if j < len(layers) - 1:
                        x = act(x)
                return torch.exp(torch.log_softmax(x, dim=-1)).numpy()

        return fn

    # ----------------------------------------------------------------- gradients
    def _chunk(self, batch: int, per_sample: int) -> int | None:
        c = max(1, VMAP_ELEMENTS // max(1, per_sample * self._width + self.dim))
        return None if c >= batch else c

    def step_scores(self, theta: np.ndarray, obs: np.ndarray, actions: np.ndarray, *,
                    out: np.ndarray | None = None) -> np.ndarray:
        """Per-sample scores ``grad log pi(a_k|o_k)``: ``(M, obs_dim), (M,) -> (M, d)`` by ``vmap(grad)``.

        ``out``: an optional C-contiguous float64 ``(M, d)`` array to write into (saves allocating --
        and page-faulting -- a fresh ``M x d`` result on every call).
        """
        o, a = as_tensor(obs), torch.as_tensor(np.asarray(actions, dtype=np.int64))
        params = self.net.unflatten(as_tensor(theta))

        def one(p, ok, ak):
            return self.log_prob_p(p, ok, ak)

        f = vmap(grad(one), in_dims=(None, 0, 0), chunk_size=self._chunk(o.shape[0], 1))
        with torch.no_grad():
            g = f(params, o, a)
            if out is None:
                return self.net.flatten(g, 1).numpy()
            if out.shape != (o.shape[0], self.dim) or out.dtype != np.float64 or not out.flags.c_contiguous:
                raise ValueError(f"out: expected a C-contiguous float64 array of shape {(o.shape[0], self.dim)}")
            n = o.shape[0]
            torch.cat([g[name].reshape(n, -1) for name in self.net.names], dim=1, out=torch.from_numpy(out))
            return out

    def trajectory_gradients(self, theta: np.ndarray, obs: np.ndarray, actions: np.ndarray,
                             weights: np.ndarray) -> np.ndarray:
        """``g_i = sum_h w[i, h] grad log pi(a[i, h] | o[i, h])``: ``(N, L, obs_dim), (N, L), (N, L) -> (N, d)``.

        Padding must carry zero weight.
        """
        o, a = as_tensor(obs), torch.as_tensor(np.asarray(actions, dtype=np.int64))
        w = as_tensor(weights)
        n, L = w.shape
        if n == 0:
            return np.zeros((0, self.dim))

        def surrogate(p, oi, ai, wi):
            return (wi * self.log_prob_p(p, oi, ai)).sum()

        f = vmap(grad(surrogate), in_dims=(None, 0, 0, 0), chunk_size=self._chunk(n, max(L, 1)))
        with torch.no_grad():
            return self.net.flatten(f(self.net.unflatten(as_tensor(theta)), o, a, w), 1).numpy()

    def distribution_pullback(self, theta: np.ndarray, obs: np.ndarray, cotangent: np.ndarray) -> np.ndarray:
        """``sum_h sum_a k_h(a) grad pi(a|o_h)`` per trajectory: ``(N, L, obs_dim), (N, L, A) -> (N, d)`` -- an analytic
        correction over every action (:mod:`pgexp.estimators.correction`), by ``vmap(grad)`` of ``sum_h sum_a pi(a|o_h)
        k_h(a)`` (padding must carry zero)."""
        o, k = as_tensor(obs), as_tensor(cotangent)
        n, L = k.shape[:2]
        if n == 0:
            return np.zeros((0, self.dim))

        def surrogate(p, oi, ki):
            return (torch.exp(torch.log_softmax(self.net.apply(p, oi), dim=-1)) * ki).sum()

        f = vmap(grad(surrogate), in_dims=(None, 0, 0), chunk_size=self._chunk(n, max(L, 1)))
        with torch.no_grad():
            return self.net.flatten(f(self.net.unflatten(as_tensor(theta)), o, k), 1).numpy()

    def batch_gradient(self, theta: np.ndarray, obs: np.ndarray, actions: np.ndarray,
                       weights: np.ndarray) -> np.ndarray:
        """``(1/N) sum_i g_i`` by one backward pass of the mean surrogate, ``(d,)``."""
        o, a, w = as_tensor(obs), torch.as_tensor(np.asarray(actions, dtype=np.int64)), as_tensor(weights)
        th = as_tensor(theta).clone().requires_grad_(True)
        loss = (w * self.log_prob_torch(th, o, a)).sum() / max(w.shape[0], 1)
        (g,) = torch.autograd.grad(loss, th)
        return g.numpy()


def make_obs_policy(spec: str | None, obs_dim: int, num_actions: int) -> ObsMLPPolicy:
    return ObsMLPPolicy(obs_dim, num_actions, parse_obs_policy(spec))


__all__ = ["DTYPE", "ObsMLPPolicy", "make_obs_policy", "parse_obs_policy"]
