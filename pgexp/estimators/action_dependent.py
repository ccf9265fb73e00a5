r"""Action-dependent baselines (``q_exact``, ``q_fitted``) and the all-action estimator (``all_action``).

The correction that keeps an action-dependent control variate unbiased, and how tracks represent it, is derived in
:mod:`pgexp.estimators.correction`.  Here are the values each baseline gives a batch
(:class:`~pgexp.estimators.correction.ActionValues`) and the all-action estimator itself.

**Finite actions** (tabular problems).  The control variate is the critic: ``b(s, a) = Q̂_h(s, a)``, its
correction ``k_h(a) = Q̂_h(s_h, a)`` for every action (``grad E_a b = sum_a grad pi(a|s) Q̂_h(s, a)``), its state value
``V̂_h(s) = sum_a pi(a|s) Q̂_h(s, a)``.

* ``q_exact``: the exact ``Q_h = V_h + A_h`` (time-indexed for a finite horizon).  Per step it is the *optimal*
  action-dependent baseline: given ``s``, the step ``score(a) (R - b(s, a)) + sum_a' grad pi(a'|s) b(s, a')``
  has, with ``delta = Q - b`` and ``m_x = E_a[score x]``, conditional second moment ``E_a|score delta - m_delta|^2``
  plus terms free of ``b`` -- i.e. ``tr Var_a(score(a) delta(a))``, zero at ``delta = 0`` and positive for any other
  ``delta`` with a non-zero score (a constant ``delta = c`` gives ``c^2 E|score|^2``).  So ``b = Q`` removes the
  action's variance term of Tucker et al. exactly (:mod:`pgexp.exact.tucker`), and nothing else.
* ``q_fitted``: the per-``(s, a)`` mean of the return ``R_h`` on an independent batch of ``--fit-batch-size``
  trajectories (stationary, as ``value_learned``; a cell never tried falls back to its state's mean, a state never
  visited to the batch's mean), one fit per replicate, charged to ``env_steps``.  Fitted independently of the
  estimate's own batch, the corrected estimate stays unbiased whatever the fit's error.

**Gaussian policies** ``a ~ N(mu(s), sigma^2 I)`` (linear-quadratic problems).  The control variate is Q-Prop's
linear one, ``b(s, a) = f(s) + g(s)' (a - mu(s))`` with ``g(s) = grad_a Q̂(s, a)|_{a = mu(s)}`` and ``f(s) = V̂(s) =
E_a Q̂(s, a)`` -- Q-Prop subtracts ``g' (a - mu)`` from an advantage already centred by the state value, which is this
``b``.  ``E_{a~N(mu', sigma^2)} b = f + g' (mu' - mu)``, so ``grad E_a b = J_mu(s)' g(s)`` and nothing in ``sigma``
(correction ``[g, 0]``).  The critic is quadratic in the action (LQR's exact ``Q_t(x, u) = -([x; u]' M_t [x; u] +
q_t)``, or the fit below), so ``E_a Q̂ = Q̂(s, mu) + sigma^2 tr(H)/2`` with ``H = grad_a^2 Q̂``, and its own correction
-- the all-action estimator's -- is ``[g, sigma^2 diag(H)]``.  ``b`` misses ``Q`` by the centred quadratic remainder
``(a - mu)' H (a - mu)/2 - sigma^2 tr(H)/2``: a linear control variate cannot remove all of the action's variance.
(The first-order Taylor constant ``f = Q̂(s, mu)`` instead would leave the remainder's mean ``sigma^2 tr(H)/2`` in
the control variate; on the scalar LQR of the tests that makes Tucker's ``Sigma_a`` larger than with ``V`` alone.)

* ``q_exact``: LQR's exact ``Q_t`` (:func:`pgexp.exact.lqr.q_function`), ``H = -2 Quu``, the state value the exact
  ``V_t``.
* ``q_fitted``: least squares of ``R_h`` on ``[vech(z z'), 1] (x) [1, tau, tau^2]``, ``z = [x; u]``, ``tau = h / L``
  (LQR's ``Q_t`` lies in that family up to its time dependence), one fit per replicate on its independent batch.

**Continuous states** (Gymnasium and MuJoCo tasks; ``q_fitted`` only: nothing is exact there).  The critic is a ridge
regression of ``R_h`` on the fixed random Fourier features ``phi(o, h)`` of ``value_learned``
(:mod:`pgexp.estimators.value_models`): for a Gaussian policy on ``[phi, phi (x) (a - mu(o))]``, which *is* Q-Prop's
linear form -- ``f = w_0' phi`` the state value, ``g_j = w_j' phi`` the slope -- with correction ``[g, 0]`` (its own
curvature is zero, so the all-action correction is the same); for finite actions one regression per action on the
steps that took it (an action never taken gets the state part of the others' mean), correction ``Q̂(o, .)``.

**The all-action estimator** ``g = sum_h gamma^h grad E_{a~pi(.|s_h)} Q̂_h(s_h, a)``: step weights zero, the
critic's correction ``gamma^h k``.  With the exact ``Q`` it is unbiased (the policy-gradient theorem, summed over
actions instead of sampled) and its per-step covariance is Tucker et al.'s ``Sigma_s`` alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pgexp.estimators.batch import Batch
from pgexp.estimators.correction import ActionValues, Corrected

RIDGE = 1e-8  # relative ridge of the fitted quadratic critic's normal equations (guards a singular fit only)


# ------------------------------------------------------------------------------------------ the estimator

def all_action(batch: Batch) -> Corrected:
    """``g = sum_h gamma^h sum_a grad pi(a|s_h) Q̂_h(s_h, a)`` (a Gaussian: its closed form); the critic is the
    baseline slot (``q_exact`` or ``q_fitted``)."""
    if batch.critic_correction is None:
        raise ValueError("all_action needs an action-dependent baseline (its critic): q_exact or q_fitted")
    coef = np.where(batch.mask, batch.discount, 0.0)
    return Corrected(np.zeros(batch.shape), coef[..., None] * batch.critic_correction)


# ------------------------------------------------------------------------------------------ baselines

def q_exact(ctx: Any, batch: Batch, aux: Batch | None, seq: Any, options: Mapping[str, float]):
    """``q_exact``: the exact ``Q`` as a control variate (tabular: itself; LQR: its linear expansion)."""
    if ctx.track == "lqr":
        ev = ctx.evaluation
        qf = ctx.q_function
        now = gaussian_values(batch, ev.K, ev.sigma, -qf.Qxx, -qf.Qxu, -qf.Quu, -qf.q,
                              ctx.exact_state_values(batch.states, batch.times))
        return now, ctx.exact_state_values(batch.next_states, batch.times + 1)
    Q = q_table(ctx)
    rows = Q[np.minimum(batch.times, Q.shape[0] - 1), batch.states]                      # (N, L, A)
    taken = np.take_along_axis(rows, batch.actions[..., None], axis=-1)[..., 0]
    now = ActionValues(taken, ctx.exact_state_values(batch.states, batch.times), rows)
    return now, ctx.exact_state_values(batch.next_states, batch.times + 1)


def q_fitted(ctx: Any, batch: Batch, aux: Batch | None, seq: Any, options: Mapping[str, float]):
    """``q_fitted``: the critic fitted on the independent batch ``aux`` (one fit per replicate of a stack)."""
    if aux is None:
        raise ValueError("q_fitted needs an independent fitting batch")
    blocks = batch.block_ids if batch.blocks > 1 else np.zeros(batch.num, np.int64)
    if ctx.track == "continuous":
        return continuous_q_fitted(ctx, batch, aux, seq)
    if ctx.track == "lqr":
        Mt, ct, L = fit_quadratic_critic(aux)
        ev = ctx.evaluation
        M, c = critic_at(Mt, ct, blocks, batch.times, L)
        now = gaussian_values(batch, ev.K, ev.sigma, M[..., :ev.K.shape[1], :ev.K.shape[1]],
                              M[..., :ev.K.shape[1], ev.K.shape[1]:], M[..., ev.K.shape[1]:, ev.K.shape[1]:], c, None)
        M1, c1 = critic_at(Mt, ct, blocks, batch.times + 1, L)
        return now, gaussian_state_value(batch.next_states, ev.K, ev.sigma, M1, c1)
    Q = fit_state_action_values(aux, ctx.mdp.num_states, ctx.mdp.num_actions)           # (B, S, A)
    V = np.einsum("bsa,sa->bs", Q, ctx.pi)
    b = blocks[:, None] if Q.shape[0] > 1 else np.zeros((batch.num, 1), np.int64)
    rows = Q[b, batch.states]                                                            # (N, L, A)
    taken = np.take_along_axis(rows, batch.actions[..., None], axis=-1)[..., 0]
    return ActionValues(taken, V[b, batch.states], rows), V[b, batch.next_states]


def continuous_q_fitted(ctx: Any, batch: Batch, aux: Batch, seq: Any):
    """``q_fitted`` on a continuous-state task (module docstring): one fit on the independent batch ``aux``."""
    from pgexp.estimators.value_models import RIDGE, fit_fourier_value

    p = ctx.problem
    vf = fit_fourier_value(aux, p.horizon, seq)                       # the features (and their standardisation)
    live = aux.mask
    phi = vf.features(aux.states[live], aux.times[live].astype(np.float64))
    y = aux.returns[live]
    gaussian = bool(p.task.continuous_actions)

    def ridge(X: np.ndarray, t: np.ndarray) -> np.ndarray:
        gram = X.T @ X
        reg = RIDGE * max(np.trace(gram) / gram.shape[0], 1e-12) / max(t.size, 1) * np.eye(gram.shape[0])
        reg[0, 0] = 0.0  # the intercept is not shrunk
        return np.linalg.solve(gram + reg, X.T @ t) if t.size else np.zeros(X.shape[1])

    def features(obs: np.ndarray, times: np.ndarray) -> np.ndarray:
        return vf.features(obs, np.broadcast_to(times, obs.shape[:-1]).astype(np.float64))

    if gaussian:
        mean_fn = p.policy.mean_std_fn(p.theta)
        mu_aux = mean_fn(aux.states[live])[0]
        F = phi.shape[1]
        coef = ridge(np.concatenate([phi, (phi[:, :, None] * (aux.actions[live] - mu_aux)[:, None, :]).reshape(
            phi.shape[0], -1)], axis=1), y)
        w0, W = coef[:F], coef[F:].reshape(F, -1)                     # f = phi . w0, g = phi . W  (W: F x m)
        ph, ph_next = features(batch.states, batch.times), features(batch.next_states, batch.times + 1)
        flat = batch.states.reshape(-1, batch.states.shape[-1])
        mu = mean_fn(flat)[0].reshape(*batch.shape, -1)
        f, g = ph @ w0, ph @ W
        taken = f + np.einsum("nlj,nlj->nl", g, batch.actions - mu)
        k = np.concatenate([g, np.zeros_like(g)], axis=-1)
        return ActionValues(taken, f, k, k), ph_next @ w0
    A = int(p.task.num_actions)
    acts = aux.actions[live].astype(np.int64)
    base = ridge(phi, y)                                              # the state part, for actions never taken
    coefs = np.stack([ridge(phi[acts == a], y[acts == a]) if np.any(acts == a) else base for a in range(A)], axis=1)
    probs = p.policy.probs_fn(p.theta)

    def values(obs: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = features(obs, times) @ coefs                              # (N, L, A)
        pi = probs(obs.reshape(-1, obs.shape[-1])).reshape(q.shape)
        return q, np.einsum("nla,nla->nl", q, pi)

    q, v = values(batch.states, batch.times)
    taken = np.take_along_axis(q, batch.actions.astype(np.int64)[..., None], axis=-1)[..., 0]
    return ActionValues(taken, v, q), values(batch.next_states, batch.times + 1)[1]


def q_table(ctx: Any) -> np.ndarray:
    """Exact ``Q_h(s, a)`` of a tabular context: ``(H, S, A)`` for a finite horizon, else ``(1, S, A)``."""
    A = ctx.advantage_table
    return ctx.value_table[:A.shape[0], :, None] + A


def fit_state_action_values(aux: Batch, num_states: int, num_actions: int) -> np.ndarray:
    """Per-``(s, a)`` mean of the return ``R_h`` on ``aux``, one table per block: ``(blocks, S, A)``.

    A cell never tried gets its state's mean over the actions tried there, a state never visited the block's overall
    mean (0 for an empty block) -- defined everywhere, and independent of the batch it is applied to."""
    B, S, A = aux.blocks, num_states, num_actions
    ids = aux.block_ids if B > 1 else np.zeros(aux.num, np.int64)
    mask = aux.mask
    cell = ((np.broadcast_to(ids[:, None], aux.shape) * S + aux.states) * A + aux.actions)[mask]
    t = aux.returns[mask]
    total = np.bincount(cell, weights=t, minlength=B * S * A).reshape(B, S, A)
    count = np.bincount(cell, minlength=B * S * A).reshape(B, S, A).astype(np.float64)
    s_total, s_count = total.sum(axis=2), count.sum(axis=2)
    b_total, b_count = s_total.sum(axis=1), s_count.sum(axis=1)
    overall = np.divide(b_total, b_count, out=np.zeros(B), where=b_count > 0)
    state = np.where(s_count > 0, s_total / np.maximum(s_count, 1), overall[:, None])
    return np.where(count > 0, total / np.maximum(count, 1), state[:, :, None])


# ------------------------------------------------------------------------------------------ Gaussian critics

def gaussian_values(batch: Batch, K: np.ndarray, sigma: float, Mxx: np.ndarray, Mxu: np.ndarray, Muu: np.ndarray,
                    c: np.ndarray, state: np.ndarray | None) -> ActionValues:
    """Q-Prop's linear control variate ``V̂(x) + g(x)' (u - mu)`` of the quadratic critic ``Q̂(x, u) = [x; u]' M [x; u]
    + c`` at a batch's steps (``V̂ = E_u Q̂``, or ``state`` when given: the exact ``V`` of the exact ``Q``).

    ``M`` blocks and ``c`` are either tables over time (``(T', ...)``, looked up at ``batch.times``) or already one per
    step (``(N, L, ...)``).  ``state``: the state value to report (``None``: the critic's own ``E_u Q̂``).
    """
    x, u = batch.states, batch.actions
    if Mxx.ndim == 3:  # a table over time
        t = np.broadcast_to(np.minimum(batch.times, Mxx.shape[0] - 1), batch.shape)
        Mxx, Mxu, Muu, c = Mxx[t], Mxu[t], Muu[t], c[t]
    mu = -x @ K.T                                                                        # (N, L, m)
    g = 2.0 * (np.einsum("...ij,...i->...j", Mxu, x) + np.einsum("...jk,...k->...j", Muu, mu))
    f = (np.einsum("...i,...ij,...j->...", x, Mxx, x) + 2.0 * np.einsum("...i,...ij,...j->...", x, Mxu, mu)
         + np.einsum("...i,...ij,...j->...", mu, Muu, mu) + c)
    diag = np.diagonal(Muu, axis1=-2, axis2=-1)                                          # (N, L, m): H = 2 Muu
    expected = f + sigma ** 2 * diag.sum(axis=-1) if state is None else state
    taken = expected + np.einsum("...j,...j->...", g, u - mu)
    zero = np.zeros_like(g)
    return ActionValues(taken, expected, np.concatenate([g, zero], axis=-1),
                        np.concatenate([g, 2.0 * sigma ** 2 * diag], axis=-1))


def gaussian_state_value(states: np.ndarray, K: np.ndarray, sigma: float, M: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``E_{u~N(-Kx, sigma^2)} Q̂(x, u) = Q̂(x, -Kx) + sigma^2 tr Muu`` for per-step ``M (N, L, n+m, n+m)``, ``c``."""
    n = K.shape[1]
    mu = -states @ K.T
    z = np.concatenate([states, mu], axis=-1)
    return (np.einsum("...i,...ij,...j->...", z, M, z) + c
            + sigma ** 2 * np.trace(M[..., n:, n:], axis1=-2, axis2=-1))


def fit_quadratic_critic(aux: Batch) -> tuple[np.ndarray, np.ndarray, int]:
    """Least squares of ``R_h`` on ``[vech(z z'), 1] (x) [1, tau, tau^2]`` with ``z = [x; u]``, ``tau = h / L``, one fit
    per block: ``(M (B, 3, p, p), c (B, 3), L)`` with ``Q̂_tau(z) = z' (sum_k tau^k M_k) z + sum_k tau^k c_k``."""
    L = max(aux.shape[1], 1)
    z = np.concatenate([aux.states, aux.actions], axis=-1)
    p = z.shape[-1]
    phi = quadratic_features(z, aux.times / L)
    y = np.where(aux.mask, aux.returns, 0.0)
    phi = np.where(aux.mask[..., None], phi, 0.0)
    B, k = aux.blocks, phi.shape[-1]
    Phi = phi.reshape(B, -1, k)
    gram = np.einsum("bri,brj->bij", Phi, Phi)
    rhs = np.einsum("bri,br->bi", Phi, y.reshape(B, -1))
    scale = np.trace(gram, axis1=1, axis2=2)[:, None, None] / k
    beta = np.linalg.solve(gram + RIDGE * np.maximum(scale, 1e-300) * np.eye(k), rhs[..., None])[..., 0]
    iu = np.triu_indices(p)
    width = len(iu[0]) + 1
    M = np.zeros((B, 3, p, p))
    c = np.zeros((B, 3))
    for power in range(3):
        part = beta[:, power * width:(power + 1) * width]
        half = np.where(iu[0] == iu[1], 1.0, 0.5)[None, :] * part[:, :-1]
        M[:, power, iu[0], iu[1]] += half
        M[:, power, iu[1], iu[0]] += np.where(iu[0] == iu[1], 0.0, 1.0)[None, :] * half
        c[:, power] = part[:, -1]
    return M, c, L


def quadratic_features(z: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """``[vech(z z'), 1] (x) [1, tau, tau^2]`` for ``z (..., p)`` and ``tau (...)``: ``(..., 3 (p (p + 1) / 2 + 1))``
    (``vech`` in :func:`numpy.triu_indices` order)."""
    p = z.shape[-1]
    iu = np.triu_indices(p)
    t = np.broadcast_to(np.asarray(tau, dtype=np.float64), z.shape[:-1])[..., None]
    base = np.concatenate([(z[..., :, None] * z[..., None, :])[..., iu[0], iu[1]], np.ones((*z.shape[:-1], 1))], -1)
    return np.concatenate([base, base * t, base * t * t], axis=-1)


def critic_at(M: np.ndarray, c: np.ndarray, blocks: np.ndarray, times: np.ndarray, L: int) -> tuple[np.ndarray,
                                                                                                     np.ndarray]:
    """The fitted critic's ``(M, c)`` at every step: ``(N, L, p, p)`` and ``(N, L)`` (each row its block's fit)."""
    shape = (blocks.shape[0], np.shape(times)[-1])
    tau = np.broadcast_to(np.asarray(times, dtype=np.float64) / L, shape)
    powers = np.stack([np.ones(shape), tau, tau * tau], axis=-1)                         # (N, L, 3)
    Mb, cb = M[blocks], c[blocks]                                                        # (N, 3, p, p), (N, 3)
    return np.einsum("nlk,nkij->nlij", powers, Mb), np.einsum("nlk,nk->nl", powers, cb)


__all__ = ["all_action", "fit_quadratic_critic", "fit_state_action_values", "q_exact",
           "q_fitted", "q_table"]
