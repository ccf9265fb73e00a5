"""Exact decomposition of an estimator's variance by source: states visited vs actions taken.

For a single-trajectory estimate ``g`` of a trajectory ``tau = (S, A)`` with state sequence
``S = (s_0, s_1, ..., s_L)`` and actions ``A = (a_0, ..., a_{L-1})`` the law of total variance gives

    tr Cov(g) = tr Cov(E[g | S]) + E[tr Cov(g | S)]
              =   state variance  +   action variance

in the spirit of Tucker et al. (2018), "The Mirage of Action-Dependent Baselines": the first term
is what the states visited explain, the second what the actions add once the states are known.

``S`` is the *whole* state sequence, including the state the episode stops in (the absorbing state
reached at ``L < H``, or ``s_H`` at the horizon): those are all the states a sampler visits.  So
with deterministic transitions in which distinct actions lead to distinct states the states reveal
the actions and the action variance is 0; when every action leads to the same state (a bandit, or a
chain with action-independent moves) ``S`` is deterministic and the state variance is 0.

Both terms are computed *exactly*: every trajectory is enumerated with its probability (as
:func:`pgexp.exact_variance.enumerate_moments`, zero-probability branches pruned), its per-trajectory
gradient is evaluated with the same estimator formulas, and trajectories are grouped by ``S``:

    state  = sum_k P_k ||m_k - E g||^2,        m_k = E[g | S = S_k],  P_k = P(S = S_k)
    action = sum_i p_i ||g_i - m_{k(i)}||^2

both as sums of non-negative terms (no cancellation); ``total`` is their sum, and agrees with
:func:`pgexp.exact_variance.exact_variance`'s ``trace_cov`` to round-off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from pgexp.errors import UserError
from pgexp.exact.moments import (
    _CHUNK,
    MAX_TRAJECTORIES,
    _check,
    _enumerate_paths,
    _gradients,
    _resolve_constant,
    _Setup,
    _setup,
    _weights_literal,
)
from pgexp.problems.problem import Problem

if TYPE_CHECKING:
    import pandas as pd

VALUES = ("total", "state", "action", "state_share", "n_trajectories", "n_state_sequences")


def _enumerate_with_final(st: _Setup, max_trajectories: int):
    """Every trajectory with the state it stops in (see :func:`pgexp.exact_variance._enumerate_paths`)."""
    try:
        return _enumerate_paths(st, max_trajectories, with_final=True)
    except UserError as exc:
        raise UserError(str(exc).replace("exact variance", "variance decomposition").replace("; use method='dp'", "")) from None


def _gradient_blocks(st: _Setup, states, actions, lengths, probs, estimator: str, baseline: str,
                     c: float | None) -> Callable[[], Iterator[tuple[slice, np.ndarray]]]:
    """A re-iterable source of ``(slice, g)`` blocks of per-trajectory gradients (``optimal``:
    ``u - b (.) v`` with the exact ``b_k``, as :func:`pgexp.exact_variance.enumerate_moments`).
    Blockwise, so ``N x d`` never needs to fit in memory at once."""

    def raw() -> Iterator[tuple[slice, object]]:
        for i in range(0, probs.size, _CHUNK):
            sl = slice(i, i + _CHUNK)
            w = _weights_literal(st, states[sl], actions[sl], lengths[sl], estimator, baseline, c)
            if isinstance(w, tuple):
                yield sl, tuple(_gradients(st, states[sl], actions[sl], x) for x in w)
            else:
                yield sl, _gradients(st, states[sl], actions[sl], w)

    bk = None
    if baseline == "optimal":  # Greensmith et al.'s b_k = E[u_k v_k] / E[v_k^2]
        num = den = 0.0
        for sl, (u, v) in raw():  # type: ignore[misc]
            num = num + probs[sl] @ (u * v)
            den = den + probs[sl] @ (v * v)
        num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
        bk = np.divide(num, den, out=np.zeros_like(num), where=den > 0)

    def blocks() -> Iterator[tuple[slice, np.ndarray]]:
        for sl, g in raw():
            yield sl, (g[0] - bk[None, :] * g[1]) if bk is not None else g  # type: ignore[index]

    return blocks


def _sequence_ids(states: np.ndarray, lengths: np.ndarray, final: np.ndarray, num_states: int) -> np.ndarray:
    """Group id of each trajectory's state sequence ``(s_0, ..., s_{L-1}, s_L)`` (padding -> -1)."""
    N, H = states.shape
    keys = np.where(np.arange(H)[None, :] < lengths[:, None], states, -1)
    keys = np.concatenate([keys, final[:, None]], axis=1) + 1          # values in [0, S]
    base = num_states + 1
    if (H + 1) * np.log2(base) < 62:                                   # fits one int64: mixed radix
        code = np.zeros(N, np.int64)
        for j in range(H + 1):
            code = code * base + keys[:, j]
        return np.unique(code, return_inverse=True)[1].reshape(-1)
    return np.unique(keys, axis=0, return_inverse=True)[1].reshape(-1)


def variance_decomposition(problem: Problem, estimator: str, baseline: str = "none", constant: float | None = None,
                           max_trajectories: int = MAX_TRAJECTORIES) -> dict:
    """Exact ``tr Cov(g) = state + action`` of the per-trajectory estimate (see the module docstring).

    ``estimator``/``baseline``/``constant`` as :func:`pgexp.exact_variance.exact_variance` (reinforce,
    reward_to_go with none/value_exact/constant/optimal; advantage_exact with none).  Needs a finite
    horizon and at most ``max_trajectories`` trajectories (else :class:`~pgexp.errors.UserError`).
    Returns ``{total, state, action, state_share, n_trajectories, n_state_sequences}``;
    ``state_share = state / total`` (NaN when ``total = 0``).
    """
    _check(estimator, baseline)
    st = _setup(problem)
    c = _resolve_constant(st, baseline, constant)
    states, actions, lengths, probs, final = _enumerate_with_final(st, max_trajectories)
    blocks = _gradient_blocks(st, states, actions, lengths, probs, estimator, baseline, c)
    ids = _sequence_ids(states, lengths, final, st.mdp.num_states)
    K, d = int(ids.max()) + 1, st.dim
    mean = sum(probs[sl] @ g for sl, g in blocks())
    P = np.bincount(ids, weights=probs, minlength=K)
    sums = np.zeros((K, d))                                            # sum_{i in k} p_i (g_i - E g)
    for sl, g in blocks():
        flat = (ids[sl, None] * d + np.arange(d)[None, :]).ravel()
        sums += np.bincount(flat, weights=(probs[sl, None] * (g - mean)).ravel(), minlength=K * d).reshape(K, d)
    m = np.divide(sums, P[:, None], out=np.zeros_like(sums), where=P[:, None] > 0)   # E[g | S_k] - E g
    state = float(P @ np.einsum("kd,kd->k", m, m))
    action = 0.0
    for sl, g in blocks():
        within = g - mean - m[ids[sl]]
        action += float(probs[sl] @ np.einsum("nd,nd->n", within, within))
    total = state + action
    return {"total": total, "state": state, "action": action,
            "state_share": state / total if total > 0 else float("nan"),
            "n_trajectories": int(probs.size), "n_state_sequences": K}


def _pair(p: str | tuple[str, str]) -> tuple[str, str]:
    if isinstance(p, str):
        est, _, base = p.partition("~")
        return est, base or "none"
    est, base = p
    return str(est), str(base)


def decomposition_table(problem_builder: Callable[[int], Problem], horizons: Sequence[int],
                        pairs: Sequence[str | tuple[str, str]], *, constant: float | None = None,
                        max_trajectories: int = MAX_TRAJECTORIES) -> "pd.DataFrame":
    """One row per horizon x ``(estimator, baseline)`` (``pairs``: tuples or ``"estimator~baseline"``).

    Columns: ``horizon, estimator, baseline`` + :data:`VALUES` + ``skipped_reason`` (``None`` when
    computed).  A horizon with more than ``max_trajectories`` trajectories (or an infinite one) is not
    enumerated: its rows have NaN values and the reason.
    """
    import pandas as pd

    from pgexp.exact.moments import count_trajectories

    combos = [_pair(p) for p in pairs]
    for est, base in combos:
        _check(est, base)
    rows = []
    for H in horizons:
        problem = problem_builder(H)
        reason = None
        if problem.mdp.horizon is None:
            reason = "infinite horizon: exact enumeration needs a finite H"
        else:
            n = count_trajectories(problem, max_trajectories)
            if n > max_trajectories:
                reason = f"more than {max_trajectories} trajectories to enumerate (at least {n:.3g})"
        h = -1 if problem.mdp.horizon is None else int(problem.mdp.horizon)
        for est, base in combos:
            row: dict = {"horizon": h, "estimator": est, "baseline": base}
            if reason is None:
                row.update(variance_decomposition(problem, est, base, constant, max_trajectories))
            else:
                row.update({k: float("nan") for k in VALUES})
            row["skipped_reason"] = reason
            rows.append(row)
    out = pd.DataFrame(rows, columns=["horizon", "estimator", "baseline", *VALUES, "skipped_reason"])
    for k in ("n_trajectories", "n_state_sequences"):
        out[k] = out[k].astype("float64") if out[k].isna().any() else out[k].astype("int64")
    return out
