"""The linear-quadratic track: a problem at ``theta``, with the exact truth of a tabular problem and the continuous
states and actions of a control task.

It offers what :class:`~pgexp.runs.context.TabularContext` offers (``sample``, ``gradients``, ``block_gradients``,
``fit_values``, ``exact_state_values``, ``truth``, ``objective``, ``best_return``, ``at``), so every estimator,
baseline, the replicate grid, training and the tables run unchanged:

* truth: the exact ``J``, ``grad J`` and values of :mod:`pgexp.exact.lqr` (``J_star``: the Riccati optimum);
* sampling: every replicate of a stack in one vectorised simulation (:mod:`pgexp.sampling.lqr`); a batch holds
  ``states (N, L, n)`` and ``actions (N, L, m)`` as floats;
* gradients: ``g_i = sum_h w_ih score(x_ih, u_ih)`` with the Gaussian score (:mod:`pgexp.policies.gaussian`),
  summed in closed form (no autograd);
* ``value_learned``: a least-squares fit of the return on quadratic features of the state and time (the exact
  ``V_t(x) = -(x' P_t x + c_t)`` lies in that family up to the time dependence), one fit per replicate.

Every episode runs for ``H`` steps (nothing absorbs); a discounted problem is simulated for ``T`` steps
(:func:`pgexp.exact.lqr.simulation_steps`), truncated, with ``V(x_T)`` bootstrapped by GAE as on tabular problems.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from pgexp.errors import UserError
from pgexp.estimators.batch import Batch
from pgexp.exact import lqr as exact_lqr
from pgexp.runs.truth import Truth
from pgexp.sampling.rng import Streams, as_streams

SCORES = "lqr_scores"  # where a sampled batch keeps its step scores (N, L, dim)
RIDGE = 1e-8  # relative ridge of the learned value's normal equations (only guards against a singular fit)


@dataclass(eq=False)
class LQRContext:
    """A linear-quadratic problem at ``theta`` (see the module docstring)."""

    track: ClassVar[str] = "lqr"
    problem: Any  # pgexp.problems.lqr.LQRProblem

    @property
    def kind(self) -> str:
        return self.problem.kind

    @property
    def gamma(self) -> float:
        return float(self.problem.gamma)

    def at(self, theta: np.ndarray) -> LQRContext:
        return LQRContext(self.problem.at(theta))

    @cached_property
    def steps(self) -> int:
        """Steps of every trajectory: ``H``, or the discounted run's ``T``."""
        return exact_lqr.simulation_steps(self.problem)

    @cached_property
    def evaluation(self) -> exact_lqr.LQRExact:
        return exact_lqr.evaluate(self.problem)

    @cached_property
    def q_function(self) -> exact_lqr.QFunction:
        return exact_lqr.q_function(self.problem, self.evaluation)

    @property
    def exact_gradient(self) -> tuple[float, np.ndarray]:
        ev = self.evaluation
        return float(ev.J), ev.grad

    # ------------------------------------------------------------------ sampling
    def sample(self, scheme: str, source: np.random.SeedSequence | Streams, n: int, *, uniform_action: bool = False,
               steps: int | None = None) -> Batch:
        """``n`` trajectories per replicate of ``source`` (a stack, or one SeedSequence), in one simulation."""
        from pgexp.sampling.lqr import simulate

        if scheme != "trajectories":
            raise UserError(f"sampling scheme {scheme!r}: linear-quadratic problems sample whole trajectories only")
        if steps is not None:
            raise UserError("--truncate: tabular problems only")
        stack = as_streams(source)
        seqs = [stack.seq(k) for k in range(stack.count)] if stack is not None else [source]
        p = self.problem
        ev = self.evaluation
        L = self.steps
        tr = simulate(p.system, ev.K, ev.sigma, L, seqs, n)  # type: ignore[arg-type]
        N = tr.states.shape[0]
        scores = self.step_scores(tr.states, tr.eps)
        finite = p.horizon is not None

        def successors() -> np.ndarray:
            nxt = np.empty_like(tr.states)
            nxt[:, :-1] = tr.states[:, 1:]
            nxt[:, -1] = tr.final_states
            return nxt

        batch = Batch(tr.states, tr.actions, tr.rewards, np.full(N, L, np.int64), self.gamma, p.horizon, successors,
                      np.full(N, finite), np.full(N, not finite), self.track, context=self, exact=self.exact_on,
                      blocks=len(seqs), final_states=tr.final_states)
        batch.__dict__[SCORES] = scores  # every pair's weights meet the same scores: computed once per stack
        return batch

    def step_scores(self, states: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """``score(x_ih, u_ih)`` of every step, ``(N, L, dim)``, from the states and the standardised action noise
        ``eps = (u - mu) / sigma`` (:mod:`pgexp.policies.gaussian`: ``-eps (x) x / sigma``, ``||eps||^2 - m``)."""
        pol, sigma = self.problem.policy, self.evaluation.sigma
        N, L, m = eps.shape
        gK = -(eps[..., :, None] * states[..., None, :]).reshape(N, L, -1) / sigma
        if not pol.learn_std:
            return gK
        return np.concatenate([gK, (np.sum(eps * eps, axis=-1) - m)[..., None]], axis=-1)

    # ------------------------------------------------------------------ values
    def exact_state_values(self, states: np.ndarray, times: np.ndarray, blocks: np.ndarray | None = None) -> np.ndarray:
        """Exact ``V_t(x) = -(x' P_t x + c_t)`` (``V_H = 0``)."""
        ev = self.evaluation
        return exact_lqr.value_at(ev.P, ev.c, states, times)

    def exact_on(self, batch: Batch) -> dict[str, np.ndarray]:
        """The exact ``V``, ``Q``, ``A`` at a batch's steps, each ``(N, L)``."""
        V = self.exact_state_values(batch.states, batch.times)
        Q = self.q_function(batch.states, batch.actions, batch.times)
        return {"V": V, "Q": Q, "A": Q - V}

    def fit_values(self, aux: Batch, seq: Any) -> Any:
        """``value_learned``: least squares of the return ``R_h`` on ``[vech(x x'), 1] (x) [1, tau, tau^2]``,
        ``tau = h / L``, one fit per replicate of the stack (a tiny ridge keeps a degenerate fit defined)."""
        L = max(aux.shape[1], 1)
        phi = quadratic_features(aux.states, aux.times / L)
        y = np.where(aux.mask, aux.returns, 0.0)
        phi = np.where(aux.mask[..., None], phi, 0.0)
        B, p = aux.blocks, phi.shape[-1]
        Phi = phi.reshape(B, -1, p)
        gram = np.einsum("bri,brj->bij", Phi, Phi)
        rhs = np.einsum("bri,br->bi", Phi, y.reshape(B, -1))
        scale = np.trace(gram, axis1=1, axis2=2)[:, None, None] / p
        beta = np.linalg.solve(gram + RIDGE * np.maximum(scale, 1e-300) * np.eye(p), rhs[..., None])[..., 0]

        def model(states: np.ndarray, times: np.ndarray, blocks: np.ndarray | None = None) -> np.ndarray:
            f = quadratic_features(states, np.asarray(times) / L)
            coef = beta[0] if blocks is None or B == 1 else beta[blocks]
            return np.einsum("...i,...i->...", f, coef)

        return model

    # ------------------------------------------------------------------ gradients and truth
    def summed_scores(self, batch: Batch, weights: np.ndarray, group: int) -> np.ndarray:
        """``sum_i sum_h w_ih score(x_ih, u_ih)`` over each run of ``group`` consecutive trajectories,
        ``(ceil(N / group), dim)`` (the Gaussian score in closed form)."""
        from pgexp.estimators.correction import Corrected

        pol, theta = self.problem.policy, self.problem.theta
        extra = weights.correction if isinstance(weights, Corrected) else None
        w = np.asarray(weights.score if isinstance(weights, Corrected) else weights, dtype=np.float64)
        w = w if w.ndim == 2 and bool(batch.mask.all()) else np.where(batch.mask, w, 0.0)  # LQR runs are never padded
        S = batch.__dict__.get(SCORES)
        if S is None or S.shape[0] != w.shape[0]:  # a batch built elsewhere, or one replicate of a stack
            ev = self.evaluation
            S = self.step_scores(batch.states, (batch.actions + batch.states @ ev.K.T) / ev.sigma)
        N = w.shape[0]
        groups = -(-N // group)
        pad = groups * group - N
        if S.shape[2] == 1:
            g = (w * S[..., 0]).sum(axis=1)[:, None]
        else:
            g = np.einsum("nl,nld->nd", w, S)
        if extra is not None:  # the analytic correction, pulled back through mu = -K x and log sigma
            g = g + pol.distribution_pullback(theta, batch.states, np.where(batch.mask[..., None], extra, 0.0))
        if pad:
            g = np.concatenate([g, np.zeros((pad, g.shape[1]))])
        out = g.reshape(groups, group, -1).sum(axis=1)
        assert out.shape[1] == pol.dim and theta.shape == (pol.dim,)
        return out

    def gradients(self, batch: Batch, weights: np.ndarray, *, per_trajectory: bool) -> np.ndarray:
        """``g_i = sum_h w_ih score(x_ih, u_ih)``: ``(N, d)``, or the mean over the whole batch ``(d,)``."""
        g = self.summed_scores(batch, weights, 1 if per_trajectory else batch.num)
        return g if per_trajectory else g[0] / max(batch.num, 1)

    def block_gradients(self, batch: Batch, weights: np.ndarray) -> np.ndarray:
        """Each replicate's batch estimate ``(blocks, d)``."""
        return self.summed_scores(batch, weights, batch.block_size) / max(batch.block_size, 1)

    def truth(self, seed: int = 0, **_: Any) -> Truth:
        """The exact gradient, ``J`` and the Riccati optimum's return ``J*``."""
        J, grad = self.exact_gradient
        return Truth(grad, {"J_exact": J, "J_star": self.best_return()})

    def objective(self, seq: np.random.SeedSequence | None = None, episodes: int = 0) -> tuple[float, dict[str, float]]:
        """The exact ``J`` at ``theta`` (what training records); a gain whose discounted cost is infinite raises."""
        return self.exact_gradient[0], {}

    def best_return(self) -> float:
        """``J*``: the Riccati feedback's return with the same exploration noise (:func:`pgexp.exact.lqr.optimum`)."""
        return float(exact_lqr.optimum(self.problem).J)


def quadratic_features(states: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """``[vech(x x'), 1] (x) [1, tau, tau^2]`` for states ``(..., n)`` and times ``tau`` ``(...)``: ``(..., 3 (n(n+1)/2
    + 1))``."""
    x = np.asarray(states, dtype=np.float64)
    n = x.shape[-1]
    t = np.broadcast_to(np.asarray(tau, dtype=np.float64), x.shape[:-1])
    if n == 1:  # scalar states: [x^2, 1] (x) [1, tau, tau^2] without the general outer product
        x2 = x[..., 0] * x[..., 0]
        return np.stack([x2, np.ones_like(x2), x2 * t, t, x2 * t * t, t * t], axis=-1)
    iu = np.triu_indices(n)
    quad = (x[..., :, None] * x[..., None, :])[..., iu[0], iu[1]]
    base = np.concatenate([quad, np.ones((*x.shape[:-1], 1))], axis=-1)
    tt = t[..., None]
    return np.concatenate([base, base * tt, base * tt * tt], axis=-1)


__all__ = ["LQRContext", "quadratic_features"]
