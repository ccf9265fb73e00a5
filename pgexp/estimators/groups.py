r"""Group estimators, as used to fine-tune language models: RLOO, GRPO, Dr. GRPO, DAPO, REINFORCE++, ReMax.

A batch is sampled in groups (:mod:`pgexp.sampling.groups`, ``--group-size G``): ``P = N / G`` prompts, ``G``
responses ``o_1 .. o_G`` to each.  Response ``i`` has the reward ``r_i`` (its return ``G_0``), the length
``|o_i|`` (actions taken, the end-of-sequence action included) and the score ``psi_i = sum_t grad log pi(a_t |
s_t)``.  Every estimator here gives all of a response's tokens the same weight ``c_i``, so response ``i``
contributes ``c_i psi_i`` and the batch estimate is ``(1/N) sum_i c_i psi_i`` -- the group mean over ``i``,
then the mean over prompts.  Updates are on-policy, one per batch, so the PPO ratio is 1 and clipping never
acts; there is no KL term.  With ``rbar``, ``s`` the mean and standard deviation of the group's rewards
(``s^2 = sum_j (r_j - rbar)^2 / (G - std_ddof)``; ``std_ddof = 1``, the sample deviation, is what
``torch.std`` -- hence TRL and verl -- computes, ``0`` the population one) and ``A_i = (r_i - rbar) / (s + eps)``
(``0`` when the group's rewards are all equal):

======================  =========================================================  ==============================
name                    ``c_i``                                                    mean
======================  =========================================================  ==============================
``rloo``                ``r_i - mean_{j != i} r_j`` (Kool et al. 2019)             ``grad J``
``grpo``                ``A_i / |o_i|`` (Shao et al. 2024; group mean over ``i``)   biased
``dr_grpo``             ``(r_i - rbar) / L_max``, ``L_max = H`` (Liu et al. 2025)   ``(G - 1) / (G L_max) grad J``
``dapo_token_mean``     ``G A_i / sum_{j in group} |o_j|`` (Yu et al. 2025)         biased
``reinforce_pp``        ``(r_i - rbar_B) / (s_B + eps)``, over the whole batch      biased
``remax``               ``r_i - r(greedy response to the prompt)`` (Li et al. 2024)  ``grad J``
======================  =========================================================  ==============================

Why: ``E[psi_i | x] = 0`` and the responses of a group are independent given the prompt ``x``, so a weight
``r_i - b`` with ``b`` independent of response ``i`` has mean ``E[r_i psi_i] = grad J`` (RLOO's leave-one-out
mean, ReMax's greedy reward, a function of ``x`` and the policy only).  A mean that includes ``r_i`` itself,
``r_i - rbar = ((G - 1)/G) (r_i - mean_{j != i} r_j)``, scales it by ``(G - 1)/G``; Dr. GRPO divides by the
constant ``L_max`` too.  GRPO's ``1/s`` weighs each prompt by a function of its difficulty and its ``1/|o_i|``
weighs responses by their length (Liu et al. 2025: the two biases), DAPO's token mean divides by the group's
total length, and REINFORCE++'s batch normalisation couples every prompt of the batch: none of them is a
positive multiple of ``grad J`` in general.  :mod:`pgexp.exact.groups` computes all these means and
covariances exactly.

``--length-norm 0`` drops GRPO's ``1/|o_i|`` (``c_i = A_i``): the standard-deviation normalisation alone, to tell
Liu et al.'s two biases apart.

**DAPO's dynamic sampling** (``--dynamic-sampling 1``): groups whose rewards are all equal (``A = 0``) are
dropped and the estimate is the mean over the ``K`` kept groups of the batch (zero when none is kept) -- a
selection: the mean becomes ``E[X] (1 - (1 - q)^P) / q`` with ``X`` one group's estimate and ``q`` the chance
that a group is kept (:mod:`pgexp.exact.groups`).

**REINFORCE++** (Hu 2025) normalises the return over the whole batch rather than the group; pgexp's version
normalises the responses' rewards (one value per response), as its issue defines it -- implementations that
whiten per token (verl's ``masked_whiten``) weigh each response by its length in ``rbar_B`` and ``s_B``.

**ReMax** (Li et al. 2024)'s baseline is the reward of the greedy response (``argmax_a pi(a|s)`` at every step,
ties to the lowest action) to the prompt.  On problems with random transitions it is that greedy policy's
expected return from the prompt (exact policy evaluation); the greedy response's own steps are not counted in
``env_steps``.  It is defined for the finite objective (a greedy policy need not end an episode otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from pgexp.errors import UserError
from pgexp.estimators.batch import Batch, masked


def rewards(batch: Batch) -> np.ndarray:
    """``(N,)`` each response's reward: its return ``G_0``."""
    return np.asarray(batch.first_returns, dtype=np.float64)


def grouped(batch: Batch, x: np.ndarray) -> np.ndarray:
    """``(N,)`` per response -> ``(N / G, G)`` per group."""
    return np.asarray(x).reshape(-1, batch.group_size)


def normalised(r: np.ndarray, ddof: float, eps: float) -> np.ndarray:
    """``(r_i - rbar) / (s + eps)`` along the last axis (``s^2 = sum (r - rbar)^2 / (n - ddof)``); 0 where the
    rewards are all equal (or where ``s + eps = 0``)."""
    n = r.shape[-1]
    dev = r - r.mean(axis=-1, keepdims=True)
    ss = np.square(dev).sum(axis=-1, keepdims=True)
    var = np.divide(ss, n - ddof, out=np.zeros_like(ss), where=(n - ddof) > 0)
    den = np.sqrt(var) + eps
    spread = ss > 0
    return np.where(spread & (den > 0), dev / np.where(den > 0, den, 1.0), 0.0)


def params_of(batch: Batch) -> tuple[float, float]:
    """``(std_ddof, eps)`` of the batch's hyperparameters."""
    p = batch.params
    return float(p.get("std_ddof", 1.0)), float(p.get("eps", 1e-6))


def per_response(batch: Batch, c: np.ndarray) -> np.ndarray:
    """The step weights ``(N, L)`` of response weights ``c`` ``(N,)``: every real step of response ``i`` weighs
    ``c_i``."""
    return masked(batch, np.asarray(c, dtype=np.float64)[:, None])


def rloo(batch: Batch) -> np.ndarray:
    """``c_i = r_i - (1/(G-1)) sum_{j != i} r_j``: the leave-one-out group mean (unbiased)."""
    G = batch.group_size
    r = grouped(batch, rewards(batch))
    return per_response(batch, (r - (r.sum(axis=1, keepdims=True) - r) / (G - 1)).ravel())


def grpo(batch: Batch) -> np.ndarray:
    """``c_i = A_i / |o_i|``: the group-normalised advantage, each token weighed by ``1 / |o_i|`` (with
    ``length_norm = 0``: ``c_i = A_i``, the standard-deviation normalisation alone)."""
    ddof, eps = params_of(batch)
    A = normalised(grouped(batch, rewards(batch)), ddof, eps).ravel()
    if float(batch.params.get("length_norm", 1.0)) == 0.0:
        return per_response(batch, A)
    return per_response(batch, A / np.maximum(batch.lengths, 1))


def dr_grpo(batch: Batch) -> np.ndarray:
    """``c_i = (r_i - rbar) / L_max``, ``L_max = H``: GRPO without the standard deviation and with a constant
    length (mean ``(G - 1)/(G H) grad J``)."""
    if batch.horizon is None:
        raise UserError("dr_grpo: L_max is the horizon; give a finite --horizon")
    r = grouped(batch, rewards(batch))
    return per_response(batch, ((r - r.mean(axis=1, keepdims=True)) / float(batch.horizon)).ravel())


def dapo_token_mean(batch: Batch) -> np.ndarray:
    """``c_i = G A_i / sum_{j in group} |o_j|`` (DAPO's token-level mean over the group), and with
    ``dynamic_sampling = 1`` the mean over the kept groups of each batch (module docstring)."""
    ddof, eps = params_of(batch)
    G = batch.group_size
    A = normalised(grouped(batch, rewards(batch)), ddof, eps)
    total = grouped(batch, batch.lengths).sum(axis=1, keepdims=True).astype(np.float64)
    c = G * A / np.maximum(total, 1.0)
    if float(batch.params.get("dynamic_sampling", 0.0)) == 1.0:
        r = grouped(batch, rewards(batch))
        kept = (r.max(axis=1) > r.min(axis=1)).reshape(batch.blocks, -1)   # (blocks, P)
        P = kept.shape[1]
        factor = np.divide(P, kept.sum(axis=1), out=np.zeros(batch.blocks), where=kept.sum(axis=1) > 0)
        c = c * (kept * factor[:, None]).reshape(-1, 1)
    return per_response(batch, c.ravel())


def reinforce_pp(batch: Batch) -> np.ndarray:
    """``c_i = (r_i - rbar_B) / (s_B + eps)`` with the mean and deviation over the whole batch (all prompts)."""
    ddof, eps = params_of(batch)
    r = rewards(batch).reshape(batch.blocks, -1)
    return per_response(batch, normalised(r, ddof, eps).ravel())


def greedy_values(mdp, pi: np.ndarray) -> np.ndarray:
    """``(S,)`` the return of the greedy policy (``argmax_a pi(a|s)``, ties to the lowest action) from every state,
    at time 0: its expected return, which is the greedy response's reward when transitions are deterministic.
    Finite horizon: ``H`` backward steps; otherwise ``(I - gamma P_greedy) V = r_greedy`` on the non-absorbing
    states (refused when the greedy policy never ends an episode)."""
    S, A = pi.shape
    a = pi.argmax(axis=1)
    rows = np.arange(S) * A + a
    P = mdp.P[rows]  # (S, S) sparse: the greedy policy's transitions
    r = mdp.r[np.arange(S), a]
    gamma = float(mdp.gamma)
    absorbing = mdp.absorbing_states()
    if mdp.horizon is not None:
        V = np.zeros(S)
        for _ in range(int(mdp.horizon)):
            V = np.where(absorbing, 0.0, r + gamma * (P @ V))
        return V
    live = np.flatnonzero(~absorbing)
    M = sp.identity(live.size, format="csc") - gamma * sp.csc_array(P[live][:, live])
    from scipy.sparse.linalg import spsolve

    with np.errstate(all="ignore"):
        V_live = np.atleast_1d(spsolve(M, r[live]))
    if not np.all(np.isfinite(V_live)):
        raise UserError("remax: the greedy policy never ends an episode here (its value is not finite); give a "
                        "finite --horizon")
    V = np.zeros(S)
    V[live] = V_live
    return V


def remax(batch: Batch) -> np.ndarray:
    """``c_i = r_i - b(x)``, ``b(x)`` the reward of the greedy response to the prompt ``x = s_0`` (unbiased)."""
    ctx = batch.context
    if ctx is None or getattr(ctx, "track", "") != "tabular":
        raise UserError("remax: the greedy response needs a tabular problem")
    b = greedy_values(ctx.mdp, ctx.pi)[batch.states[:, 0]]
    return per_response(batch, rewards(batch) - b)


def dr_grpo_scale(group_size: int, horizon: int | None, params: Mapping[str, float]) -> float:
    """The registry's claim for ``dr_grpo``: ``E ĝ = (G - 1) / (G L_max) grad J``."""
    if horizon is None:
        raise UserError("dr_grpo: L_max is the horizon; give a finite --horizon")
    return (group_size - 1) / (group_size * float(horizon))
