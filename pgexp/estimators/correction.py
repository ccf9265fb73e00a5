r"""Action-dependent control variates: what an estimator returns besides step weights, and what a baseline gives.

**Why a second term.**  A baseline ``b(s)`` of the state alone leaves an estimate unbiased because
``E_{a~pi}[grad log pi(a|s)] b(s) = 0``.  A baseline ``b(s, a)`` that also reads the action does not:
``E_{a~pi}[grad log pi(a|s) b(s, a)] = sum_a grad pi(a|s) b(s, a) = grad_theta E_{a~pi_theta(.|s)}[b(s, a)]`` (``b``
held fixed), which is in general not zero.  Adding that expectation back analytically restores the mean
(Q-Prop, Gu et al. 2017; Stein control variates, Liu et al. 2018; Grathwohl et al. 2018)::

    g = sum_h [ grad log pi(a_h|s_h) c_h (R_h - b(s_h, a_h)) + c_h grad_theta E_{a~pi(.|s_h)} b(s_h, a) ],

so a trajectory's estimate is ``g_i = sum_h w_ih grad log pi(a_ih|s_ih) + sum_h grad_theta E_{a~pi}[k_ih(a)]`` with
step weights ``w`` and, per step, a function ``k_ih`` of the action whose *expected* value is differentiated.  The
second term is not a step weight times the sampled action's score: it sums over every action of the visited state
(discrete actions) or differentiates a Gaussian expectation in closed form.  With ``w = 0`` and ``k = c_h Q`` it is
the all-action estimator ``sum_h c_h sum_a grad pi(a|s_h) Q(s_h, a)`` (Sutton et al. 2001; Ciosek & Whiteson 2018).

**The representation of ``k``** (each track's gradient routine turns it into a gradient):

* *finite actions* (tabular problems; softmax MLPs on continuous states): ``k(a)`` for every action, ``(N, L, A)``:
  ``grad E_{a~pi}[k(a)] = sum_a k(a) grad pi(a|s) = sum_a pi(a|s) k(a) grad log pi(a|s)`` -- a weight
  ``pi(a|s) k(a)`` on every ``(s, a)`` cell of the visited state, which the accumulation onto ``(s, a)`` cells and
  the score pull-back already handle;
* *Gaussian policies* ``N(mu(s), diag sigma^2)`` (linear-quadratic problems, continuous actions): the gradient of
  ``E_{a~N(mu, sigma^2)}[k(a)]`` with respect to the distribution's parameters, ``(N, L, 2m)``:
  ``[d E k / d mu_j, d E k / d log sigma_j]`` for ``j < m``; the track pulls it back through ``mu_theta(s)`` and
  ``log sigma_theta``.  For Q-Prop's linear control variate ``k(a) = f(s) + g(s)' (a - mu(s))`` it is ``[g(s), 0]``;
  for a quadratic ``k`` with action Hessian ``2 M`` it is ``[grad_a k(mu), 2 sigma_j^2 M_jj]`` (``E k = k(mu) +
  sigma' diag(M) sigma`` under a Gaussian).

An estimator returns :class:`Corrected` (plain ``(N, L)`` weights otherwise); an action-dependent baseline's
``values`` returns :class:`ActionValues` as its ``b_h`` (see :mod:`pgexp.estimators.spec`), which
:func:`pgexp.estimators.batch.with_baseline` lays out as ``batch.baseline`` (``b(s_h, a_h)``), ``batch.baseline_state``
(the critic's state value ``E_a Q̂(s_h, a)``, GAE's ``V``), ``batch.baseline_correction`` (``k`` of the control
variate, without the estimator's coefficient ``c_h``) and ``batch.critic_correction`` (``k`` of the critic itself,
the all-action estimator's; the same as the control variate's on finite actions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Corrected:
    """An estimator's output with an analytic correction (module docstring).

    Attributes:
        score: ``(N, L)`` weights ``w_ih`` of the sampled actions' scores.
        correction: ``(N, L, K)`` per-step ``k_ih`` in the track's representation (``K = A`` for finite actions,
            ``2 m`` for Gaussian policies), zero on padding.
    """

    score: np.ndarray
    correction: np.ndarray

    def rows(self, sl: slice) -> Corrected:
        return Corrected(self.score[sl], self.correction[sl])


@dataclass(frozen=True, eq=False)
class ActionValues:
    """An action-dependent baseline's values at a batch's steps (what ``values`` returns as ``b``).

    Attributes:
        taken: ``(N, L)`` ``b(s_h, a_h)`` at the sampled action (for a Gaussian, the control variate).
        state: ``(N, L)`` the critic's state value ``E_{a~pi} Q̂(s_h, a)`` (GAE's ``V``).
        correction: ``(N, L, K)`` ``k`` of the control variate ``b`` (module docstring).
        critic: ``(N, L, K)`` ``k`` of the critic ``Q̂`` (the all-action estimator's); ``None``: ``correction``.
    """

    taken: np.ndarray
    state: np.ndarray
    correction: np.ndarray
    critic: np.ndarray | None = None


def corrected(batch, weights: np.ndarray, coefficient: np.ndarray) -> np.ndarray | Corrected:
    """``weights``, plus ``coefficient (N, L) x batch.baseline_correction`` when the baseline reads the action.

    An estimator that subtracts ``c_h b(s_h, a_h)`` from step ``h``'s weight passes ``c_h`` as ``coefficient``: the
    correction ``c_h grad E_a b(s_h, a)`` keeps it unbiased.  With a state baseline the weights come back as they
    are.
    """
    k = getattr(batch, "baseline_correction", None)
    if k is None:
        return weights
    coef = np.where(batch.mask, np.broadcast_to(coefficient, batch.shape), 0.0)
    return Corrected(np.asarray(weights, dtype=np.float64), coef[..., None] * k)


def cell_weights(states: np.ndarray, lengths: np.ndarray, correction: np.ndarray, pi: np.ndarray,
                 group: int) -> np.ndarray:
    """Finite actions: the correction as weights on ``(s, a)`` cells, summed over each run of ``group`` consecutive
    trajectories: ``W[row, s, a] = sum pi(a|s) k_ih(a)`` over the steps of the row's trajectories in ``s``,
    ``(ceil(N / group), S, A)`` -- so ``sum_{s,a} W grad log pi(a|s)`` is ``sum_h sum_a k_ih(a) grad pi(a|s_ih)``."""
    N, L, A = correction.shape
    S = pi.shape[0]
    group = max(int(group), 1)
    rows = max(-(-N // group), 1)
    live = np.arange(L)[None, :] < lengths[:, None]
    row = np.broadcast_to((np.arange(N) // group)[:, None], (N, L))[live]
    s = states[live]
    cell = row * S + s
    k = correction[live] * pi[s]                                                   # (steps, A)
    W = np.stack([np.bincount(cell, weights=k[:, a], minlength=rows * S) for a in range(A)], axis=-1)
    return W.reshape(rows, S, A)


def score_part(out: np.ndarray | Corrected) -> np.ndarray:
    """The step weights of an estimator's output (its correction dropped)."""
    return out.score if isinstance(out, Corrected) else out


__all__ = ["ActionValues", "Corrected", "cell_weights", "corrected", "score_part"]
