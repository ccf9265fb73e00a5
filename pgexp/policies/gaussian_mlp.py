"""Gaussian MLP policy over observations for continuous-action tasks, with per-sample scores by ``torch.func``.

``a ~ N(mu_theta(o), diag sigma^2)``: the mean is an MLP (:class:`pgexp.policies.mlp.TorchMLP`, ``obs_dim -> hidden ->
m``), and the standard deviation is

* fixed: ``sigma_0`` (``--policy-std``, default 1) in every state;
* state-independent and learned (``--learn-std``): ``log sigma = log sigma_0 + ell``, ``ell`` ``(m,)`` the last entries
  of ``theta`` (zero at ``theta``'s start: ``sigma_0``);
* state-dependent (``--policy mlp:...,std=state``): the network has ``2 m`` outputs, the second half ``ell(o)`` with
  ``log sigma(o) = log sigma_0 + ell(o)``.

``log pi(a|o) = sum_j [-(a_j - mu_j)^2 / (2 sigma_j^2) - log sigma_j] - (m/2) log 2 pi``.  Its score is taken at the
*sampled* action ``a``: the environment may clip ``a`` to its action bounds before it acts (Pendulum's torque,
MountainCar's force, MuJoCo's control range), which is part of the environment's dynamics -- the policy's density is
over the unclipped ``a``, so ``E[score x return]`` is the gradient of the objective.  Scoring the *clipped* action
instead would be the score of a different (mixed discrete-continuous) distribution and is biased.

Per-sample gradients are ``vmap(grad(...))`` over trajectories of each trajectory's weighted log-likelihood, as for
the softmax MLP (:mod:`pgexp.policies.obs_mlp`), never a Python loop over samples.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.func import grad, vmap

from pgexp.errors import UserError
from pgexp.policies.mlp import MLPSpec, TorchMLP, as_tensor, parse_mlp_spec
from pgexp.specs import Spec, parse_spec

DEFAULT_SPEC = MLPSpec((32,), "tanh", 0)
VMAP_ELEMENTS = 8_000_000
STD_MODES = ("fixed", "state")
LOG_2PI = math.log(2 * math.pi)


def parse_gaussian_policy(spec: str | None) -> tuple[MLPSpec, str]:
    """``mlp:hidden=..,activation=..,seed=..[,std=fixed|state]`` (default ``mlp:hidden=32``) or ``linear`` (no hidden
    layer) -> ``(network spec, std mode)``."""
    if spec is None:
        return DEFAULT_SPEC, "fixed"
    parsed = parse_spec(spec, what="--policy")
    options = dict(parsed.options)
    mode = str(options.pop("std", "fixed"))
    if mode not in STD_MODES:
        raise UserError(f"--policy {spec}: std={mode!r}; allowed: {', '.join(STD_MODES)} (state-independent "
                        "learned sigma: --learn-std)")
    if parsed.name == "linear":
        if options:
            raise UserError("--policy linear takes no options besides std")
        return MLPSpec((), "tanh", 0), mode
    if parsed.name == "mlp":
        return parse_mlp_spec(Spec("mlp", options)), mode
    raise UserError(f"--policy: {parsed.name!r}; allowed for continuous-action tasks: linear, mlp:hidden=..")


class GaussianMLPPolicy:
    """A Gaussian policy with an MLP mean on a flat parameter vector (see the module docstring)."""

    def __init__(self, obs_dim: int, action_dim: int, spec: MLPSpec = DEFAULT_SPEC, *, std: float = 1.0,
                 learn_std: bool = False, std_mode: str = "fixed") -> None:
        if isinstance(std, bool) or not (math.isfinite(float(std)) and float(std) > 0):
            raise UserError(f"--policy-std: {std!r}; allowed: a positive number")
        if std_mode == "state" and learn_std:
            raise UserError("--learn-std with std=state: the state-dependent sigma is learned already; give one")
        self.obs_dim, self.m, self.spec = int(obs_dim), int(action_dim), spec
        self.std0, self.learn_std, self.std_mode = float(std), bool(learn_std), std_mode
        self.net = TorchMLP(self.obs_dim, self.m * (2 if std_mode == "state" else 1), spec.hidden, spec.activation)
        self.net_dim = self.net.dim
        self.dim = self.net_dim + (self.m if learn_std else 0)
        base = spec.name if spec.hidden else "linear"
        self.name = f"gaussian_{base},std={self.std0:g}" + (",learn_std=true" if learn_std else "") + (
            ",std_mode=state" if std_mode == "state" else "")
        self._width = max(self.m * 2, self.obs_dim, *spec.hidden)

    def __repr__(self) -> str:
        return f"GaussianMLPPolicy({self.name}, obs_dim={self.obs_dim}, m={self.m}, dim={self.dim})"

    def initial_theta(self, seed: int | None = None) -> np.ndarray:
        net = self.net.init(self.spec.seed if seed is None else seed)
        return np.concatenate([net, np.zeros(self.dim - self.net_dim)])

    def default_theta(self) -> np.ndarray:
        return self.initial_theta()

    def params(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """The network's parameter dict, plus ``log_std`` (``ell``) when it is learned and state-independent."""
        p = self.net.unflatten(theta[:self.net_dim])
        if self.learn_std:
            p["log_std"] = theta[self.net_dim:]
        return p

    def flatten(self, g: dict[str, torch.Tensor], batch_ndim: int) -> torch.Tensor:
        flat = self.net.flatten(g, batch_ndim)
        return torch.cat([flat, g["log_std"]], dim=-1) if self.learn_std else flat

    def mean_log_std(self, params: dict[str, torch.Tensor], obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu(o), log sigma(o))``, each ``(..., m)``."""
        net = {k: v for k, v in params.items() if k != "log_std"}
        out = self.net.apply(net, obs)
        mu = out[..., :self.m]
        if self.std_mode == "state":
            return mu, math.log(self.std0) + out[..., self.m:]
        ell = params["log_std"] if self.learn_std else torch.zeros(self.m, dtype=mu.dtype)
        return mu, (math.log(self.std0) + ell).expand_as(mu)

    def log_prob_p(self, params: dict[str, torch.Tensor], obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``log pi(a|o)`` for matching leading shapes of ``obs (..., obs_dim)`` and ``action (..., m)``."""
        mu, log_std = self.mean_log_std(params, obs)
        z = (action - mu) * torch.exp(-log_std)
        return (-0.5 * z * z - log_std).sum(-1) - 0.5 * self.m * LOG_2PI

    def log_prob(self, theta: np.ndarray, obs: np.ndarray, action: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.log_prob_p(self.params(as_tensor(theta)), as_tensor(obs), as_tensor(action)).numpy()

    def mean_std_fn(self, theta: np.ndarray):
        """``obs (k, obs_dim) -> (mu (k, m), sigma (k, m))`` at fixed ``theta`` (what the sampler calls every step)."""
        params = self.params(as_tensor(theta))

        def fn(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            with torch.no_grad():
                mu, log_std = self.mean_log_std(params, as_tensor(obs))
                return mu.numpy(), torch.exp(log_std).numpy()

        return fn

    def _chunk(self, batch: int, per_sample: int) -> int | None:
        c = max(1, VMAP_ELEMENTS // max(1, per_sample * self._width + self.dim))
        return None if c >= batch else c

    def step_scores(self, theta: np.ndarray, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``grad log pi(a_k|o_k)``: ``(M, obs_dim), (M, m) -> (M, dim)`` by ``vmap(grad)``."""
        o, a = as_tensor(obs), as_tensor(actions)
        f = vmap(grad(self.log_prob_p), in_dims=(None, 0, 0), chunk_size=self._chunk(o.shape[0], 1))
        with torch.no_grad():
            return self.flatten(f(self.params(as_tensor(theta)), o, a), 1).numpy()

    def trajectory_gradients(self, theta: np.ndarray, obs: np.ndarray, actions: np.ndarray,
                             weights: np.ndarray) -> np.ndarray:
        """``g_i = sum_h w[i, h] grad log pi(a[i, h] | o[i, h])``: ``(N, L, obs_dim), (N, L, m), (N, L) -> (N, dim)``
        (padding must carry zero weight)."""
        o, a, w = as_tensor(obs), as_tensor(actions), as_tensor(weights)
        n, L = w.shape
        if n == 0:
            return np.zeros((0, self.dim))

        def surrogate(p, oi, ai, wi):
            return (wi * self.log_prob_p(p, oi, ai)).sum()

        f = vmap(grad(surrogate), in_dims=(None, 0, 0, 0), chunk_size=self._chunk(n, max(L, 1)))
        with torch.no_grad():
            return self.flatten(f(self.params(as_tensor(theta)), o, a, w), 1).numpy()

    def distribution_pullback(self, theta: np.ndarray, obs: np.ndarray, cotangent: np.ndarray) -> np.ndarray:
        """``sum_h [J_mu(o_h)' c_mu,h + J_logsigma(o_h)' c_logsigma,h]`` per trajectory: ``(N, L, obs_dim), (N, L, 2m)
        -> (N, dim)`` -- an analytic correction given in the distribution's parameters
        (:mod:`pgexp.estimators.correction`), by ``vmap(grad)`` of ``sum_h mu(o_h) . c_mu + log sigma(o_h) .
        c_logsigma`` (padding must carry zero cotangent)."""
        o, c = as_tensor(obs), as_tensor(cotangent)
        n, L = c.shape[:2]
        if n == 0:
            return np.zeros((0, self.dim))

        def surrogate(p, oi, ci):
            mu, log_std = self.mean_log_std(p, oi)
            return (mu * ci[..., :self.m]).sum() + (log_std * ci[..., self.m:]).sum()

        f = vmap(grad(surrogate), in_dims=(None, 0, 0), chunk_size=self._chunk(n, max(L, 1)))
        with torch.no_grad():
            return self.flatten(f(self.params(as_tensor(theta)), o, c), 1).numpy()

    def batch_gradient(self, theta: np.ndarray, obs: np.ndarray, actions: np.ndarray,
                       weights: np.ndarray) -> np.ndarray:
        """``(1/N) sum_i g_i`` by one backward pass of the mean surrogate, ``(dim,)``."""
        th = as_tensor(theta).clone().requires_grad_(True)
        w = as_tensor(weights)
        loss = (w * self.log_prob_p(self.params(th), as_tensor(obs), as_tensor(actions))).sum() / max(w.shape[0], 1)
        (g,) = torch.autograd.grad(loss, th)
        return g.numpy()


def make_gaussian_policy(spec: str | None, obs_dim: int, action_dim: int, std: float | None = None,
                         learn_std: bool = False) -> GaussianMLPPolicy:
    net, mode = parse_gaussian_policy(spec)
    return GaussianMLPPolicy(obs_dim, action_dim, net, std=1.0 if std is None else std, learn_std=learn_std,
                             std_mode=mode)


__all__ = ["GaussianMLPPolicy", "make_gaussian_policy", "parse_gaussian_policy"]
