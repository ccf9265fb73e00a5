"""The Gaussian linear policy of linear-quadratic problems: ``u = -K x + sigma eps``, ``eps ~ N(0, I_m)``.

``theta = vec(K)`` row-major (``K`` is ``(m, n)``: ``m`` actions, ``n`` state dimensions), and with
``learn_std`` one more entry ``ell = log(sigma / sigma_0)`` (``sigma_0`` = ``--policy-std``, so ``theta = 0``
starts at ``sigma_0``; the gradient in ``ell`` is the gradient in ``log sigma``).

**Score.**  ``log pi(u|x) = -||u - mu||^2 / (2 sigma^2) - m log sigma - (m/2) log 2 pi`` with ``mu = -K x``, so

    d log pi / d K_ij = -(u - mu)_i x_j / sigma^2 = -eps_i x_j / sigma,
    d log pi / d log sigma = ||u - mu||^2 / sigma^2 - m = ||eps||^2 - m,

the first the usual ``(a - mu)/sigma^2 (x) x`` of a Gaussian policy with the sign of ``mu = -K x``.  Both have
mean zero under the policy (``E eps = 0``, ``E ||eps||^2 = m``).  :func:`score` is what estimators' step weights
multiply (``pgexp.runs.lqr_context``), :func:`mean_action` what an exact ``Q(x, u)`` is evaluated at.
"""

from __future__ import annotations

import math

import numpy as np

from pgexp.errors import UserError


class GaussianLinearPolicy:
    """``u = -K x + sigma eps`` on ``n``-dimensional states and ``m``-dimensional actions (see the module docstring).

    Attributes:
        n, m: state and action dimensions.
        std0: ``sigma_0`` (``--policy-std``); the policy's ``sigma`` unless ``learn_std``.
        learn_std: ``theta[-1] = log(sigma / sigma_0)`` is a parameter.
        dim: ``m n`` (+ 1 with ``learn_std``).
    """

    def __init__(self, n: int, m: int, std: float = 1.0, learn_std: bool = False) -> None:
        if isinstance(std, bool) or not (math.isfinite(float(std)) and float(std) > 0):
            raise UserError(f"--policy-std: {std!r}; allowed: a positive number")
        self.n, self.m, self.std0, self.learn_std = int(n), int(m), float(std), bool(learn_std)
        self.dim = self.m * self.n + (1 if self.learn_std else 0)
        self.name = f"gaussian_linear:std={self.std0:g}" + (",learn_std=true" if self.learn_std else "")

    def __repr__(self) -> str:
        return f"GaussianLinearPolicy(n={self.n}, m={self.m}, std={self.std0:g}, learn_std={self.learn_std})"

    def gain(self, theta: np.ndarray) -> np.ndarray:
        """``K``, ``(m, n)`` (row-major ``vec``)."""
        return np.asarray(theta[:self.m * self.n], dtype=np.float64).reshape(self.m, self.n)

    def std(self, theta: np.ndarray) -> float:
        """``sigma``: ``sigma_0``, times ``exp(theta[-1])`` with ``learn_std``."""
        return self.std0 * float(np.exp(theta[-1])) if self.learn_std else self.std0

    def theta_of(self, K: np.ndarray, sigma: float | None = None) -> np.ndarray:
        """The parameter vector of gain ``K`` (and ``sigma`` with ``learn_std``; default ``sigma_0``)."""
        K = np.asarray(K, dtype=np.float64).reshape(self.m, self.n)
        if not self.learn_std:
            return K.ravel().copy()
        return np.append(K.ravel(), math.log((self.std0 if sigma is None else sigma) / self.std0))

    def mean_action(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``mu(x) = -K x`` for states ``(..., n)``: ``(..., m)``."""
        return -np.asarray(x, dtype=np.float64) @ self.gain(theta).T

    def log_prob(self, theta: np.ndarray, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """``log pi(u|x)`` for ``(..., n)`` states and ``(..., m)`` actions: ``(...)``."""
        sigma = self.std(theta)
        eps = (np.asarray(u, dtype=np.float64) - self.mean_action(theta, x)) / sigma
        return -0.5 * np.sum(eps * eps, axis=-1) - self.m * math.log(sigma) - 0.5 * self.m * math.log(2 * math.pi)

    def score(self, theta: np.ndarray, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """``grad_theta log pi(u|x)``: ``(..., n), (..., m) -> (..., dim)`` (module docstring)."""
        x = np.asarray(x, dtype=np.float64)
        sigma = self.std(theta)
        eps = (np.asarray(u, dtype=np.float64) - self.mean_action(theta, x)) / sigma
        gK = -(eps[..., :, None] * x[..., None, :]).reshape(*x.shape[:-1], self.m * self.n) / sigma
        if not self.learn_std:
            return gK
        return np.concatenate([gK, (np.sum(eps * eps, axis=-1) - self.m)[..., None]], axis=-1)

    def distribution_pullback(self, theta: np.ndarray, x: np.ndarray, cotangent: np.ndarray) -> np.ndarray:
        """``sum_h [J_mu(x_h)' c_mu,h + sum_j c_logsigma,h,j d log sigma / d theta]`` per trajectory: states ``(N, L,
        n)``, cotangents ``(N, L, 2m)`` (``[d/d mu_j, d/d log sigma_j]``) -> ``(N, dim)``.

        With ``mu = -K x``, ``d mu_i / d K_ik = -x_k``; every ``log sigma_j`` is ``log sigma_0 + theta[-1]`` under
        ``learn_std`` (and fixed otherwise)."""
        x = np.asarray(x, dtype=np.float64)
        c = np.asarray(cotangent, dtype=np.float64)
        m = self.m
        gK = -np.einsum("nli,nlk->nik", c[..., :m], x).reshape(x.shape[0], m * self.n)
        if not self.learn_std:
            return gK
        return np.concatenate([gK, c[..., m:].sum(axis=(1, 2))[:, None]], axis=1)


def policy_spec_name(std: float, learn_std: bool) -> str:
    """The policy's name in tables and stream identities (its ``sigma_0`` and whether it is learned)."""
    return f"gaussian_linear:std={float(std):g}" + (",learn_std=true" if learn_std else "")


__all__ = ["GaussianLinearPolicy", "policy_spec_name"]
