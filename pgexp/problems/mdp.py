"""The finite MDP every tabular computation works on.

``P`` is stored as a CSR matrix of shape ``(S*A, S)``: row ``s*A + a`` is the next-state distribution
of ``(s, a)``.  That one layout serves tiny problems and garnets with 10^5 states alike, and
``P @ V`` gives the expected next value of every state-action pair in one sparse product.
Episode end is an absorbing zero-reward state.

**Internal states.** A problem may add states of its own that the source problem does not have --
Gymnasium's toy-text tasks get one absorbing state that every *terminated* transition enters.  They
are the last ``num_internal`` states.  The exact and sampling code uses them like any other state (that
is what makes episode ends exact), but they are not the user's: tabular features give them no
parameters (FrozenLake 4x4 has 16 x 4, as in Gymnasium), and reports drop them
(:attr:`FiniteMDP.num_exposed`).  No action is ever taken in an absorbing state, so ``J`` and
``grad J`` do not depend on its parameters (``tests/problems/test_envs.py`` checks they are unchanged).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pgexp.errors import UserError

ROW_SUM_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class FiniteMDP:
    """A finite MDP ``(P, r, mu, gamma, H)`` in float64.

    Attributes:
        P: transition matrix, CSR of shape ``(S*A, S)``; row ``s*A+a`` sums to one.
        r: expected reward ``r[s, a]``, shape ``(S, A)``.
        mu: initial-state distribution, shape ``(S,)``.
        gamma: discount factor in ``[0, 1]``.
        horizon: number of steps ``H``, or ``None`` for the infinite-horizon objective.
        phi: features the problem brings (``(S, A, d)``), or ``None`` (tabular by default).
        name: the canonical spec string the MDP was built from.
        state_labels: optional human-readable names of the states.
        num_internal: how many of the last states are pgexp's own (see the module docstring).
    """

    P: sp.csr_array
    r: np.ndarray
    mu: np.ndarray
    gamma: float = 1.0
    horizon: int | None = None
    phi: np.ndarray | None = None
    name: str = ""
    state_labels: tuple[str, ...] | None = None
    num_internal: int = 0

    def __post_init__(self) -> None:
        validate(self.P, self.r, self.mu, self.gamma, self.horizon, self.phi)
        if not 0 <= self.num_internal < self.num_states:
            raise UserError(f"num_internal: {self.num_internal}; allowed: 0 <= num_internal < {self.num_states} states")

    @property
    def num_states(self) -> int:
        """All states, internal ones included (what the exact and sampling code works on)."""
        return self.r.shape[0]

    @property
    def num_exposed(self) -> int:
        """The source problem's states (the first ``num_exposed``): what features and reports see."""
        return self.r.shape[0] - self.num_internal

    @property
    def num_actions(self) -> int:
        return self.r.shape[1]

    @property
    def dense_P(self) -> np.ndarray:
        """``P`` as a dense ``(S, A, S)`` array (small problems only)."""
        S, A = self.r.shape
        return self.P.toarray().reshape(S, A, S)

    def replace(self, **changes) -> FiniteMDP:
        """A copy with some fields changed (e.g. ``gamma``, ``horizon``)."""
        return dataclasses.replace(self, **changes)

    def absorbing_states(self) -> np.ndarray:
        """Boolean mask ``(S,)`` of zero-reward states that every action maps to themselves."""
        S, A = self.r.shape
        rows = np.arange(S * A)
        self_prob = np.asarray(self.P[rows, np.repeat(np.arange(S), A)]).reshape(S, A)
        return np.all(self_prob >= 1.0 - ROW_SUM_TOL, axis=1) & np.all(self.r == 0.0, axis=1)

    def expected_next(self, values: np.ndarray) -> np.ndarray:
        """``sum_s' P[s,a,s'] values[s']`` as ``(S, A)`` (or ``(S, A, k)`` for ``values`` of shape ``(S, k)``)."""
        S, A = self.r.shape
        out = self.P @ values
        return out.reshape((S, A, *values.shape[1:]))


def objective_kind(mdp: FiniteMDP) -> str:
    """The objective ``(gamma, horizon)`` defines: ``"finite"`` (``H < inf``, ``gamma`` may be 1),
    ``"discounted"`` (``H = inf, gamma < 1``) or ``"episodic"`` (``H = inf, gamma = 1``: episodes end in an
    absorbing state); :mod:`pgexp.exact.values` derives each one's values."""
    if mdp.horizon is not None:
        return "finite"
    return "discounted" if mdp.gamma < 1.0 else "episodic"


def as_csr(P: np.ndarray | sp.sparray | sp.spmatrix, num_states: int, num_actions: int) -> sp.csr_array:
    """Accept ``(S, A, S)`` dense or ``(S*A, S)`` dense/sparse transitions; return CSR ``(S*A, S)``."""
    if sp.issparse(P):
        csr = sp.csr_array(P, dtype=np.float64)
    else:
        arr = np.asarray(P, dtype=np.float64)
        csr = sp.csr_array(arr.reshape(num_states * num_actions, num_states))
    csr.sum_duplicates()
    csr.eliminate_zeros()
    return csr


def _first_bad(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _check_shapes(P: sp.csr_array, r: np.ndarray) -> tuple[int, int]:
    """Check that ``r`` is ``(S, A)`` with ``S, A >= 1`` and ``P`` is ``(S*A, S)`` to match; return ``(S, A)``."""
    if r.ndim != 2:
        raise UserError(f"field 'r': expected shape (S, A), got {r.shape}")
    S, A = r.shape
    if S < 1 or A < 1:
        raise UserError(f"field 'r': need at least one state and one action, got shape {r.shape}")
    if P.shape != (S * A, S):
        raise UserError(f"field 'P': expected shape (S, A, S) = ({S}, {A}, {S}) to match 'r', got {P.shape}")
    return S, A


def _check_transitions(P: sp.csr_array, num_actions: int) -> None:
    """Check that the CSR ``(S*A, S)`` transitions are finite probabilities in [0, 1] whose rows sum to 1."""
    data = P.data
    if not np.all(np.isfinite(data)):
        raise UserError("field 'P': non-finite value; probabilities must be finite numbers in [0, 1]")
    if np.any((data < 0) | (data > 1)):
        coo = P.tocoo()
        k = int(np.argmax((coo.data < 0) | (coo.data > 1)))
        s, a = divmod(int(coo.row[k]), num_actions)
        raise UserError(
            f"field 'P': value {coo.data[k]:.6g} at index ({s}, {a}, {int(coo.col[k])}); "
            "probabilities must lie in [0, 1]"
        )
    sums = np.asarray(P.sum(axis=1)).ravel()
    bad = np.abs(sums - 1.0) > ROW_SUM_TOL
    if np.any(bad):
        row = int(np.argmax(bad))
        s, a = divmod(row, num_actions)
        raise UserError(
            f"field 'P': row ({s}, {a}, :) sums to {sums[row]:.12g}; each P[s, a, :] must sum to 1 "
            f"(tolerance {ROW_SUM_TOL:g})"
        )


def _check_start(mu: np.ndarray, num_states: int) -> None:
    """Check that the start distribution ``mu`` is a probability vector of shape ``(S,)``."""
    if mu.shape != (num_states,):
        raise UserError(f"field 'mu': expected shape ({num_states},), got {mu.shape}")
    if not np.all(np.isfinite(mu)) or np.any((mu < 0) | (mu > 1)):
        i = _first_bad(~np.isfinite(mu) | (mu < 0) | (mu > 1))
        raise UserError(f"field 'mu': value {mu[i]} at index {i}; probabilities must lie in [0, 1]")
    if abs(mu.sum() - 1.0) > ROW_SUM_TOL:
        raise UserError(f"field 'mu': sums to {mu.sum():.12g}; must sum to 1 (tolerance {ROW_SUM_TOL:g})")


def _check_features(phi: np.ndarray, num_states: int, num_actions: int) -> None:
    """Check that native features ``phi`` are finite with shape ``(S, A, d)``."""
    if phi.ndim != 3 or phi.shape[:2] != (num_states, num_actions):
        raise UserError(f"field 'phi': expected shape (S, A, d) = ({num_states}, {num_actions}, d), got {phi.shape}")
    if not np.all(np.isfinite(phi)):
        raise UserError(f"field 'phi': non-finite value at index {_first_bad(~np.isfinite(phi))}")


# |r| at most this: a return sums up to 1e5 rewards, a variance squares it and sums over coordinates, all in
# float64 (max 1.8e308), so 1e100 leaves a wide margin and no real problem near it
REWARD_LIMIT = 1e100


def validate(
    P: sp.csr_array,
    r: np.ndarray,
    mu: np.ndarray,
    gamma: float,
    horizon: int | None,
    phi: np.ndarray | None = None,
) -> None:
    """Check shapes, finiteness and probabilities; raise :class:`UserError` naming field and index.

    The checks run in a fixed order (shapes, rewards, transitions, start distribution, gamma, horizon,
    features), so a file with several mistakes always reports the same one first.
    """
    S, A = _check_shapes(P, r)
    if not np.all(np.isfinite(r)):
        raise UserError(f"field 'r': non-finite value at index {_first_bad(~np.isfinite(r))}; all must be finite")
    if np.any(np.abs(r) > REWARD_LIMIT):
        i = _first_bad(np.abs(r) > REWARD_LIMIT)
        raise UserError(f"field 'r': {r[i]:g} at index {i}; allowed: |r| <= {REWARD_LIMIT:g} (returns, their squares "
                        "and variances must stay finite in float64)")
    _check_transitions(P, A)
    _check_start(mu, S)
    if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and 0.0 <= gamma <= 1.0):
        raise UserError(f"field 'gamma': {gamma!r}; allowed: a number in [0, 1]")
    if horizon is not None and (not isinstance(horizon, (int, np.integer)) or horizon < 1):
        raise UserError(f"field 'horizon': {horizon!r}; allowed: a positive integer or inf")
    if phi is not None:
        _check_features(phi, S, A)


def make_mdp(
    P: np.ndarray | sp.sparray,
    r: np.ndarray,
    mu: np.ndarray,
    *,
    gamma: float = 1.0,
    horizon: int | None = None,
    phi: np.ndarray | None = None,
    name: str = "",
    state_labels: tuple[str, ...] | None = None,
    num_internal: int = 0,
) -> FiniteMDP:
    """Build a validated :class:`FiniteMDP` from dense ``(S, A, S)`` or sparse ``(S*A, S)`` transitions."""
    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 2:
        raise UserError(f"field 'r': expected shape (S, A), got {r.shape}")
    S, A = r.shape
    if not sp.issparse(P):
        Pd = np.asarray(P, dtype=np.float64)
        if Pd.shape != (S, A, S):
            raise UserError(f"field 'P': expected shape (S, A, S) = ({S}, {A}, {S}) to match 'r', got {Pd.shape}")
    return FiniteMDP(
        P=as_csr(P, S, A),
        r=r,
        mu=np.asarray(mu, dtype=np.float64).reshape(-1),
        gamma=float(gamma),
        horizon=None if horizon is None else int(horizon),
        phi=None if phi is None else np.asarray(phi, dtype=np.float64),
        name=name,
        state_labels=state_labels,
        num_internal=int(num_internal),
    )
