"""Policy-gradient estimators on continuous-state episodes: step weights ``w[i, h]`` such that
``g_i = sum_h w[i, h] grad log pi(a_ih | o_ih)`` (same formulas as the tabular track, DESIGN §5).

``R_h = sum_{t>=h} gamma^(t-h) r_t`` (return from h), ``G_h = gamma^h R_h``:

============== =================================================================== ==================
estimator      weight ``w[i, h]``                                                  unbiased
============== =================================================================== ==================
reinforce      ``G_0 - b`` (``b``: 0, leave-one-out mean of ``G_0``, or ``V(o_0, 0)``) yes
reward_to_go   ``gamma^h (R_h - b_h)`` (``b_h``: 0, leave-one-out ``G_0``, ``V(o_h, h)``) yes
gae            ``gamma^h Â_h``, ``Â_h = sum_l (gamma lam)^l delta_{h+l}``,           only lam = 1
               ``delta_h = r_h + gamma V(o_{h+1}, h+1) - V(o_h, h)``, ``V = 0`` after
               the episode's last step (termination, time limit or cap: the
               objective is finite-horizon); baseline ``none`` means ``V = 0``
============== =================================================================== ==================

With ``lam = 1`` GAE telescopes to reward-to-go with the ``V`` baseline exactly (tested).

**Learned value** (``value_learned``): ridge least squares of ``R_h`` on *fixed* random Fourier features
of the standardised observation and the normalised time ``h / T`` (``[1, z, cos(Omega z + phase)]``,
``Omega ~ N(0, 1)``, 64 features, seeded), fitted on an *independent* batch (the replicate's AUX stream).
Standardisation uses that batch's moments.  The ridge penalty (intercept not shrunk) weighs as much as
:data:`RIDGE` = 1000 average steps, so a fit on a handful of episodes shrinks towards their mean
return-to-go instead of interpolating noise (measured on CartPole: relative MSE of reward-to-go with
this baseline at batch 10 is 0.44 vs 1.5 with a 1e-3 relative ridge, and no worse at batch 100;
out-of-sample R^2 of the fit on 300 episodes 0.44 vs 0.47).  Because the fit never sees the estimate's own trajectories,
``b(o_h, h)`` does not depend on their actions and the estimators stay unbiased.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pgexp.deep.sampler import Episodes
from pgexp.errors import UserError
from pgexp.estimators.baselines import leave_one_out_mean

# The compiled kernels are imported where used: the registry below is read by the workflow on every
# `snakemake` call, which must not pay numba's start-up.

DEEP_BASELINES = ("none", "constant", "value_learned")


@dataclass(frozen=True)
class DeepEstimator:
    name: str
    baselines: tuple[str, ...]
    doc: str

    def unbiased(self, baseline: str, lam: float) -> bool:
        return self.name != "gae" or float(lam) == 1.0

    def check(self, baseline: str, batch_size: int) -> None:
        if baseline not in self.baselines:
            raise UserError(f"--estimator {self.name} with --baseline {baseline}: not available for continuous-state "
                            f"environments; allowed: {', '.join(self.baselines)}")
        if batch_size < 1:
            raise UserError(f"--batch-size: {batch_size}; allowed: a positive integer")
        if baseline == "constant" and batch_size < 2:
            raise UserError("baseline 'constant' is the leave-one-out mean of the other trajectories: "
                            "needs --batch-size >= 2")


DEEP_ESTIMATORS = {
    "reinforce": DeepEstimator("reinforce", DEEP_BASELINES, "(sum_h score_h) (G_0 - b)"),
    "reward_to_go": DeepEstimator("reward_to_go", DEEP_BASELINES, "sum_h score_h gamma^h (R_h - b(o_h, h))"),
    "gae": DeepEstimator("gae", ("none", "value_learned"), "sum_h score_h gamma^h GAE(lam) advantage"),
}


def get_deep_estimator(name: str) -> DeepEstimator:
    if name not in DEEP_ESTIMATORS:
        raise UserError(f"--estimator {name!r} is not available for continuous-state environments; "
                        f"allowed: {', '.join(DEEP_ESTIMATORS)}")
    return DEEP_ESTIMATORS[name]


def returns(ep: Episodes, gamma: float) -> np.ndarray:
    """``R[i, h] = sum_{t>=h} gamma^(t-h) r[i, t]``, ``(N, L)`` (zero on padding)."""
    from pgexp.estimators.kernels import returns_from

    return returns_from(np.ascontiguousarray(ep.rewards), np.ascontiguousarray(ep.lengths, dtype=np.int64), float(gamma))


def discounted_returns(ep: Episodes, gamma: float) -> np.ndarray:
    """``G_0`` per episode, ``(N,)``."""
    R = returns(ep, gamma)
    return R[:, 0] if R.shape[1] else np.zeros(ep.num)


# --------------------------------------------------------------------------- learned value

FOURIER_FEATURES = 64
RIDGE = 1000.0        # ridge penalty in pseudo-observations: RIDGE * (mean diagonal of X^T X) / rows
MAX_FIT_ROWS = 50_000  # steps used for the fit (uniform subsample beyond)


@dataclass(frozen=True)
class ValueFunction:
    """``V(o, h) = [1, z, cos(Omega z + phase)] . coef`` with ``z = ((o - mean) / std, h / T)``."""

    mean: np.ndarray
    std: np.ndarray
    horizon: int
    omega: np.ndarray
    phase: np.ndarray
    coef: np.ndarray

    def features(self, obs: np.ndarray, steps: np.ndarray) -> np.ndarray:
        z = np.concatenate([(obs - self.mean) / self.std, (steps / self.horizon)[..., None]], axis=-1)
        return np.concatenate([np.ones(z.shape[:-1] + (1,)), z, np.cos(z @ self.omega + self.phase)], axis=-1)

    def __call__(self, obs: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """``V`` at observations ``(..., obs_dim)`` and time steps ``(...)``."""
        return self.features(obs, np.asarray(steps, dtype=np.float64)) @ self.coef

    def on(self, ep: Episodes) -> np.ndarray:
        """``V(o_h, h)`` on every step of a batch, zero on padding, ``(N, L)``."""
        L = ep.obs.shape[1]
        h = np.broadcast_to(np.arange(L, dtype=np.float64), (ep.num, L))
        return np.where(ep.mask, self(ep.obs, h), 0.0)


def fit_value(ep: Episodes, gamma: float, horizon: int, seed: np.random.SeedSequence) -> ValueFunction:
    """Ridge regression of ``R_h`` on the fixed features over the steps of ``ep`` (an independent batch)."""
    rng = np.random.default_rng(seed)
    obs_dim = ep.obs.shape[2]
    omega = rng.standard_normal((obs_dim + 1, FOURIER_FEATURES))
    phase = rng.uniform(0.0, 2 * np.pi, FOURIER_FEATURES)
    mask = ep.mask
    X_obs = ep.obs[mask]
    steps = np.broadcast_to(np.arange(ep.obs.shape[1], dtype=np.float64), mask.shape)[mask]
    y = returns(ep, gamma)[mask]
    if y.size > MAX_FIT_ROWS:
        keep = np.sort(rng.choice(y.size, MAX_FIT_ROWS, replace=False))
        X_obs, steps, y = X_obs[keep], steps[keep], y[keep]
    mean = X_obs.mean(axis=0) if y.size else np.zeros(obs_dim)
    std = X_obs.std(axis=0) if y.size > 1 else np.ones(obs_dim)
    std = np.where(std > 1e-8, std, 1.0)
    vf = ValueFunction(mean, std, max(int(horizon), 1), omega, phase, np.zeros(2 + obs_dim + FOURIER_FEATURES))
    if y.size == 0:
        return vf
    X = vf.features(X_obs, steps)
    gram = X.T @ X
    reg = RIDGE * max(np.trace(gram) / gram.shape[0], 1e-12) / y.size * np.eye(gram.shape[0])
    reg[0, 0] = 0.0  # the intercept is not shrunk
    coef = np.linalg.solve(gram + reg, X.T @ y)
    return ValueFunction(mean, std, vf.horizon, omega, phase, coef)


# --------------------------------------------------------------------------- step weights

def step_weights(estimator: str, baseline: str, ep: Episodes, gamma: float, lam: float = 0.95,
                 value: ValueFunction | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(w (N, L), G_0 (N,))`` for one batch; ``value`` is required for ``value_learned``."""
    est = get_deep_estimator(estimator)
    est.check(baseline, ep.num)
    mask = ep.mask
    L = ep.obs.shape[1]
    R = returns(ep, gamma)
    G0 = R[:, 0] if L else np.zeros(ep.num)
    disc = gamma ** np.arange(L, dtype=np.float64)
    if baseline == "value_learned" and value is None:
        raise ValueError("value_learned needs a fitted value function")
    if estimator == "reinforce":
        if baseline == "none":
            b = np.zeros(ep.num)
        elif baseline == "constant":
            b = leave_one_out_mean(G0)
        else:
            b = value(ep.obs[:, 0], np.zeros(ep.num)) if L else np.zeros(ep.num)  # type: ignore[misc]
        return np.where(mask, (G0 - b)[:, None], 0.0), G0
    if estimator == "reward_to_go":
        if baseline == "none":
            b = np.zeros((ep.num, 1))
        elif baseline == "constant":
            b = leave_one_out_mean(G0)[:, None]
        else:
            b = value.on(ep)  # type: ignore[union-attr]
        return np.where(mask, disc[None, :] * (R - b), 0.0), G0
    # gae
    V_now = value.on(ep) if baseline == "value_learned" else np.zeros((ep.num, L))  # type: ignore[union-attr]
    V_next = np.zeros_like(V_now)
    V_next[:, :-1] = V_now[:, 1:]  # zero at each episode's last step (padding is zero)
    from pgexp.estimators.kernels import gae_advantages

    adv = gae_advantages(np.ascontiguousarray(ep.rewards), V_now, V_next, np.ascontiguousarray(ep.lengths, dtype=np.int64),
                         float(gamma), float(lam))
    return np.where(mask, disc[None, :] * adv, 0.0), G0
