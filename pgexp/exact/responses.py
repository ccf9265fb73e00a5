r"""Every response to every prompt, with its probability, reward, length and score: the group engine's input.

A *prompt* is an initial state ``x`` (``mu(x) > 0``), a *response* ``o`` a whole episode from it: the path
``(s_0 = x, a_0, s_1, ..., a_{|o|-1})`` to absorption or to the horizon, ``|o|`` its number of actions (the
end-of-sequence action included), ``r(o) = G_0`` its reward (the return) and ``psi(o) = sum_t grad log
pi(a_t | s_t)`` its score.  Its probability given the prompt is ``pi(o | x) = prod_t pi(a_t | s_t) P(s_{t+1} |
s_t, a_t)``.  On a tree MDP (``tokens:``) responses and paths are the same thing.

The paths depend on the MDP only (every action's branches are listed, whatever the policy), so
:class:`ResponseTree` enumerates them once; :meth:`ResponseTree.at` gives a policy's probabilities and scores
in one gather -- what a training loop that tracks exact response statistics needs at every iteration.

**Response statistics and their gradients.**  With ``c(o) = 1{r(o) = r_max}`` ("correct": the best reward any
response gets, 1 on a 0/1 task) and ``w = 1 - c`` ("wrong"), every expectation ``F = E[f(o)] = sum_x mu(x) sum_o
pi(o | x) f(o)`` of a fixed function ``f`` has the score-function gradient ``grad F = E[f(o) psi(o)]`` (exact
here: a finite sum).  So ``P(correct)``, ``E[|o| 1{wrong}]`` and their gradients are sums over responses, and the
conditional mean lengths follow by the quotient rule::

    E[|o| | wrong] = E[|o| w] / E[w],    grad E[|o| | wrong] = (E[|o| w psi] - E[|o| | wrong] E[w psi]) / E[w].

A step ``theta + eta u`` changes ``F`` by ``eta <u, grad F> + O(eta^2)``: :mod:`pgexp.exact.groups` reports
``<E ĝ, grad F>`` for every estimator, the length bias as a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from pgexp.errors import UserError
from pgexp.problems.mdp import objective_kind
from pgexp.sampling.tabular import effective_horizon

MAX_RESPONSES = 1_000_000


@dataclass(frozen=True, eq=False)
class ResponseTree:
    """The responses of a problem's MDP (policy-free).

    Attributes:
        states, actions: ``(n, L)`` int64, padded with 0 after ``lengths``.
        lengths: ``(n,)`` actions taken ``|o|``.
        prompt: ``(n,)`` the prompt (initial state) of each response.
        trans: ``(n,)`` ``prod_t P(s_{t+1} | s_t, a_t)`` (1 on a deterministic MDP).
        rewards: ``(n,)`` ``r(o) = sum_t gamma^t r(s_t, a_t)``.
        final: ``(n,)`` the state each response stops in.
        prompts: ``(K,)`` the prompts, ascending; ``mu``: ``(K,)`` their probabilities.
    """

    states: np.ndarray
    actions: np.ndarray
    lengths: np.ndarray
    prompt: np.ndarray
    trans: np.ndarray
    rewards: np.ndarray
    final: np.ndarray
    prompts: np.ndarray
    mu: np.ndarray

    @property
    def num(self) -> int:
        return int(self.lengths.size)

    @cached_property
    def mask(self) -> np.ndarray:
        return np.arange(self.states.shape[1])[None, :] < self.lengths[:, None]

    @cached_property
    def prompt_index(self) -> np.ndarray:
        """``(n,)`` each response's prompt as an index into :attr:`prompts`."""
        return np.searchsorted(self.prompts, self.prompt)

    def probs(self, pi: np.ndarray) -> np.ndarray:
        """``(n,)`` ``pi(o | x)``: each response's probability given its prompt."""
        p = np.where(self.mask, pi[self.states, self.actions], 1.0)
        return self.trans * np.prod(p, axis=1)

    def scores(self, sigma: np.ndarray) -> np.ndarray:
        """``(n, d)`` ``psi(o) = sum_t sigma[s_t, a_t]`` for a score table ``sigma`` ``(S, A, d)``."""
        out = np.zeros((self.num, sigma.shape[2]))
        for t in range(self.states.shape[1]):
            live = np.flatnonzero(self.mask[:, t])
            out[live] += sigma[self.states[live, t], self.actions[live, t]]
        return out

    def at(self, problem, theta: np.ndarray | None = None) -> Responses:
        """The responses under ``problem``'s policy at ``theta`` (default: the problem's own)."""
        from pgexp.exact.model import score_table

        th = problem.theta if theta is None else np.asarray(theta, dtype=np.float64)
        pi = problem.policy.probs(th)
        sigma = score_table(problem if theta is None else _at(problem, th))
        return Responses(self, self.probs(pi), self.scores(sigma))


def _at(problem, theta: np.ndarray):
    import dataclasses

    return dataclasses.replace(problem, theta=theta)


def enumerate_responses(mdp, max_responses: int = MAX_RESPONSES) -> ResponseTree:
    """Every path of ``mdp`` from every prompt, to absorption or to the horizon (finite, or episodic problems whose
    every path ends within ``max_responses`` paths; a path that does not end is refused)."""
    kind = objective_kind(mdp)
    if kind == "discounted":
        raise UserError("group estimators: a response is an episode; the discounted objective (H = inf, gamma < 1) "
                        "has none -- give a finite --horizon")
    L = int(mdp.horizon) if kind == "finite" else effective_horizon(mdp)
    _S, A = mdp.num_states, mdp.num_actions
    absorbing = mdp.absorbing_states()
    P = mdp.P.tocsr()
    start = np.flatnonzero(mdp.mu > 0)
    cur, trans, rew = start.astype(np.int64), np.ones(start.size), np.zeros(start.size)
    first = cur.copy()
    S_hist = np.zeros((cur.size, 0), np.int64)
    A_hist = np.zeros((cur.size, 0), np.int64)
    done: list[tuple] = []
    disc = 1.0
    for h in range(L + 1):
        ended = absorbing[cur] if h < L else np.ones(cur.size, bool)
        if ended.any():
            pad = L - S_hist.shape[1]
            done.append((np.pad(S_hist[ended], ((0, 0), (0, pad))), np.pad(A_hist[ended], ((0, 0), (0, pad))),
                         np.full(int(ended.sum()), h), first[ended], trans[ended], rew[ended], cur[ended]))
        live = ~ended
        if not live.any() or h == L:
            break
        cur, trans, rew, first = cur[live], trans[live], rew[live], first[live]
        S_hist, A_hist = S_hist[live], A_hist[live]
        # every action, then every positive-probability next state of (s, a)
        rows = cur[:, None] * A + np.arange(A)[None, :]                      # (m, A)
        counts = (P.indptr[rows + 1] - P.indptr[rows]).ravel()
        parent = np.repeat(np.arange(cur.size * A), counts)
        if parent.size + sum(len(d[3]) for d in done) > max_responses:
            raise UserError(f"group estimators: more than {max_responses:.0e} responses to enumerate; give a smaller "
                            "problem or horizon")
        local = np.arange(parent.size) - np.repeat(np.cumsum(counts) - counts, counts)
        entry = P.indptr[rows.ravel()[parent]] + local
        who, act = np.divmod(parent, A)
        S_hist = np.concatenate([S_hist[who], cur[who][:, None]], axis=1)
        A_hist = np.concatenate([A_hist[who], act[:, None]], axis=1)
        rew = rew[who] + disc * mdp.r[cur[who], act]
        trans = trans[who] * P.data[entry]
        first = first[who]
        cur = P.indices[entry].astype(np.int64)
        disc *= mdp.gamma
    if kind == "episodic" and any((~absorbing[d[6]]).any() for d in done):
        raise UserError("group estimators: an episode from some prompt does not end within the simulation cap; give a "
                        "finite --horizon")
    cols = [np.concatenate([d[i] for d in done]) for i in range(7)]
    order = np.lexsort((np.arange(cols[3].size), cols[3]))
    cols = [c[order] for c in cols]
    return ResponseTree(cols[0], cols[1], cols[2].astype(np.int64), cols[3].astype(np.int64), cols[4], cols[5],
                        cols[6].astype(np.int64), start.astype(np.int64), mdp.mu[start].copy())


@dataclass(frozen=True, eq=False)
class Responses:
    """A :class:`ResponseTree` under one policy: ``prob`` ``(n,)`` (given the prompt) and ``score`` ``(n, d)``."""

    tree: ResponseTree
    prob: np.ndarray
    score: np.ndarray

    @property
    def weight(self) -> np.ndarray:
        """``(n,)`` ``mu(x) pi(o | x)``: each response's probability (they sum to one)."""
        return self.tree.mu[self.tree.prompt_index] * self.prob

    @property
    def rewards(self) -> np.ndarray:
        return self.tree.rewards

    @property
    def lengths(self) -> np.ndarray:
        return self.tree.lengths

    @cached_property
    def correct(self) -> np.ndarray:
        """``(n,)`` bool: the response gets the best reward any response gets (1 on a 0/1 task)."""
        r = self.tree.rewards
        return r >= r.max() - 1e-12 * max(1.0, abs(float(r.max())))

    def expectation(self, f: np.ndarray) -> tuple[float, np.ndarray]:
        """``(E[f(o)], grad E[f(o)] = E[f(o) psi(o)])`` of per-response values ``f`` ``(n,)``."""
        wf = self.weight * np.asarray(f, dtype=np.float64)
        return float(wf.sum()), wf @ self.score

    def J(self) -> tuple[float, np.ndarray]:
        """``(J, grad J)``: the expected reward and its gradient (the policy-gradient theorem, summed)."""
        return self.expectation(self.tree.rewards)

    def length_stats(self) -> dict[str, float | np.ndarray]:
        """Exact response statistics and their gradients (module docstring): ``p_correct``, ``length_mean``,
        ``length_correct``, ``length_wrong`` (conditional means; NaN when the condition has probability 0) and
        ``length_wrong_mass = E[|o| 1{wrong}]``; ``grad_*`` the gradients of each."""
        ell = self.tree.lengths.astype(np.float64)
        c = self.correct.astype(np.float64)
        out: dict[str, float | np.ndarray] = {}
        pc, gpc = self.expectation(c)
        out["p_correct"], out["grad_p_correct"] = pc, gpc
        out["length_mean"], out["grad_length_mean"] = self.expectation(ell)
        for name, ind, p, gp in (("correct", c, pc, gpc), ("wrong", 1.0 - c, 1.0 - pc, -gpc)):
            mass, gmass = self.expectation(ell * ind)
            if name == "wrong":
                out["length_wrong_mass"], out["grad_length_wrong_mass"] = mass, gmass
            if p > 0:
                cond = mass / p
                out[f"length_{name}"], out[f"grad_length_{name}"] = cond, (gmass - cond * gp) / p
            else:
                out[f"length_{name}"], out[f"grad_length_{name}"] = float("nan"), np.full(gmass.shape, np.nan)
        return out


def responses(problem, max_responses: int = MAX_RESPONSES) -> Responses:
    """The responses of ``problem`` at its ``theta``."""
    return enumerate_responses(problem.mdp, max_responses).at(problem)
