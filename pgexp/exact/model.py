"""What the exact moments refer to: the trajectory process the Monte-Carlo sampler simulates.

Every exact route of :mod:`pgexp.exact` (enumeration, the moment recursion, the variance
decomposition) works on one :class:`ExactSetup`, built once per problem by :func:`make_setup`.

Trajectories (as :func:`pgexp.sampling.tabular.sample`): ``s_0 ~ mu``; at each step ``h < L`` an
absorbing state ends the episode (no action, nothing scored); otherwise ``a_h ~ pi(.|s_h)``, reward
``r(s_h, a_h)``, ``s_{h+1} ~ P(.|s_h, a_h)``.  ``L`` is the number of steps simulated at most:

* finite horizon ``H``: ``L = H``.  Values are time-indexed, ``V_h`` with ``V_H = 0``: nothing is
  bootstrapped past the horizon.
* discounted, ``H = inf, gamma < 1``: the sampler stops after ``L = T = ceil(log 1e-12 / log gamma)``
  steps (:func:`pgexp.sampling.tabular.effective_horizon`), so the exact numbers are those of the
  estimator *as sampled*, truncated at ``T``: values are the stationary ``V`` and a value-based
  estimator (GAE) bootstraps from ``V(s_T)`` at the cut, as the sampler's estimator does.  The
  truncated estimator's mean differs from ``grad J`` by terms of order ``gamma^T <= 1e-12`` (relative);
  its variance is that of the sampled estimator exactly (REINFORCE's score sum is not discounted, so
  the untruncated REINFORCE has no finite variance to compare with).
* episodic (``gamma = 1, H = inf``): not covered -- trajectories are unbounded; give ``--horizon``.
* cut at ``T`` (``truncation``: the practice option ``--truncate T``, discounted or episodic): ``L = T`` and
  stationary values; what a cut episode's return is completed with is the weight family's business
  (:mod:`pgexp.exact.families`, :mod:`pgexp.exact.practice`).  ``grad`` stays the untruncated objective's.

The lecture's roll-in/roll-out estimator samples its own geometric times and is handled in
:mod:`pgexp.exact.rollout_moments` (untruncated, as its sampler is).

Values are 0 in absorbing states (an episode that has ended has no future), whatever a user's table
says there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np

from pgexp.errors import UserError
from pgexp.exact import values as exact
from pgexp.problems.mdp import FiniteMDP, objective_kind
from pgexp.problems.problem import Problem
from pgexp.sampling.tabular import effective_horizon

T = TypeVar("T")


@dataclass(eq=False)
class ExactSetup:
    """A problem at ``theta`` with everything the exact routes share.

    Attributes:
        problem: the problem.
        kind: ``"finite"`` or ``"discounted"``.
        L: steps simulated at most (``H``, or the truncation ``T`` for ``H = inf``).
        gamma: discount.
        pi: ``pi(a|s)``, ``(S, A)``.
        sigma: score table ``grad log pi(a|s)``, ``(S, A, d)``.
        absorbing: ``(S,)`` bool.
        ev: the exact evaluation (``V``, ``Q``, ``J``, occupancy).
        grad: exact ``grad J``, ``(d,)``.
        disc: ``gamma^h`` for ``h < L``, ``(L,)``.
        memo: results computed on this set-up, kept for the next call that needs them (the moments of a weight
            family, shared by several estimator~baseline pairs; :func:`memoized`).
    """

    problem: Problem
    kind: str
    L: int
    gamma: float
    pi: np.ndarray
    sigma: np.ndarray
    absorbing: np.ndarray
    ev: exact.Evaluation
    grad: np.ndarray
    disc: np.ndarray = field(repr=False)
    memo: dict = field(default_factory=dict, repr=False, init=False)

    @property
    def mdp(self):
        return self.problem.mdp

    @property
    def dim(self) -> int:
        return self.sigma.shape[2]

    @property
    def num_states(self) -> int:
        return self.sigma.shape[0]

    @property
    def num_actions(self) -> int:
        return self.sigma.shape[1]

    @cached_property
    def value_steps(self) -> np.ndarray:
        """Exact ``V_h(s)`` for ``h = 0..L``, ``(L+1, S)``: finite: ``V_H = 0``; discounted: stationary ``V``
        in every row, the last one being the bootstrap at the cut.  Zero in absorbing states."""
        if self.kind == "finite":
            V = np.array(self.ev.V_steps, dtype=np.float64)
        else:
            V = np.repeat(np.nan_to_num(self.ev.V, nan=0.0)[None, :], self.L + 1, axis=0)
        V[:, self.absorbing] = 0.0
        return V

    @cached_property
    def pi_c(self) -> np.ndarray:
        """``pi`` as a C-contiguous float64 ``(S, A)`` (what the compiled loops take)."""
        return np.ascontiguousarray(self.pi, dtype=np.float64)

    @cached_property
    def alive_f(self) -> np.ndarray:
        """``1.0`` where the episode goes on, ``0.0`` in absorbing states, ``(S,)``."""
        return (~self.absorbing).astype(np.float64)

    @cached_property
    def csr_P(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`csr_arrays` of ``P`` ``(S*A, S)``."""
        return csr_arrays(self.mdp.P)

    @cached_property
    def csr_PT(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The same of ``P^T`` (:func:`transpose_arrays`)."""
        return transpose_arrays(self.csr_P, self.num_states)

    @cached_property
    def advantage_steps(self) -> np.ndarray:
        """Exact ``A_h(s, a)`` for ``h < L``, ``(L, S, A)`` (stationary rows for ``H = inf``)."""
        V = self.ev.V_steps
        if V is not None:  # finite horizon: time-indexed
            return np.stack([self.ev.Q_step(self.mdp, h) - V[h][:, None] for h in range(self.L)])
        return np.repeat(np.nan_to_num(self.ev.A, nan=0.0)[None], self.L, axis=0)

    def value_table(self, table: np.ndarray, what: str = "--value") -> np.ndarray:
        """A user's value table as ``(L+1, S)`` with this problem's semantics (see the module docstring).

        ``table``: ``(S,)`` (stationary: used at every step; finite horizon: ``V_H = 0``, discounted: also
        the bootstrap at the cut) or, finite horizon only, time-indexed ``(H+1, S)`` whose last row must
        be 0 (no bootstrap past the horizon).
        """
        S = self.num_states
        t = np.asarray(table, dtype=np.float64)
        if not np.all(np.isfinite(t)):
            raise UserError(f"{what}: the value table has non-finite entries")
        if t.shape == (S,):
            V = np.repeat(t[None, :], self.L + 1, axis=0)
            if self.kind == "finite":
                V[self.L] = 0.0
        elif self.kind == "finite" and t.shape == (self.L + 1, S):
            if np.any(t[self.L] != 0.0):
                raise UserError(f"{what}: row H = {self.L} of a time-indexed value table must be 0 "
                                "(nothing is bootstrapped past the horizon)")
            V = t.copy()
        else:
            allowed = f"({S},)" + (f" or ({self.L + 1}, {S})" if self.kind == "finite" else "")
            raise UserError(f"{what}: value table of shape {t.shape}; allowed: {allowed} for this problem")
        V[:, self.absorbing] = 0.0
        return V


def memoized(st: ExactSetup, key: tuple, compute: Callable[[], T]) -> T:
    """``compute()``, once per set-up and ``key`` (a tuple naming what is computed and everything it depends on
    besides the set-up): later calls return the same object, which callers must not modify."""
    if key not in st.memo:
        st.memo[key] = compute()
    return st.memo[key]


def score_table(problem: Problem) -> np.ndarray:
    """``grad log pi(a|s)`` for every ``(s, a)``, ``(S, A, d)``: the policy's own table when it has one,
    else the pullback of every one-hot ``(s, a)`` weight (any :class:`~pgexp.policies.base.TabularPolicy`)."""
    policy, theta = problem.policy, problem.theta
    if hasattr(policy, "score_table"):
        return np.asarray(policy.score_table(theta), dtype=np.float64)
    S, A = policy.num_states, policy.num_actions
    eye = np.eye(S * A).reshape(S * A, S, A)
    return np.asarray(policy.score_pullback(theta, eye), dtype=np.float64).reshape(S, A, -1)


def make_setup(problem: Problem, *, truncation: int | None = None) -> ExactSetup:
    """The shared set-up of ``problem`` (finite or discounted objective; episodic only with ``truncation``).

    ``truncation`` cuts an infinite-horizon problem's trajectories after ``T`` steps (the discounted
    default is ``T = ceil(log 1e-12 / log gamma)``; tests use a small one to enumerate).
    """
    mdp = problem.mdp
    kind = objective_kind(mdp)
    if kind == "episodic" and truncation is None:
        raise UserError("exact variance: the episodic objective (gamma = 1, H = inf) has unbounded trajectories; "
                        "give --horizon H, --gamma < 1 or --truncate T")
    if kind == "finite":
        if truncation is not None:
            raise UserError("--truncate: for the discounted and episodic objectives (H = inf); a finite horizon "
                            "already ends every episode at H")
        L = int(mdp.horizon)  # type: ignore[arg-type]
    else:
        L = int(truncation) if truncation is not None else effective_horizon(mdp)
    pi = problem.policy.probs(problem.theta)
    ev = evaluate_finite(mdp, pi) if kind == "finite" else exact.evaluate(mdp, pi)
    grad = np.asarray(problem.policy.probs_vjp(problem.theta, ev.cotangent), dtype=np.float64)
    gamma = float(mdp.gamma)
    return ExactSetup(problem, kind, L, gamma, pi, score_table(problem), mdp.absorbing_states(), ev, grad,
                      gamma ** np.arange(L, dtype=np.float64))


def evaluate_finite(mdp: FiniteMDP, pi: np.ndarray) -> exact.Evaluation:
    """:func:`pgexp.exact.values.evaluate` for the finite objective (``H < inf``) with its loops over steps
    compiled (:func:`pgexp.exact.kernels.finite_evaluation`): the same numbers, bit for bit, ~100x faster on
    small problems, where scipy.sparse's call overhead dominates the loop (the sign-flip search evaluates 1200)."""
    from pgexp.exact import kernels

    H, S = int(mdp.horizon), mdp.num_states  # type: ignore[arg-type]
    keep = H * S <= exact.STORE_DIST_MAX
    pi = np.asarray(pi, dtype=np.float64)
    P = csr_arrays(mdp.P)
    V_steps, dist, visits, cot, Q0 = kernels.finite_evaluation(
        P, transpose_arrays(P, S), np.ascontiguousarray(mdp.r, dtype=np.float64),
        np.ascontiguousarray(mdp.mu, dtype=np.float64), np.ascontiguousarray(pi), float(mdp.gamma), H, keep)
    V0 = V_steps[0]
    occ = visits / visits.sum()
    return exact.Evaluation("finite", pi, V0, Q0, Q0 - V0[:, None], float(mdp.mu @ V0), visits, occ, cot, V_steps,
                            dist if keep else None)


def csr_arrays(M) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, indices, data)`` of a CSR matrix as int64, int64, float64 (what the compiled loops take)."""
    return (np.asarray(M.indptr, dtype=np.int64), np.asarray(M.indices, dtype=np.int64),
            np.asarray(M.data, dtype=np.float64))


def transpose_arrays(M: tuple[np.ndarray, np.ndarray, np.ndarray],
                     num_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`csr_arrays` of ``M^T`` from those of ``M`` -- the arrays of scipy's ``M.T.tocsr()``: row ``j`` of
    ``M^T`` lists the entries of column ``j`` by ascending row of ``M`` (a stable sort by column; the order in
    which scipy's ``x @ M`` and ``M.T @ x`` add their terms), without scipy's per-call overhead."""
    indptr, indices, data = M
    rows = np.repeat(np.arange(indptr.size - 1, dtype=np.int64), np.diff(indptr))
    order = np.argsort(indices, kind="stable")
    ptr = np.zeros(num_cols + 1, dtype=np.int64)
    np.cumsum(np.bincount(indices, minlength=num_cols), out=ptr[1:])
    return ptr, rows[order], data[order]


def load_value_table(path: str) -> np.ndarray:
    """A value table from ``PATH.npy`` (float64; its shape is checked by :meth:`ExactSetup.value_table`)."""
    from pathlib import Path

    p = Path(path)
    if p.suffix != ".npy" or not p.is_file():
        raise UserError(f"--value: {path!r} is not an existing .npy file")
    try:
        return np.load(p, allow_pickle=False).astype(np.float64)
    except (ValueError, OSError) as exc:
        raise UserError(f"--value {path}: cannot read a numeric array ({exc})") from None
