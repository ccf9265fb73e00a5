r"""Exact per-trajectory mean and covariance of policy-gradient estimators on scalar linear-quadratic problems.

**Why a recursion exists.**  On an LQR trajectory every quantity is a polynomial in jointly Gaussian variables
(``x_0``, the action noises ``eps_t`` and the process noises ``w_t``): the score ``s_t = (-eps_t x_t / sigma,
eps_t^2 - 1)``, the reward ``r_t = -(Q x_t^2 + R u_t^2)``, the exact values ``V_t(x) = -(P_t x^2 + c_t)`` and
``Q_t(x, u)`` are polynomials of degree at most 2 in them.  An estimator ``g = sum_h s_h Y_h`` is therefore a
polynomial of degree 4 and ``g g'`` of degree 8 -- Gaussian moment identities give their expectations.  Rather
than expand the ``O(H^4)`` terms of ``E[g g']``, we use the Markov structure: every estimator is built from *tails*
(sums over ``t >= h``), and conditional moments of tails given ``x_t = x`` are polynomials in ``x`` of degree at
most 6 (a tail score sum is linear in ``x_t``, a tail return quadratic).  A backward recursion over ``t``
carries these *channels*; each step integrates one step's noise exactly.

**The families.**  With ``' `` marking a channel at ``t + 1`` evaluated at ``x' = F x + B sigma eps + w``:

* *Tail sums* (``reward_to_go``, ``reward_to_go_common``, ``advantage_exact``, ``gae``, ``gae_common``):
  ``T_t = rho_t + eta T_{t+1}``, ``g_t = s_t (zeta_t + c_t T_t) + g_{t+1}`` -- reward-to-go: ``c_t = gamma^t``,
  ``eta = gamma``, ``rho = r``, ``zeta_t = -c_t b_t(x_t)`` (the baseline); the common variant ``c_t = 1``; the exact
  advantage ``c = 0``, ``zeta_t = gamma^t A_t(x_t, u_t)``; GAE ``rho_t = delta_t = r_t + gamma V_{t+1}(x_{t+1}) -
  V_t(x_t)``, ``eta = gamma lambda``, ``zeta = 0``.  With ``alpha = zeta + c rho`` and ``beta = c eta``,
  ``g_t = s (alpha + beta T') + g'``, so (``E_t`` integrates ``eps_t, w_t`` at fixed ``x_t = x``)::

      m1 = E_t[rho + eta m1'],   m2 = E_t[rho^2 + 2 rho eta m1' + eta^2 m2'],
      g1 = E_t[s (alpha + beta m1') + g1'],
      gT = E_t[s (alpha rho + (alpha eta + beta rho) m1' + beta eta m2') + rho g1' + eta gT'],
      gg = E_t[s s' (alpha^2 + 2 alpha beta m1' + beta^2 m2') + s (alpha g1' + beta gT')' + (..) s' + gg'],

  for ``m1 = E[T|x]``, ``m2 = E[T^2|x]``, ``g1 = E[g|x]``, ``gT = E[g T|x]``, ``gg = E[g g'|x]``; the direction a
  constant baseline multiplies, ``v_t = c_t s_t + v_{t+1}``, adds ``v1, vT, vv, gv`` the same way.
* *REINFORCE*: ``g = S_0 (T_0 - b_0(x_0))`` with tails ``S_t = s_t + S_{t+1}`` and ``T_t = gamma^t r_t + T_{t+1}``
  (``G_0 = T_0``); channels ``E[S T^k | x]`` and ``E[S S' T^k | x]`` for ``k = 0, 1, 2`` recurse by expanding
  ``(s + S')(rho + T')^k``.  At ``t = 0``: ``E[g|x] = ST - b S1``, ``E[g g'|x] = SST2 - 2 b SST + b^2 SS``.

**Exact arithmetic.**  A channel is a polynomial of degree ``<= 6`` in ``x``; it is carried as its values at
:data:`NODES` Chebyshev points (degree-6 interpolation: exact for it) and evaluated anywhere from its Chebyshev
coefficients.  ``E_t`` is Gauss-Hermite quadrature over ``(eps, z)`` with :data:`GAUSS` points each: exact for
polynomials of degree ``<= 2 GAUSS - 1 = 15`` per variable, and every integrand here has degree ``<= 14`` in each.
The average over ``x_0 ~ N(0, Sigma0)`` is the same quadrature.  The result is exact up to floating-point rounding
(tests: against Monte Carlo, and against brute-force Gaussian integration over the whole trajectory at ``H = 2``).

What the numbers refer to: one trajectory as sampled -- ``H`` steps, or a discounted run truncated at ``T``
steps (:func:`pgexp.exact.lqr.simulation_steps`) with GAE bootstrapping ``V(x_T)``.  Systems with more than one
state or action dimension get a labelled Monte-Carlo estimate instead (:mod:`pgexp.runs.lqr_exact`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.polynomial import chebyshev as cheb
from numpy.polynomial import hermite_e as herm

from pgexp.errors import UserError
from pgexp.exact import lqr as exact_lqr
from pgexp.exact.batch import LooMoments, normal_cosine, quality

NODES = 7    # Chebyshev nodes per channel: degree-6 interpolation, exact for the channels (degree <= 6)
GAUSS = 8    # Gauss-Hermite points per noise variable: exact to degree 15
TAIL_ESTIMATORS = ("reward_to_go", "reward_to_go_common", "advantage_exact", "gae", "gae_common")
LAMBDA_ESTIMATORS = ("gae", "gae_common")
SUPPORTED = {
    "reinforce": ("none", "value_exact", "fixed", "optimal", "constant"),
    "reward_to_go": ("none", "value_exact", "fixed", "optimal", "constant"),
    "reward_to_go_common": ("none", "value_exact", "fixed", "optimal", "constant"),
    "advantage_exact": ("none",),
    "gae": ("none", "value_exact"),
    "gae_common": ("none", "value_exact"),
}


@dataclass(eq=False)
class Moments:
    """One trajectory's estimate: ``mean (d,)``, ``cov (d, d)``, the exact ``grad``, the ``method`` and, for the
    leave-one-out constant, ``loo`` (its batch covariance); ``info``: extra plain values (``b_star``, ``constant``,
    Monte-Carlo standard errors)."""

    mean: np.ndarray
    cov: np.ndarray
    grad: np.ndarray
    method: str
    loo: LooMoments | None = None
    info: dict = field(default_factory=dict)

    @property
    def trace_cov(self) -> float:
        return float(np.trace(self.cov))

    def batch_cov(self, N: int) -> np.ndarray:
        if self.loo is not None:
            if N < 2:
                raise UserError("--batch-size: baseline 'constant' is the leave-one-out mean of the other "
                                "trajectories: needs --batch-size >= 2")
            return self.loo.batch_cov(N)
        return self.cov / N


def parse_baseline(baseline: str) -> tuple[str, float]:
    """``(kind, constant)`` of ``none | value_exact | optimal | constant | fixed:c=VALUE``: ``fixed`` by the
    registry's parser (:func:`pgexp.estimators.spec.parse_baseline`); any other name is passed on, for
    :func:`check_pair` to name what is covered."""
    from pgexp.estimators.spec import parse_baseline as parse_registry_baseline

    name, _, rest = str(baseline).partition(":")
    if name == "fixed":
        return "fixed", parse_registry_baseline(str(baseline)).options["c"]
    if rest:
        raise UserError(f"--baseline {baseline!r}: unknown")
    return name, 0.0


def check_pair(estimator: str, baseline: str) -> tuple[str, float]:
    """Refuse an estimator x baseline the LQR engine does not cover, naming those it does."""
    if estimator not in SUPPORTED:
        raise UserError(f"exact variance on a linear-quadratic problem: estimator {estimator!r} not covered; "
                        f"allowed: {', '.join(SUPPORTED)}")
    kind, c = parse_baseline(baseline)
    if kind not in SUPPORTED[estimator]:
        raise UserError(f"exact variance on a linear-quadratic problem: baseline {baseline!r} not covered with "
                        f"{estimator}; allowed: {', '.join(SUPPORTED[estimator])}")
    return kind, c


# --------------------------------------------------------------------------- the scalar recursion

class Grid:
    """The Chebyshev nodes of the channels, the quadrature of one step's noise and of ``x_0``."""

    def __init__(self, problem: Any, ev: exact_lqr.LQRExact, steps: int) -> None:
        sys = problem.system
        f = float(sys.A[0, 0] - sys.B[0, 0] * ev.K[0, 0])
        wc = float(sys.W[0, 0]) + ev.sigma ** 2 * float(sys.B[0, 0]) ** 2
        var, top = float(sys.Sigma0[0, 0]), float(sys.Sigma0[0, 0])
        for _ in range(steps):  # the largest state variance of the run
            var = f * f * var + wc
            top = max(top, var)
        sd = math.sqrt(max(top, 1e-300))
        self.scale = 4.0 * sd  # nodes in [-4 sd, 4 sd]: where the channels are evaluated, well conditioned
        k = np.arange(NODES)
        self.y = np.cos(np.pi * (k + 0.5) / NODES)  # Chebyshev points of the first kind in [-1, 1]
        self.x = self.scale * self.y
        z, w = herm.hermegauss(GAUSS)
        self.z, self.w = z, w / math.sqrt(2 * math.pi)
        self.inverse = np.linalg.inv(cheb.chebvander(self.y, NODES - 1))  # nodes' values -> coefficients

    def fit(self, values: np.ndarray) -> np.ndarray:
        """Chebyshev coefficients ``(NODES, ...)`` of the interpolant through ``values (NODES, ...)``."""
        return (self.inverse @ values.reshape(NODES, -1)).reshape(values.shape)

    def evaluate_all(self, channels: dict[str, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
        """Every channel at the points ``x`` in one product with the Chebyshev basis there."""
        basis = cheb.chebvander(np.asarray(x) / self.scale, NODES - 1)  # (*x.shape, NODES)
        names = list(channels)
        flat = np.concatenate([channels[k].reshape(NODES, -1) for k in names], axis=1)
        vals = basis @ flat
        out, at = {}, 0
        for k in names:
            width = int(np.prod(channels[k].shape[1:], dtype=np.int64))
            out[k] = vals[..., at:at + width].reshape(*np.shape(x), *channels[k].shape[1:])
            at += width
        return out

    def evaluate(self, coef: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The channel at points ``x`` (any shape): ``x.shape + coef.shape[1:]``."""
        flat = coef.reshape(NODES, -1)
        vals = cheb.chebval(np.asarray(x) / self.scale, flat)  # (k, *x.shape)
        return np.moveaxis(vals, 0, -1).reshape(*np.shape(x), *coef.shape[1:])


@dataclass(frozen=True)
class Step:
    """One step's quantities on the grid ``(x node, eps, z)``; vector ones have a trailing ``d`` axis."""

    x: np.ndarray
    e: np.ndarray
    u: np.ndarray
    x1: np.ndarray
    r: np.ndarray
    s: np.ndarray
    weights: np.ndarray


def make_step(problem: Any, ev: exact_lqr.LQRExact, grid: Grid) -> Step:
    """``x`` at the nodes, ``eps`` and ``z`` at the Gauss-Hermite points, and what follows from them."""
    sys, pol = problem.system, problem.policy
    a, b, q, rr = (float(M[0, 0]) for M in (sys.A, sys.B, sys.Q, sys.R))
    k, sigma = float(ev.K[0, 0]), ev.sigma
    x = grid.x[:, None, None]
    e = grid.z[None, :, None]
    z = grid.z[None, None, :]
    u = -k * x + sigma * e
    x1 = a * x + b * u + math.sqrt(float(sys.W[0, 0])) * z
    r = -(q * x * x + rr * u * u)
    parts = [-e * x / sigma]
    if pol.learn_std:
        parts.append(e * e - 1.0)
    shape = np.broadcast_shapes(x.shape, e.shape, z.shape)
    s = np.stack([np.broadcast_to(p, shape) for p in parts], axis=-1)
    weights = (grid.w[:, None] * grid.w[None, :])[None]
    return Step(np.broadcast_to(x, shape), np.broadcast_to(e, shape), np.broadcast_to(u, shape), x1,
                np.broadcast_to(r, shape), s, weights)


def expect(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``E_t`` over ``(eps, z)``: ``(P, G, G, ...) -> (P, ...)``."""
    w = weights.reshape(weights.shape + (1,) * (values.ndim - 3))
    return (w * values).sum(axis=(1, 2))


def outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., :, None] * b[..., None, :]


def value_tables(problem: Any, ev: exact_lqr.LQRExact, kind: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(P_t, c_t)`` for ``t = 0 .. steps`` of the baseline / GAE value (``V = 0`` for ``none``)."""
    if kind != "value_exact":
        return np.zeros(steps + 1), np.zeros(steps + 1)
    t = np.minimum(np.arange(steps + 1), ev.P.shape[0] - 1)
    return ev.P[t, 0, 0], ev.c[t]


def tail_recursion(problem: Any, ev: exact_lqr.LQRExact, grid: Grid, estimator: str, kind: str, const: float,
                   lam: float, steps: int, with_v: bool) -> dict[str, np.ndarray]:
    """The tail-sum family's channels at ``t = 0`` as Chebyshev coefficients (module docstring)."""
    g = float(problem.gamma)
    st = make_step(problem, ev, grid)
    d = st.s.shape[-1]
    Pv, cv = value_tables(problem, ev, "value_exact" if estimator == "advantage_exact" else kind, steps)
    qf = exact_lqr.q_function(problem, ev) if estimator == "advantage_exact" else None
    zero = np.zeros((NODES,))
    ch: dict[str, np.ndarray] = {"m1": zero, "m2": zero, "g1": np.zeros((NODES, d)), "gT": np.zeros((NODES, d)),
                                 "gg": np.zeros((NODES, d, d))}
    if with_v:
        ch |= {"v1": np.zeros((NODES, d)), "vT": np.zeros((NODES, d)), "vv": np.zeros((NODES, d, d)),
               "gv": np.zeros((NODES, d, d))}
    eta = g * lam if estimator in LAMBDA_ESTIMATORS else (g if estimator != "advantage_exact" else 0.0)
    s = st.s
    ss = outer(s, s)
    for t in range(steps - 1, -1, -1):
        c = 0.0 if estimator == "advantage_exact" else (g ** t if estimator in ("reward_to_go", "gae") else 1.0)
        Vt = -(Pv[t] * st.x * st.x + cv[t])
        if estimator in LAMBDA_ESTIMATORS:
            rho = st.r + g * -(Pv[t + 1] * st.x1 * st.x1 + cv[t + 1]) - Vt
            zeta = 0.0 * rho
        elif estimator == "advantage_exact":
            assert qf is not None
            A = qf(st.x[..., None], st.u[..., None], np.full(st.x.shape, t)) - Vt
            rho, zeta = 0.0 * st.r, g ** t * A
        else:
            rho = st.r
            b = Vt if kind == "value_exact" else (const if kind == "fixed" else 0.0)
            zeta = -c * b * np.ones_like(rho)
        alpha, beta = zeta + c * rho, c * eta
        nxt = grid.evaluate_all(ch, st.x1)
        m1, m2, g1, gT, gg = nxt["m1"], nxt["m2"], nxt["g1"], nxt["gT"], nxt["gg"]
        a_, r_ = alpha[..., None], rho[..., None]
        inner = alpha[..., None] * g1 + beta * gT
        new = {
            "m1": rho + eta * m1,
            "m2": rho * rho + 2 * rho * eta * m1 + eta * eta * m2,
            "g1": s * (a_ + beta * m1[..., None]) + g1,
            "gT": s * (a_ * r_ + (a_ * eta + beta * r_) * m1[..., None] + beta * eta * m2[..., None]) + r_ * g1
            + eta * gT,
            "gg": ss * (alpha * alpha + 2 * alpha * beta * m1 + beta * beta * m2)[..., None, None] + outer(s, inner)
            + outer(inner, s) + gg,
        }
        if with_v:
            v1, vT, vv, gv = nxt["v1"], nxt["vT"], nxt["vv"], nxt["gv"]
            new |= {
                "v1": c * s + v1,
                "vT": c * s * (r_ + eta * m1[..., None]) + r_ * v1 + eta * vT,
                "vv": c * c * ss + c * outer(s, v1) + c * outer(v1, s) + vv,
                "gv": c * ss * (alpha + beta * m1)[..., None, None] + outer(s, a_ * v1 + beta * vT) + c * outer(g1, s)
                + gv,
            }
        ch = {k: grid.fit(expect(st.weights, v)) for k, v in new.items()}
    return ch


def reinforce_recursion(problem: Any, ev: exact_lqr.LQRExact, grid: Grid, steps: int) -> dict[str, np.ndarray]:
    """REINFORCE's channels ``E[S^a T^k | x]`` at ``t = 0`` (module docstring)."""
    g = float(problem.gamma)
    st = make_step(problem, ev, grid)
    d = st.s.shape[-1]
    s = st.s
    ss = outer(s, s)
    ch = {"m1": np.zeros(NODES), "m2": np.zeros(NODES), "S1": np.zeros((NODES, d)), "ST": np.zeros((NODES, d)),
          "ST2": np.zeros((NODES, d)), "SS": np.zeros((NODES, d, d)), "SST": np.zeros((NODES, d, d)),
          "SST2": np.zeros((NODES, d, d))}
    for t in range(steps - 1, -1, -1):
        rho = g ** t * st.r
        n = grid.evaluate_all(ch, st.x1)
        r_ = rho[..., None]
        r2 = (rho * rho)[..., None, None]
        a1 = r_ * n["S1"] + n["ST"]
        a2 = r_ * r_ * n["S1"] + 2 * r_ * n["ST"] + n["ST2"]
        new = {
            "m1": rho + n["m1"],
            "m2": rho * rho + 2 * rho * n["m1"] + n["m2"],
            "S1": s + n["S1"],
            "ST": s * (r_ + n["m1"][..., None]) + a1,
            "ST2": s * (r_ * r_ + 2 * r_ * n["m1"][..., None] + n["m2"][..., None]) + a2,
            "SS": ss + outer(s, n["S1"]) + outer(n["S1"], s) + n["SS"],
            "SST": ss * (rho + n["m1"])[..., None, None] + outer(s, a1) + outer(a1, s) + rho[..., None, None] * n["SS"]
            + n["SST"],
            "SST2": ss * (rho * rho + 2 * rho * n["m1"] + n["m2"])[..., None, None] + outer(s, a2) + outer(a2, s)
            + r2 * n["SS"] + 2 * rho[..., None, None] * n["SST"] + n["SST2"],
        }
        ch = {k: grid.fit(expect(st.weights, v)) for k, v in new.items()}
    return ch


def initial_average(problem: Any, grid: Grid, values: np.ndarray) -> np.ndarray:
    """``E_{x_0 ~ N(0, Sigma0)}`` of a function given at the Gauss-Hermite points ``sqrt(Sigma0) z``."""
    w = grid.w.reshape((-1,) + (1,) * (values.ndim - 1))
    return (w * values).sum(axis=0)


def scalar_moments(problem: Any, estimator: str, baseline: str, lam: float = 0.95) -> Moments:
    """Exact moments of one trajectory's estimate on a scalar problem (module docstring)."""
    kind, const = check_pair(estimator, baseline)
    ev = exact_lqr.evaluate(problem)
    steps = exact_lqr.simulation_steps(problem)
    grid = Grid(problem, ev, steps)
    x0 = math.sqrt(float(problem.system.Sigma0[0, 0])) * grid.z
    P0, c0 = float(ev.P[0, 0, 0]), float(ev.c[0])
    uvr = kind in ("optimal", "constant")
    if estimator == "reinforce":
        ch = reinforce_recursion(problem, ev, grid, steps)
        at = {k: initial_average(problem, grid, grid.evaluate(v, x0)) for k, v in ch.items()}
        if uvr:
            return compose(at["ST"], at["S1"], at["SST2"], at["SST"], at["SS"], at["ST"], float(at["m1"]),
                           float(at["m2"]), ev.grad, kind)
        b = -(P0 * x0 * x0 + c0) if kind == "value_exact" else np.full_like(x0, const if kind == "fixed" else 0.0)
        ev_ch = {k: grid.evaluate(v, x0) for k, v in ch.items()}
        mean = initial_average(problem, grid, ev_ch["ST"] - b[:, None] * ev_ch["S1"])
        second = initial_average(problem, grid, ev_ch["SST2"] - 2 * b[:, None, None] * ev_ch["SST"]
                                 + (b * b)[:, None, None] * ev_ch["SS"])
        return finish(mean, second, ev.grad, const, kind)
    ch = tail_recursion(problem, ev, grid, estimator, "none" if uvr else kind, const, lam, steps, with_v=uvr)
    at = {k: initial_average(problem, grid, grid.evaluate(v, x0)) for k, v in ch.items()}
    if uvr:
        return compose(at["g1"], at["v1"], at["gg"], at["gv"], at["vv"], at["vT"], float(at["m1"]), float(at["m2"]),
                       ev.grad, kind)
    return finish(at["g1"], at["gg"], ev.grad, const, kind)


def finish(mean: np.ndarray, second: np.ndarray, grad: np.ndarray, const: float, kind: str) -> Moments:
    cov = second - np.outer(mean, mean)
    return Moments(mean, 0.5 * (cov + cov.T), grad, "recursion", info={"constant": const} if kind == "fixed" else {})


def compose(mu: np.ndarray, mv: np.ndarray, Euu: np.ndarray, Euv: np.ndarray, Evv: np.ndarray, EvR: np.ndarray,
            mR: float, ER2: float, grad: np.ndarray, kind: str, method: str = "recursion") -> Moments:
    """``g = u - b (.) v`` with the exact per-coordinate optimum ``b_k = E[u_k v_k] / E[v_k^2]`` (``optimal``), or the
    leave-one-out constant (``constant``: the per-trajectory numbers are the ``N -> inf`` limit)."""
    if kind == "optimal":
        den = np.diag(Evv)
        bk = np.divide(np.diag(Euv), den, out=np.zeros_like(den), where=den > 0)
        mean = mu - bk * mv
        second = Euu - Euv * bk[None, :] - bk[:, None] * Euv.T + bk[:, None] * Evv * bk[None, :]
        cov = second - np.outer(mean, mean)
        return Moments(mean, 0.5 * (cov + cov.T), grad, method, info={"b_star": [float(x) for x in bk]})
    loo = LooMoments(Euu - np.outer(mu, mu), Euv, Evv, EvR, mR, ER2)
    return Moments(mu, loo.limit_cov(), grad, method, loo=loo, info={"mean_return": mR})


# --------------------------------------------------------------------------- public entry points

def check_lambda(estimator: str, lam: float) -> None:
    if estimator in LAMBDA_ESTIMATORS and not 0.0 <= float(lam) <= 1.0:
        raise UserError(f"--lam: GAE's lambda must be in [0, 1], got {lam}")


def refers_to(problem: Any, steps: int) -> str:
    if problem.horizon is not None:
        return f"one trajectory of H = {steps} steps (V_H = 0)"
    return (f"one trajectory truncated after T = {steps} steps (the neglected tail below 1e-12), as sampled; "
            "stationary V, GAE bootstraps from V(x_T)")


def batch_rows(problem: Any, mom: Moments, estimator: str, baseline: str, lam: float,
               batch_sizes: list[int]) -> list[dict]:
    """One dict per batch size: the exact batch quantities and the normal-approximation cosine prediction."""
    from pgexp.sampling.rng import job_entropy

    rows = [{"batch_size": int(n), **quality(mom.mean, mom.batch_cov(int(n)), mom.grad, int(n))} for n in batch_sizes]
    if batch_sizes:
        ident = {"exact_cosine": 1, **problem.identity(), "estimator": estimator, "baseline": baseline, "lam": lam}
        seq = np.random.SeedSequence(job_entropy(ident, problem.theta))
        for row, (c, se) in zip(rows, normal_cosine(mom.mean, mom.cov, mom.grad, [int(n) for n in batch_sizes], seq,
                                                    loo=mom.loo)):
            row["cosine_normal"], row["cosine_normal_se"] = c, se
    return rows


def variance_json(problem: Any, mom: Moments, estimator: str, baseline: str, lam: float,
                  batch_sizes: list[int] | tuple[int, ...] = ()) -> dict:
    """The ``pgexp exact-variance`` JSON of moments on a linear-quadratic problem: the keys of the finite-MDP engine
    (:func:`pgexp.exact.moments.exact_variance`), with ``method`` ``recursion`` or ``monte_carlo`` (then also
    ``monte_carlo_trajectories``, ``mean_se`` and ``trace_cov_ci``)."""
    steps = exact_lqr.simulation_steps(problem)
    out: dict = {"estimator": estimator, "baseline": baseline}
    if estimator in LAMBDA_ESTIMATORS:
        out["lam"] = float(lam)
    out.update({"objective": problem.kind, "gamma": float(problem.gamma), "horizon": problem.horizon, "steps": steps,
                "refers_to": refers_to(problem, steps), "method": mom.method, "dim": int(mom.mean.size)})
    out.update(mom.info)
    out["mean"] = [float(x) for x in mom.mean]
    out["trace_cov"] = mom.trace_cov
    out["cov"] = [[float(x) for x in row] for row in mom.cov]
    out["grad"] = [float(x) for x in mom.grad]
    out["grad_norm"] = float(np.linalg.norm(mom.grad))
    if batch_sizes:
        out["batch"] = batch_rows(problem, mom, estimator, baseline, float(lam), list(batch_sizes))
    return out


def curve_rows(problem: Any, mom: Moments, estimator: str, baseline: str, lam: float,
               batch_sizes: list[int]) -> list[dict]:
    """The rows of ``pgexp exact-curves`` (:func:`pgexp.exact.moments.exact_curves`' columns) at one horizon."""
    h = problem.horizon
    sizes = [n for n in batch_sizes if not (baseline == "constant" and n < 2)]
    return [{"estimator": estimator, "baseline": baseline, "horizon": -1 if h is None else int(h),
             "batch_size": r["batch_size"], "lam": float(lam) if estimator in LAMBDA_ESTIMATORS else float("nan"),
             "var_per_traj_exact": r["var_per_traj"],
             **{f"{k}_exact": r[k] for k in ("bias_sq", "trace_cov", "mse", "rel_mse", "snr")},
             "cosine_normal": r.get("cosine_normal", float("nan")),
             "cosine_normal_se": r.get("cosine_normal_se", float("nan")),
             "method": mom.method, "dim": int(mom.mean.size)} for r in batch_rows(problem, mom, estimator, baseline,
                                                                                  lam, sizes)]


__all__ = ["LAMBDA_ESTIMATORS", "SUPPORTED", "Moments", "check_lambda", "check_pair", "compose", "curve_rows",
           "scalar_moments", "variance_json"]
