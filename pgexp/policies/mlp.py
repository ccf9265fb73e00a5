"""Neural softmax policies in torch: ``pi(a|s) ∝ exp(f_theta(s, a))`` with ``f`` an MLP.

``theta`` is always a flat float64 numpy vector; the network is evaluated functionally
(:func:`torch.func.functional_call` on views of ``theta``), so ``torch.func`` transforms (``vjp``,
``grad``, ``jacrev``, ``vmap``) differentiate with respect to ``theta`` directly.  Nothing here touches
torch's global random state: initialisation draws from a local, seeded :class:`torch.Generator`.

* :class:`TorchMLP` -- ``in_dim -> hidden -> out_dim`` network on a flat parameter vector (shared with
  the continuous-state policy :mod:`pgexp.policies.obs_mlp`).
* :class:`TorchSoftmaxPolicy` -- the :class:`~pgexp.policies.base.TabularPolicy` maps from any
  differentiable ``(S, A)`` logit table, by autograd:
  ``score_pullback(theta, W) = vmap(vjp(log_softmax(logits)))(W)`` (one forward pass, the leading
  dimensions of ``W`` vectorised -- no Python loop), ``probs_vjp(theta, C) = vjp(softmax(logits))(C)``,
  ``score_table = jacrev(log_softmax(logits))``.
* :class:`MLPPolicy` -- ``f_theta(s, a) = MLP(one-hot(s))[a]``: input ``S``, output ``A``
  (``--policy mlp:hidden=64x64,activation=tanh,seed=0``).
* :class:`LinearTorchPolicy` -- softmax-linear ``f = theta . phi(s, a)`` through the same autograd path;
  it must reproduce :class:`~pgexp.policies.softmax_linear.SoftmaxLinearPolicy`'s closed form (test).

Since ``exact.gradient`` is ``probs_vjp(theta, C)`` with the exact cotangent ``C``, the exact gradient of
an MLP policy is autograd through the network of the exact ``dJ/dpi`` -- the same number as autograd of
:func:`pgexp.exact_torch.objective` (tested), so every estimator is still measured against the exact
gradient.
"""

from __future__ import annotations

import itertools
import math
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch.func import functional_call, jacrev, vjp, vmap

from pgexp.errors import UserError
from pgexp.memory import require_memory
from pgexp.policies.mlp_spec import MLP_DEFAULTS, MLPSpec, parse_hidden, parse_mlp_spec
from pgexp.specs import Spec

DTYPE = torch.float64
ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}
__all__ = ["ACTIVATIONS", "DTYPE", "MLP_DEFAULTS", "LinearTorchPolicy", "MLPPolicy", "MLPSpec", "TorchMLP",
           "TorchSoftmaxPolicy", "make_mlp_policy", "parse_hidden", "parse_mlp_spec", "theta_for"]
VMAP_ELEMENTS = 4_000_000  # rough cap on floats per vmap chunk (memory), see TorchSoftmaxPolicy._chunk


# --------------------------------------------------------------------------- network

class TorchMLP:
    """``in_dim -> hidden... -> out_dim`` MLP evaluated from a flat float64 parameter vector.

    The module's own parameters are never allocated or initialised (``skip_init``); every call goes
    through :func:`torch.func.functional_call` with views into the flat ``theta``.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: tuple[int, ...] = (64, 64), activation: str = "tanh"):
        if activation not in ACTIVATIONS:
            raise UserError(f"mlp activation {activation!r}; allowed: {', '.join(ACTIVATIONS)}")
        self.in_dim, self.out_dim, self.hidden, self.activation = int(in_dim), int(out_dim), tuple(hidden), activation
        sizes = [self.in_dim, *self.hidden, self.out_dim]
        layers: list[torch.nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            layers.append(torch.nn.utils.skip_init(torch.nn.Linear, a, b, dtype=DTYPE, device="meta"))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
        params = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
        # theta, its gradient, an optimiser's two moments and the per-sample work hold about six copies
        require_memory(6 * 8.0 * params, f"--policy mlp:hidden={'x'.join(map(str, self.hidden))} ({params:.3g} "
                                         f"parameters for {self.in_dim} inputs and {self.out_dim} outputs)")
        self.module = torch.nn.Sequential(*layers)
        self.names = [n for n, _ in self.module.named_parameters()]
        self.shapes = [tuple(p.shape) for _, p in self.module.named_parameters()]
        self.numels = [math.prod(s) for s in self.shapes]
        self.dim = int(sum(self.numels))

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of the flat ``theta`` ``(d,)`` shaped as the module's parameters."""
        out, start = {}, 0
        for name, shape, n in zip(self.names, self.shapes, self.numels):
            out[name] = theta[start:start + n].view(shape)
            start += n
        return out

    def apply(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """The network with parameters ``params`` (a dict as from :meth:`unflatten`) on ``x``."""
        return functional_call(self.module, params, (x,))

    def __call__(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``f_theta(x)``: ``(..., in_dim) -> (..., out_dim)``, differentiable in the flat ``theta``."""
        return self.apply(self.unflatten(theta), x)

    def flatten(self, tree: dict[str, torch.Tensor], batch_ndim: int = 0) -> torch.Tensor:
        """Per-parameter tensors with ``batch_ndim`` leading batch dimensions -> ``(..., d)`` in ``theta``'s order.

        ``torch.func`` transforms take the dict of parameters rather than the flat vector: under ``vmap``,
        the backward of each slice of a flat vector would materialise a full ``(batch, d)`` zero tensor
        (measured ~20x slower for per-sample gradients of a 64x64 MLP).
        """
        parts = [tree[name] for name in self.names]
        lead = parts[0].shape[:batch_ndim]
        return torch.cat([p.reshape((*lead, -1)) for p in parts], dim=-1)

    def init(self, seed: int) -> np.ndarray:
        """PyTorch's default ``nn.Linear`` init (weights Kaiming-uniform with ``a = sqrt(5)``, biases
        ``U(+-1/sqrt(fan_in))``) from a local generator seeded with ``seed``: ``(d,)`` float64."""
        gen = torch.Generator().manual_seed(int(seed))
        parts = []
        for shape in self.shapes:
            t = torch.empty(shape, dtype=DTYPE)
            if len(shape) == 2:
                torch.nn.init.kaiming_uniform_(t, a=math.sqrt(5), generator=gen)
                fan_in = shape[1]
            else:
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                torch.nn.init.uniform_(t, -bound, bound, generator=gen)
            parts.append(t.reshape(-1))
        return torch.cat(parts).numpy().astype(np.float64)


def as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """float64 torch view of a numpy array (no copy when already float64 and contiguous)."""
    if isinstance(x, torch.Tensor):
        return x.to(DTYPE)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


# --------------------------------------------------------------------------- tabular policies

class TorchSoftmaxPolicy:
    """The :class:`~pgexp.policies.base.TabularPolicy` maps from a differentiable ``(S, A)`` logit table.

    Subclasses define :meth:`logits_torch`.  ``pi=`` keyword arguments (passed by the estimators) are
    accepted and ignored: autograd recomputes the forward pass it needs.
    """

    num_states: int
    num_actions: int
    dim: int
    name: str

    def params(self, theta: torch.Tensor) -> Any:
        """The parameter pytree that the ``torch.func`` transforms differentiate (default: ``theta`` itself)."""
        return theta

    def flatten(self, tree: Any, batch_ndim: int = 0) -> torch.Tensor:
        """Gradients shaped like :meth:`params` (with ``batch_ndim`` leading dims) -> ``(..., d)``."""
        return tree

    def logits_from(self, params: Any) -> torch.Tensor:
        """``f(s, a)`` for every ``(s, a)`` from the parameter pytree, ``(S, A)``."""
        raise NotImplementedError

    def logits_torch(self, theta: torch.Tensor) -> torch.Tensor:
        """``f_theta(s, a)`` for every ``(s, a)``, ``(S, A)``, differentiable in the flat ``theta``."""
        return self.logits_from(self.params(theta))

    def log_probs_torch(self, theta: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.logits_torch(theta), dim=-1)

    def _log_probs_p(self, params: Any) -> torch.Tensor:
        return torch.log_softmax(self.logits_from(params), dim=-1)

    def log_probs(self, theta: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.log_probs_torch(as_tensor(theta)).numpy()

    def probs(self, theta: np.ndarray) -> np.ndarray:
        """``pi(a|s)``, ``(S, A)``."""
        with torch.no_grad():
            return torch.softmax(self.logits_torch(as_tensor(theta)), dim=-1).numpy()

    def _chunk(self, batch: int) -> int | None:
        per = self.num_states * max(self.num_actions, self._width)
        c = max(1, VMAP_ELEMENTS // max(per, 1))
        return None if c >= batch else c

    _width = 1

    def score_pullback(self, theta: np.ndarray, weights: np.ndarray, *, pi: np.ndarray | None = None) -> np.ndarray:
        """``sum_{s,a} W[..., s, a] grad log pi(a|s)``: ``(..., S, A) -> (..., d)`` by a vmapped VJP."""
        W = np.asarray(weights, dtype=np.float64)
        S, A = self.num_states, self.num_actions
        if W.shape[-2:] != (S, A):
            raise ValueError(f"score_pullback: weights of shape {W.shape}, expected (..., {S}, {A})")
        lead = W.shape[:-2]
        flat = as_tensor(W.reshape((-1, S, A)))
        if flat.shape[0] == 0:
            return np.zeros((*lead, self.dim))
        # torch.func.vjp is annotated as returning a 2- or 3-tuple; without has_aux it is 2
        _, pull = vjp(self._log_probs_p, self.params(as_tensor(theta)))  # type: ignore[misc]
        with torch.no_grad():
            (g,) = vmap(pull, chunk_size=self._chunk(flat.shape[0]))(flat)
            return self.flatten(g, 1).numpy().reshape((*lead, self.dim))

    def probs_vjp(self, theta: np.ndarray, cotangent: np.ndarray, *, pi: np.ndarray | None = None) -> np.ndarray:
        """``sum_{s,a} C[s, a] grad pi(a|s)``, ``(d,)``."""
        # torch.func.vjp is annotated as returning a 2- or 3-tuple; without has_aux it is 2
        _, pull = vjp(lambda p: torch.exp(self._log_probs_p(p)), self.params(as_tensor(theta)))  # type: ignore[misc]
        with torch.no_grad():
            (g,) = pull(as_tensor(np.asarray(cotangent, dtype=np.float64)))
            return self.flatten(g).numpy()

    def score_table(self, theta: np.ndarray) -> np.ndarray:
        """All score vectors ``grad log pi(a|s)``, ``(S, A, d)`` (Jacobian by ``jacrev``; small problems)."""
        with torch.no_grad():
            return self.flatten(jacrev(self._log_probs_p)(self.params(as_tensor(theta))), 2).numpy()


class MLPPolicy(TorchSoftmaxPolicy):
    """``pi(a|s) = softmax_a MLP(one-hot(s))[a]`` on a tabular problem.

    ``features`` only supplies ``S`` and ``A`` (and stays available to critics that regress on
    features); the network's input is the one-hot state.  :meth:`default_theta` is the network's own
    seeded initialisation -- the natural starting point (``theta = 0`` makes every hidden unit
    identical and the hidden layers' gradients vanish).
    """

    def __init__(self, features: Any, spec: MLPSpec | None = None):
        spec = MLPSpec() if spec is None else spec
        self.features = features
        self.spec = spec
        self.num_states = int(features.num_states)
        self.num_actions = int(features.num_actions)
        self.num_inputs = self.num_states - int(getattr(features, "num_internal", 0))  # internal states: no input
        self.net = TorchMLP(self.num_inputs, self.num_actions, spec.hidden, spec.activation)
        self.dim = self.net.dim
        self.name = spec.name
        self._width = max((self.num_actions, *spec.hidden))

    @classmethod
    def from_spec(cls, spec: str | Spec, features: Any) -> MLPPolicy:
        return cls(features, parse_mlp_spec(spec))

    @cached_property
    def _inputs(self) -> torch.Tensor:
        """One-hot exposed states; an internal state (no action is taken there) reads the zero vector."""
        return torch.eye(self.num_states, self.num_inputs, dtype=DTYPE)

    def params(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net.unflatten(theta)

    def flatten(self, tree: dict[str, torch.Tensor], batch_ndim: int = 0) -> torch.Tensor:
        return self.net.flatten(tree, batch_ndim)

    def logits_from(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net.apply(params, self._inputs)

    def initial_theta(self, seed: int | None = None) -> np.ndarray:
        """The seeded default initialisation (``seed`` defaults to the spec's)."""
        return self.net.init(self.spec.seed if seed is None else seed)

    def default_theta(self) -> np.ndarray:
        """``theta = init``: :meth:`initial_theta` with the spec's seed."""
        return self.initial_theta()

    def __repr__(self) -> str:
        return f"MLPPolicy({self.name}, S={self.num_states}, A={self.num_actions}, dim={self.dim})"


class LinearTorchPolicy(TorchSoftmaxPolicy):
    """Softmax-linear ``f_theta(s, a) = theta . phi(s, a)`` evaluated in torch (the autograd cross-check)."""

    def __init__(self, features: Any, name: str = "linear-torch"):
        self.features = features
        self.num_states, self.num_actions = int(features.num_states), int(features.num_actions)
        self.dim = int(features.dim)
        self.name = name
        self._phi = as_tensor(features.dense())
        self._width = self.dim

    def logits_from(self, params: torch.Tensor) -> torch.Tensor:
        return self._phi @ params

    def default_theta(self) -> np.ndarray:
        return np.zeros(self.dim)


def make_mlp_policy(spec: str | Spec, features: Any) -> MLPPolicy:
    """The ``mlp:...`` policy over the problem that ``features`` describes (only ``S``, ``A`` are used)."""
    return MLPPolicy.from_spec(spec, features)


def theta_for(policy: Any, spec: str | None) -> np.ndarray:
    """``theta`` for ``policy`` from a ``--theta`` spec, where ``init`` (and, for policies with their own
    initialisation, ``None``) means ``policy.default_theta()``; anything else goes to ``make_theta``."""
    text = None if spec is None else spec.strip()
    if text == "init" or (text is None and hasattr(policy, "default_theta")):
        if not hasattr(policy, "default_theta"):
            raise UserError(f"--theta init: policy {policy.name!r} has no initialisation of its own; use zeros")
        return np.asarray(policy.default_theta(), dtype=np.float64)
    from pgexp.policies.theta import make_theta

    return make_theta(text, policy.dim)
