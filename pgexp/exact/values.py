"""Exact quantities of a tabular policy: V, Q, A, state distributions, occupancy, J, grad J, J*.

Three objectives, chosen by ``(gamma, horizon)`` of the MDP:

* ``finite``     -- ``H < inf``: ``J = E[sum_{h<H} gamma^h r_h]`` (gamma may be 1); values are
  time-indexed, ``V_h(s) = E[sum_{t=h}^{H-1} gamma^(t-h) r_t | s_h = s]``, by backward recursion.
* ``discounted`` -- ``H = inf, gamma < 1``: ``V = (I - gamma P_pi)^-1 r_pi`` by a linear solve.
* ``episodic``   -- ``H = inf, gamma = 1``: the same solve restricted to the transient states; allowed
  only when the policy reaches an absorbing state with probability one from every state it can visit.

The gradient is the policy-gradient theorem written as one vector-Jacobian product:
``grad J = sum_h gamma^h sum_s p_h(s) sum_a grad pi(a|s) A_h(s, a) = policy.probs_vjp(theta, C)`` with
``C[s, a] = sum_h gamma^h p_h(s) A_h(s, a)`` (for ``H = inf``: ``C = visits(s) A(s, a)``,
``visits = mu^T (I - gamma P_pi)^-1``).  Using ``A`` rather than ``Q`` is the same number (``sum_a
grad pi = 0``) with less cancellation.

Linear solves are one dense LU (LAPACK) for both ``V`` and the visits up to :data:`DENSE_MAX` states.
Beyond, the two are solved together by dual BiCG over a cache-blocked ``gamma P_pi`` built from ``P``
and ``pi`` without forming ``P_pi`` (:mod:`pgexp.exact.krylov`; a system BiCG cannot solve goes to GMRES,
then sparse LU), to normwise backward error ``KRYLOV_RTOL = 1e-13`` of the true residuals:
``||r_pi - M V||_inf <= 1e-13 (||r_pi||_inf + ||M||_inf ||V||_inf)`` and the same for the visits in the
1-norm (``||M^T||_1 = ||M||_inf``).  For ``M = I - gamma P_pi`` (``||M||_inf <= 1 + gamma``,
``||M^-1||_inf = ||M^-T||_1 <= 1 / (1 - gamma)``) that guarantees
``||V - V*||_inf <= 1e-13 (||r_pi||_inf + (1 + gamma) ||V||_inf) / (1 - gamma)`` and
``||visits - visits*||_1 <= 1e-13 (1 + (1 + gamma) ||visits||_1) / (1 - gamma)``; for the episodic
objective ``1 + gamma`` is 2 and ``1 / (1 - gamma)`` the longest expected episode.  Everything is float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pgexp.errors import UserError
from pgexp.policies.base import TabularPolicy
from pgexp.problems.mdp import FiniteMDP, objective_kind

# states; up to this, one dense LU (direct, nothing to converge; <= 12 ms a gradient).  BiCG is faster already
# from ~100 states on a garnet (0.9 against 5-12 ms at 500, measured) but iterates, so it waits for large problems.
DENSE_MAX = 500
KRYLOV_RTOL = 1e-13  # normwise backward error of each large solve (module docstring)
STORE_DIST_MAX = 10_000_000  # entries of the (H, S) per-step distribution kept in memory


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Exact evaluation of one policy.

    Attributes:
        objective: ``"finite"``, ``"discounted"`` or ``"episodic"``.
        pi: ``pi(a|s)``, ``(S, A)``.
        V, Q, A: values at ``h = 0`` (finite) or stationary values, ``(S,)``, ``(S, A)``, ``(S, A)``.
        J: ``mu . V``.
        visits: discounted expected visits ``sum_h gamma^h P(s_h = s)``, ``(S,)``.
        occupancy: ``visits`` normalised to sum to one, ``(S,)`` (``(1-gamma) visits`` when discounted).
        cotangent: ``C[s, a] = sum_h gamma^h p_h(s) A_h(s, a)``; ``grad J = probs_vjp(theta, C)``.
        V_steps: ``V_h`` for ``h = 0..H`` (finite only), ``(H+1, S)``; ``V_H = 0``.
        state_dist: ``P(s_h = s)`` for ``h < H`` (finite, when it fits in memory), ``(H, S)``.
    """

    objective: str
    pi: np.ndarray
    V: np.ndarray
    Q: np.ndarray
    A: np.ndarray
    J: float
    visits: np.ndarray
    occupancy: np.ndarray
    cotangent: np.ndarray
    V_steps: np.ndarray | None = None
    state_dist: np.ndarray | None = None

    def Q_step(self, mdp: FiniteMDP, h: int) -> np.ndarray:
        """``Q_h(s, a) = r(s, a) + gamma E[V_{h+1}(s')]`` for the finite objective, ``(S, A)``."""
        if self.V_steps is None:
            return self.Q
        return mdp.r + mdp.gamma * mdp.expected_next(self.V_steps[h + 1])


def policy_transition(mdp: FiniteMDP, pi: np.ndarray) -> sp.csr_array:
    """``P_pi[s, s'] = sum_a pi(a|s) P[s, a, s']`` as CSR ``(S, S)`` (canonical: sorted, no duplicates).

    Row ``s`` of ``P_pi`` is rows ``sA .. sA+A-1`` of ``P`` scaled by ``pi(.|s)``: the same index arrays,
    new weights, no sparse product.
    """
    S, A = pi.shape
    P = mdp.P
    data = P.data * np.repeat(pi.ravel(), np.diff(P.indptr))
    P_pi = sp.csr_array((data, P.indices.copy(), P.indptr[::A].copy()), shape=(S, S))
    P_pi.sum_duplicates()
    return P_pi


def push_forward(mdp: FiniteMDP, p: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """Next-step state distribution ``p P_pi`` without forming ``P_pi``: ``(S,) -> (S,)``."""
    return (p[:, None] * pi).ravel() @ mdp.P


def solve(M: sp.csr_array, b: np.ndarray, *, transpose: bool = False) -> np.ndarray:
    """Solve ``M x = b`` (or ``M^T x = b``): dense LAPACK when small, else BiCG to backward error
    :data:`KRYLOV_RTOL` (:func:`pgexp.exact.krylov.solve_pair` with ``K = I - M``)."""
    if M.shape[0] <= DENSE_MAX:
        return np.linalg.solve((M.T if transpose else M).toarray(), b)
    from pgexp.exact.krylov import blocked, solve_pair  # imported here: small problems (most jobs) skip numba

    K = blocked(sp.csr_array(sp.eye_array(M.shape[0], format="csr") - M), np.ones(M.shape[0]))
    sol = solve_pair(K, b, b, rtol=KRYLOV_RTOL)  # the other system is BiCG's shadow, here for free
    return sol.y if transpose else sol.x


def solve_both(Q: sp.csr_array, b: np.ndarray, c: np.ndarray, *, group: int = 1,
               weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``x = M^-1 b`` and ``y = M^-T c`` for ``M = I - K``, ``K[i // group, j] = sum_i weights[i] Q[i, j]``.

    ``Q`` is ``K`` itself (``group = 1``, ``weights`` ones by default) or the ``(S*A, S)`` transitions with
    ``weights = gamma pi`` and ``group = A`` (then ``K = gamma P_pi``, never formed when large).  Small:
    one LU factorisation serves both; large: dual BiCG (:func:`pgexp.exact.krylov.solve_pair`).
    """
    n = b.shape[0]
    w = np.ones(Q.shape[0]) if weights is None else weights
    if n == 0:
        return np.zeros(0), np.zeros(0)
    if n <= DENSE_MAX:
        import scipy.linalg as sla

        mix = sp.csr_array((w, (np.arange(Q.shape[0]) // group, np.arange(Q.shape[0]))), shape=(n, Q.shape[0]))
        lu = sla.lu_factor(np.eye(n) - (mix @ Q).toarray())
        return sla.lu_solve(lu, b), sla.lu_solve(lu, c, trans=1)
    from pgexp.exact.krylov import blocked, solve_pair  # imported here: small problems (most jobs) skip numba

    sol = solve_pair(blocked(Q, w, group), b, c, rtol=KRYLOV_RTOL)
    return sol.x, sol.y


def _reach(graph_T: sp.csr_array, seeds: np.ndarray) -> np.ndarray:
    """States from which some state in ``seeds`` is reachable, given the *transposed* graph."""
    import scipy.sparse.csgraph as csgraph

    n = graph_T.shape[0]
    if not seeds.any():
        return np.zeros(n, bool)
    # A super-source wired to every seed; BFS over reversed edges finds everything that reaches a seed.
    src = sp.csr_array((np.ones(int(seeds.sum())), (np.full(int(seeds.sum()), n), np.flatnonzero(seeds))),
                       shape=(n + 1, n + 1))
    aug = sp.block_array([[graph_T, None], [None, sp.csr_array((1, 1))]], format="csr") + src
    order = csgraph.breadth_first_order(aug, n, directed=True, return_predecessors=False)
    mask = np.zeros(n + 1, bool)
    mask[order] = True
    return mask[:n]


def terminating_states(mdp: FiniteMDP, P_pi: sp.csr_array) -> tuple[np.ndarray, np.ndarray]:
    """``(good, absorbing)``: states from which ``pi`` ends in an absorbing state with probability one."""
    absorbing = mdp.absorbing_states()
    graph_T = sp.csr_array((P_pi > 0).T.astype(np.float64))
    can_end = _reach(graph_T, absorbing)
    bad = _reach(graph_T, ~can_end)  # reaching a state that cannot end is a positive-probability trap
    return ~bad, absorbing


def _episodic_check(mdp: FiniteMDP, good: np.ndarray, absorbing: np.ndarray) -> None:
    if not absorbing.any():
        raise UserError(
            f"gamma = 1 with an infinite horizon needs an episodic problem, but {mdp.name or 'this MDP'} has no "
            "absorbing zero-reward state; give --horizon H or --gamma < 1"
        )
    stuck = (mdp.mu > 0) & ~good
    if stuck.any():
        raise UserError(
            f"gamma = 1 with an infinite horizon: from start state {int(np.argmax(stuck))} the policy does not "
            "terminate with probability one (it can reach states that never reach an absorbing state); "
            "give --horizon H or --gamma < 1"
        )


MAX_EPISODE_LENGTH = 1e9  # expected steps; beyond, (I - P_pi) is too ill-conditioned for float64


def _check_conditioning(visits: np.ndarray, values: np.ndarray) -> None:
    """Refuse an episodic solve whose policy (nearly) never terminates.

    A policy with ``pi(a|s) = 1 - 1e-17`` terminates in theory, but the expected episode length (the
    sum of expected visits, also the condition scale of ``I - P_pi``) is astronomical and float64
    returns garbage -- e.g. a positive J from negative rewards.  Such a policy is refused by name.
    """
    length = visits.sum()
    if not np.isfinite(length) or length > MAX_EPISODE_LENGTH or visits.min() < -1e-9 * max(length, 1.0) \
            or not np.all(np.isfinite(values)):
        raise UserError(
            f"gamma = 1 with an infinite horizon: the policy (nearly) never terminates (expected episode length "
            f"{length:.3g} steps > {MAX_EPISODE_LENGTH:.0e}); give --horizon H or --gamma < 1"
        )


def evaluate(mdp: FiniteMDP, pi: np.ndarray) -> Evaluation:
    """Exact values, distributions and the gradient cotangent of the policy table ``pi`` ``(S, A)``."""
    kind = objective_kind(mdp)
    S, A = pi.shape
    gamma = mdp.gamma
    if kind == "finite":
        H = int(mdp.horizon)  # type: ignore[arg-type]
        V_steps = np.zeros((H + 1, S))
        for h in range(H - 1, -1, -1):
            Qh = mdp.r + gamma * mdp.expected_next(V_steps[h + 1])
            V_steps[h] = np.einsum("sa,sa->s", pi, Qh)
        keep = H * S <= STORE_DIST_MAX
        state_dist = np.empty((H, S)) if keep else None
        p = mdp.mu.copy()
        visits = np.zeros(S)
        cot = np.zeros((S, A))
        disc = 1.0
        for h in range(H):
            if keep:
                state_dist[h] = p  # type: ignore[index]
            Qh = mdp.r + gamma * mdp.expected_next(V_steps[h + 1])
            cot += (disc * p)[:, None] * (Qh - V_steps[h][:, None])
            visits += disc * p
            p = push_forward(mdp, p, pi)
            disc *= gamma
        Q0 = mdp.r + gamma * mdp.expected_next(V_steps[1])
        V0 = V_steps[0]
        occ = visits / visits.sum()
        return Evaluation(kind, pi, V0, Q0, Q0 - V0[:, None], float(mdp.mu @ V0), visits, occ, cot, V_steps, state_dist)

    r_pi = np.einsum("sa,sa->s", pi, mdp.r)
    if kind == "discounted":
        V, visits = solve_both(mdp.P, r_pi, mdp.mu, group=A, weights=gamma * pi.ravel())
        occ = (1.0 - gamma) * visits
        Q = mdp.r + gamma * mdp.expected_next(V)
        Adv = Q - V[:, None]
        return Evaluation(kind, pi, V, Q, Adv, float(mdp.mu @ V), visits, occ, visits[:, None] * Adv)
    # episodic: solve on the transient states that terminate surely
    P_pi = policy_transition(mdp, pi)
    good, absorbing = terminating_states(mdp, P_pi)
    _episodic_check(mdp, good, absorbing)
    idx = np.flatnonzero(good & ~absorbing)
    V = np.where(good, 0.0, np.nan)
    visits = np.zeros(S)
    V[idx], visits[idx] = solve_both(sp.csr_array(P_pi[idx][:, idx]), r_pi[idx], mdp.mu[idx])
    _check_conditioning(visits, V[idx])
    occ = visits / visits.sum()
    Q = mdp.r + gamma * mdp.expected_next(np.nan_to_num(V, nan=0.0))
    Q[~np.isfinite(V)] = np.nan
    Adv = Q - V[:, None]
    cot = visits[:, None] * np.nan_to_num(Adv, nan=0.0)
    return Evaluation(kind, pi, V, Q, Adv, float(mdp.mu @ np.nan_to_num(V, nan=0.0)), visits, occ, cot)


def gradient(mdp: FiniteMDP, policy: TabularPolicy, theta: np.ndarray) -> tuple[float, np.ndarray, Evaluation]:
    """``(J, grad J, evaluation)`` at ``theta``; ``grad J`` has shape ``(policy.dim,)``."""
    ev = evaluate(mdp, policy.probs(theta))
    grad = policy.probs_vjp(theta, ev.cotangent)
    return ev.J, np.asarray(grad, dtype=np.float64), ev


def J(mdp: FiniteMDP, policy: TabularPolicy, theta: np.ndarray) -> float:
    """The objective ``J(theta)`` alone."""
    return evaluate(mdp, policy.probs(theta)).J


# --------------------------------------------------------------------------- optimal values

@dataclass(frozen=True)
class Optimum:
    """``J*`` over *all* policies, the optimal values ``V*`` (at ``h = 0``) and a greedy policy."""

    J_star: float
    V_star: np.ndarray
    policy: np.ndarray  # (S,) greedy actions (at h = 0 for the finite objective)
    method: str


def _deterministic(mdp: FiniteMDP, actions: np.ndarray) -> np.ndarray:
    pi = np.zeros((mdp.num_states, mdp.num_actions))
    pi[np.arange(mdp.num_states), actions] = 1.0
    return pi


def _greedy(Q: np.ndarray, previous: np.ndarray | None, tol: float = 1e-12) -> np.ndarray:
    """Argmax actions, keeping the previous action on (near) ties so policy iteration cannot cycle."""
    best = Q.argmax(axis=1)
    if previous is None:
        return best
    keep = Q[np.arange(Q.shape[0]), previous] >= Q[np.arange(Q.shape[0]), best] - tol * (1 + np.abs(Q).max(axis=1))
    return np.where(keep, previous, best)


def optimal(mdp: FiniteMDP, *, max_iter: int = 10_000) -> Optimum:
    """``J*`` by backward induction (finite H), policy iteration (discounted) or value iteration
    polished by an exact solve (episodic)."""
    kind = objective_kind(mdp)
    gamma = mdp.gamma
    if kind == "finite":
        V = np.zeros(mdp.num_states)
        for _ in range(int(mdp.horizon)):  # type: ignore[arg-type]
            Q = mdp.r + gamma * mdp.expected_next(V)
            V = Q.max(axis=1)
        return Optimum(float(mdp.mu @ V), V, Q.argmax(axis=1), "backward induction")
    if kind == "discounted":
        actions = _greedy(mdp.r, None)
        for _ in range(max_iter):
            V = evaluate(mdp, _deterministic(mdp, actions)).V
            new = _greedy(mdp.r + gamma * mdp.expected_next(V), actions)
            if np.array_equal(new, actions):
                return Optimum(float(mdp.mu @ V), V, actions, "policy iteration")
            actions = new
        raise RuntimeError("policy iteration did not converge")  # pragma: no cover - finite for finite MDPs
    # episodic: value iteration to a fixed point, then the greedy policy's exact value if it terminates
    if not mdp.absorbing_states().any():
        _episodic_check(mdp, np.ones(mdp.num_states, bool), mdp.absorbing_states())
    V = np.zeros(mdp.num_states)
    scale = 1.0 + np.abs(mdp.r).max()
    stopped = True  # at a fixed point, or diverging: the checks below tell which
    for _ in range(200_000):
        V_new = (mdp.r + mdp.expected_next(V)).max(axis=1)
        delta = np.abs(V_new - V).max()
        V = V_new
        if delta <= 1e-14 * scale * max(1.0, np.abs(V).max()):
            break
        if not np.isfinite(delta) or np.abs(V).max() > 1e15:
            break
    else:
        stopped = False
    if not stopped or not np.all(np.isfinite(V)) or np.abs(V).max() > 1e15:
        raise UserError("J*: value iteration does not converge for gamma = 1, H = inf (some policy never terminates "
                        "and collects unbounded reward); give --horizon H or --gamma < 1")
    actions = (mdp.r + mdp.expected_next(V)).argmax(axis=1)
    try:
        exact = evaluate(mdp, _deterministic(mdp, actions))
        if np.allclose(exact.V, V, rtol=1e-9, atol=1e-9):
            return Optimum(exact.J, exact.V, actions, "value iteration + exact evaluation")
    except UserError:
        pass  # the greedy policy does not terminate surely: keep the value-iteration fixed point
    return Optimum(float(mdp.mu @ V), V, actions, "value iteration")
