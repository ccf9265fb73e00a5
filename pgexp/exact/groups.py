r"""Exact mean and covariance of the group estimators, for any group size ``G``, by exchangeable reward counts.

**Setting** (:mod:`pgexp.estimators.groups`, :mod:`pgexp.exact.responses`).  A batch is ``P`` groups; group
``g`` draws a prompt ``x ~ mu`` and ``G`` responses ``o_1 .. o_G`` i.i.d. from ``pi(. | x)``; groups are
independent.  Response ``i`` has a reward ``r_i`` taking one of ``m`` values ``v_1 .. v_m`` (a finite set: 0/1
on a verifiable task), a length ``l_i = |o_i|`` and a score ``psi_i``.  Its *type* is ``tau_i = (r_i, l_i)``.
Every estimator here weighs response ``i``'s tokens by one number ``c_i`` and averages, ``ĝ = (1/N) sum_i c_i
psi_i`` (``N = P G``), and ``c_i`` depends on the batch only through

* ``tau_i`` and, for a *group-scope* rule, an additive statistic of the group's *other* ``G - 1`` responses:
  ``S_{-i} = sum_{j != i} (e_{r_j}, l_j)`` -- the count of each reward value and (DAPO only) their total length;
* for a *batch-scope* rule (REINFORCE++, the leave-one-out batch mean), the reward counts of the other ``N - 1``
  responses of the whole batch;
* for ReMax, the prompt (its greedy response's reward ``b(x)``).

Write ``c_i = f(tau_i, S_{-i})``.  Because the responses of a group are exchangeable given ``x``, the group
enters only through the counts: ``S_{-i}`` given ``x`` has the law ``D_{x,n}`` of the sum of ``n`` i.i.d. type
statistics (a multinomial in the counts, convolved with the lengths), computed exactly by adding one response
at a time (:func:`pgexp.exact.group_counts.others`).  Per prompt and type, let

    q_x(tau) = P(tau(o) = tau | x),   M_x(tau) = E[psi 1{tau(o) = tau} | x]   (d-vectors; a matrix M_x over tau).

*Mean.*  By exchangeability ``E ĝ = E[c_1 psi_1]``; given ``x`` and ``o_1``, ``S_{-1} ~ D_{x,G-1}``
independently of ``o_1``, so

    E ĝ = sum_x mu(x) sum_tau M_x(tau) a_x(tau),    a_x(tau) = sum_S D_{x,G-1}(S) f(tau, S).

*Second moment of one group* (``P = 1``): ``E[ĝ ĝ^T] = (1/G) E[c_1^2 psi_1 psi_1^T] + ((G-1)/G) E[c_1 c_2 psi_1
psi_2^T]``.  The first term is ``sum_x mu sum_o pi(o|x) b_x(tau(o)) psi(o) psi(o)^T`` with ``b_x(tau) = sum_S
D_{x,G-1}(S) f(tau, S)^2``.  In the second, responses 1 and 2 see each other: with ``U`` the statistic of the
remaining ``G - 2`` (law ``D_{x,G-2}``), ``S_{-1} = U + s(tau_2)`` and ``S_{-2} = U + s(tau_1)``, so

    E[c_1 c_2 psi_1 psi_2^T | x] = sum_{tau, tau'} M_x(tau) M_x(tau')^T C_x(tau, tau'),
    C_x(tau, tau') = sum_U D_{x,G-2}(U) f(tau, U + s(tau')) f(tau', U + s(tau)),

one ``(types x types)`` matrix per prompt: ``M_x^T C_x M_x``.  Groups are independent, so a batch of ``P``
groups of a group-scope rule has ``Cov ĝ = Cov(one group) / P``.

*Batch scope.*  Now ``c_i = f(tau_i, T_{-i})`` with ``T_{-i}`` the reward counts of the other ``N - 1``
responses: ``G - 1`` from ``i``'s own group (law ``D_{x,G-1}``) and ``P - 1`` whole groups, each with the
prompt-mixed law ``Dbar = sum_x mu(x) D_{x,G}``, all independent -- a convolution.  Then, by which indices
share a group,

    E[ĝ ĝ^T] = (1/N) S_self + ((G - 1)/N) S_same + ((N - G)/N) S_diff,

``S_self`` as ``b`` above with ``T_{-1} ~ D_{x,G-1} * Dbar^{*(P-1)}``; ``S_same = sum_x mu M_x^T C_x M_x`` with
``U ~ D_{x,G-2} * Dbar^{*(P-1)}``; ``S_diff = sum_{x,x'} mu(x) mu(x') M_x^T C_{x x'} M_{x'}`` with ``U ~ D_{x,G-1}
* D_{x',G-1} * Dbar^{*(P-2)}`` (responses 1 and 2 in different groups, with prompts ``x`` and ``x'``).

*DAPO's dynamic sampling.*  With ``X_g`` group ``g``'s estimate (zero when its rewards are all equal, since
then every ``A_i = 0``), ``kappa_g = 1{not all equal}`` (``P(kappa = 1) = q = sum_x mu(x) (1 - sum_v
p_x(v)^G)``) and ``K = sum_g kappa_g``, the estimate is ``(1/K) sum_g X_g`` (0 if ``K = 0``).  Since ``X_g =
kappa_g X_g`` and groups are independent, with ``K' ~ Bin(P - 1, q)`` and ``K'' ~ Bin(P - 2, q)``:

    E ĝ = P E[X] E[1/(1 + K')],     E[ĝ ĝ^T] = P E[X X^T] E[(1 + K')^-2] + P (P - 1) E[X] E[X]^T E[(2 + K'')^-2];

the mean is ``E[X] (1 - (1 - q)^P) / q``: a positive multiple of DAPO's mean without the selection.

*Per prompt.*  ``E[c_1 psi_1 | x_1 = x] = M_x^T a_x`` against the prompt's own gradient ``grad J_x = E[r psi |
x]``: the projection ``w_x = <., grad J_x> / |grad J_x|^2`` is the weight the estimator gives prompt ``x``
(1 for RLOO; for 0/1 rewards and a rule that ignores lengths, ``M_x(1) = -M_x(0) = grad p_x``, so the mean is
exactly ``w_x grad p_x`` with ``w_x = a_x(1) - a_x(0)``: GRPO's ``1/std`` makes ``w_x`` a function of the
prompt's difficulty ``p_x``).

Everything is checked against brute-force enumeration of whole batches with the registered estimator's own
function (:mod:`pgexp.exact.group_enumeration`; ``tests/estimators/test_groups.py``, to 1e-12) and against Monte Carlo.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.exact.group_counts import Dist, convolve, counts_of, others, power
from pgexp.exact.group_rules import GROUP_ESTIMATORS as GROUP_ESTIMATORS  # read from here too (exact-variance)
from pgexp.exact.group_rules import Rule, Setting, Variant, check_rule
from pgexp.exact.responses import Responses, responses

MAX_REWARD_VALUES = 8


# ------------------------------------------------------------------------------------------ per prompt

@dataclass(frozen=True, eq=False)
class Prompt:
    """One prompt's responses: ``weight = mu(x)``, ``prob`` ``(n,)`` given ``x``, ``score`` ``(n, d)``, ``value``
    (reward index) and ``length`` ``(n,)``, its types (``tid`` per response; ``tv``, ``tl`` per type) and ``M``
    ``(types, d)``, ``q`` ``(m, L+1)``."""

    state: int
    weight: float
    prob: np.ndarray
    score: np.ndarray
    value: np.ndarray
    length: np.ndarray
    tid: np.ndarray
    tv: np.ndarray
    tl: np.ndarray
    M: np.ndarray
    q: np.ndarray
    grad: np.ndarray   # grad J_x = E[r psi | x]


def prompts_of(resp: Responses, values: np.ndarray, L: int) -> list[Prompt]:
    tree = resp.tree
    vidx = np.searchsorted(values, tree.rewards)
    out = []
    for k, x in enumerate(tree.prompts):
        rows = np.flatnonzero(tree.prompt_index == k)
        p, psi, v, ell = resp.prob[rows], resp.score[rows], vidx[rows], tree.lengths[rows]
        key = v * (L + 1) + ell
        uniq, tid = np.unique(key, return_inverse=True)
        tv, tl = uniq // (L + 1), uniq % (L + 1)
        M = np.zeros((uniq.size, psi.shape[1]))
        np.add.at(M, tid, p[:, None] * psi)
        q = np.zeros((values.size, L + 1))
        np.add.at(q, (v, ell), p)
        out.append(Prompt(int(x), float(tree.mu[k]), p, psi, v, ell, tid, tv, tl, M, q,
                          (p * tree.rewards[rows]) @ psi))
    return out


def reward_values(resp: Responses) -> np.ndarray:
    values = np.unique(resp.tree.rewards)
    if values.size > MAX_REWARD_VALUES:
        raise UserError(f"exact group moments: the responses have {values.size} distinct rewards (> "
                        f"{MAX_REWARD_VALUES}); the count method needs a few (a 0/1 or partial-credit task)")
    return values


def _f(rule: Rule, s: Setting, v: int, ell: float, D: Dist, add_v: int | None = None,
       add_l: float = 0.0) -> np.ndarray:
    counts, lens = D.counts, D.lens
    if add_v is not None:
        counts = counts.copy()
        counts[:, add_v] += 1.0
        lens = lens + add_l
    return rule.weight(s, int(v), float(ell), counts, lens)


def _ab(rule: Rule, s: Setting, pr: Prompt, D: Dist) -> tuple[np.ndarray, np.ndarray]:
    """Per type ``a(tau) = E_D f(tau, S)`` and ``b(tau) = E_D f(tau, S)^2``."""
    F = np.stack([_f(rule, s, pr.tv[t], pr.tl[t], D) for t in range(pr.tv.size)])   # (types, S)
    # einsum, not BLAS: a threaded ddot of this size waits on its threads on a busy machine
    return np.einsum("ts,s->t", F, D.prob), np.einsum("ts,ts,s->t", F, F, D.prob)


def _cross(rule: Rule, s: Setting, pr: Prompt, pr2: Prompt, D: Dist) -> np.ndarray:
    """``C(tau, tau') = E_U f(tau, U + s(tau')) f(tau', U + s(tau))``, ``(types, types')``."""
    C = np.zeros((pr.tv.size, pr2.tv.size))
    for t in range(pr.tv.size):
        F1 = np.stack([_f(rule, s, pr.tv[t], pr.tl[t], D, pr2.tv[u], pr2.tl[u]) for u in range(pr2.tv.size)])
        F2 = np.stack([_f(rule, s, pr2.tv[u], pr2.tl[u], D, pr.tv[t], pr.tl[t]) for u in range(pr2.tv.size)])
        C[t] = np.einsum("us,us,s->u", F1, F2, D.prob)
    return C


def _self_term(pr: Prompt, b: np.ndarray, full: bool) -> np.ndarray:
    w = pr.prob * b[pr.tid]
    return (pr.score * w[:, None]).T @ pr.score if full else w @ np.square(pr.score)


def _pair_term(M1: np.ndarray, C: np.ndarray, M2: np.ndarray, full: bool) -> np.ndarray:
    return M1.T @ C @ M2 if full else ((M1.T @ C) * M2.T).sum(axis=1)


# ------------------------------------------------------------------------------------------ moments

@dataclass(eq=False)
class GroupMoments:
    """Exact moments of a group estimator's batch estimate (module docstring), per number of prompts ``P``.

    Attributes:
        estimator, baseline, group_size, params: what they are the moments of.
        grad: exact ``grad J`` ``(d,)``; ``J``: the objective.
        full: full covariances (else their diagonals).
        prompts: the per-prompt response data; ``values``: the reward values.
    """

    estimator: str
    baseline: str
    group_size: int
    params: Mapping[str, float]
    rule: Rule
    resp: Responses
    prompts: list[Prompt]
    values: np.ndarray
    grad: np.ndarray
    J: float
    horizon: int | None
    full: bool
    baselines: np.ndarray  # ReMax's b(x) per prompt (zeros otherwise)
    cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.grad.size)

    @property
    def m(self) -> int:
        return int(self.values.size)

    def setting(self, P: int, k: int) -> Setting:
        G = self.group_size
        return Setting(self.values, G, G * P, self.horizon, self.params, float(self.baselines[k]))

    @cached_property
    def dynamic(self) -> bool:
        return self.rule.dynamic and float(self.params.get("dynamic_sampling", 0.0)) == 1.0

    def moments(self, P: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(E ĝ, E[ĝ ĝ^T] (or its diagonal), per-prompt means (K, d))`` of a batch of ``P`` groups."""
        if P not in self.cache:
            if self.rule.scope == "batch":
                self.cache[P] = self._batch_scope(P)
            elif self.dynamic:
                self.cache[P] = self._dynamic(P)
            else:
                mean, second, per = self._group_scope()
                if P > 1:  # independent groups: Cov / P, the mean unchanged
                    second = self._outer(mean) + (second - self._outer(mean)) / P
                self.cache[P] = (mean, second, per)
        return self.cache[P]

    def _outer(self, a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        b = a if b is None else b
        return np.outer(a, b) if self.full else a * b

    def _group_scope(self, second_too: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        G, d = self.group_size, self.dim
        mean, second = np.zeros(d), np.zeros((d, d) if self.full else d)
        per = np.zeros((len(self.prompts), d))
        for k, pr in enumerate(self.prompts):
            s = self.setting(1, k)
            a, b = _ab(self.rule, s, pr, others(pr.q, G - 1, self.rule.lengths))
            per[k] = pr.M.T @ a
            mean += pr.weight * per[k]
            if not second_too:
                continue
            sec = _self_term(pr, b, self.full) / G
            if G >= 2:
                C = _cross(self.rule, s, pr, pr, others(pr.q, G - 2, self.rule.lengths))
                sec = sec + (G - 1) / G * _pair_term(pr.M, C, pr.M, self.full)
            second += pr.weight * sec
        return mean, second, per

    def mean_only(self, P: int = 1) -> np.ndarray:
        """``E ĝ`` without the second moment (what an exact expected-gradient flow needs at every step)."""
        if P in self.cache or self.rule.scope == "batch":
            return self.moments(P)[0]
        mean = self._group_scope(second_too=False)[0]
        if self.dynamic:
            from scipy.stats import binom

            G, k1 = self.group_size, np.arange(P)
            q = sum(pr.weight * (1.0 - float(np.sum(pr.q.sum(axis=1) ** G))) for pr in self.prompts)
            mean = P * float(binom.pmf(k1, P - 1, q) @ (1.0 / (1.0 + k1))) * mean
        return mean

    def _dynamic(self, P: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from scipy.stats import binom

        mean1, second1, per1 = self._group_scope()
        G = self.group_size
        q = sum(pr.weight * (1.0 - float(np.sum(pr.q.sum(axis=1) ** G))) for pr in self.prompts)
        k1 = np.arange(P)
        e1 = float(binom.pmf(k1, P - 1, q) @ (1.0 / (1.0 + k1)))
        e2 = float(binom.pmf(k1, P - 1, q) @ (1.0 / (1.0 + k1) ** 2))
        k2 = np.arange(max(P - 1, 0))
        e3 = float(binom.pmf(k2, P - 2, q) @ (1.0 / (2.0 + k2) ** 2)) if P >= 2 else 0.0
        mean = P * e1 * mean1
        second = P * e2 * second1 + P * (P - 1) * e3 * self._outer(mean1)
        return mean, second, P * e1 * per1

    def _batch_scope(self, P: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        G, m, d = self.group_size, self.m, self.dim
        N = G * P
        full_g = [others(pr.q, G, False).grid[..., 0] for pr in self.prompts]
        g1 = [others(pr.q, G - 1, False).grid[..., 0] for pr in self.prompts]
        g2 = [others(pr.q, G - 2, False).grid[..., 0] if G >= 2 else None for pr in self.prompts]
        mix = np.sum([pr.weight * f for pr, f in zip(self.prompts, full_g)], axis=0)
        rest1, rest2 = power(mix, P - 1, m), power(mix, max(P - 2, 0), m)
        mean, second = np.zeros(d), np.zeros((d, d) if self.full else d)
        per = np.zeros((len(self.prompts), d))
        for k, pr in enumerate(self.prompts):
            s = self.setting(P, k)
            a, b = _ab(self.rule, s, pr, counts_of(convolve(g1[k], rest1), N - 1, m))
            per[k] = pr.M.T @ a
            mean += pr.weight * per[k]
            second += pr.weight * _self_term(pr, b, self.full) / N
            if G >= 2:
                C = _cross(self.rule, s, pr, pr, counts_of(convolve(g2[k], rest1), N - 2, m))  # type: ignore[arg-type]
                second += pr.weight * (G - 1) / N * _pair_term(pr.M, C, pr.M, self.full)
            if P >= 2:
                for k2, pr2 in enumerate(self.prompts):
                    D = counts_of(convolve(convolve(g1[k], g1[k2]), rest2), N - 2, m)
                    C = _cross(self.rule, s, pr, pr2, D)
                    second += pr.weight * pr2.weight * (N - G) / N * _pair_term(pr.M, C, pr2.M, self.full)
        return mean, second, per

    def mean(self, P: int = 1) -> np.ndarray:
        return self.moments(P)[0]

    def cov(self, P: int = 1) -> np.ndarray:
        mean, second, _ = self.moments(P)
        return second - self._outer(mean)

    def trace_cov(self, P: int = 1) -> float:
        c = self.cov(P)
        return float(np.trace(c)) if self.full else float(np.sum(c))


def group_moments(problem: Any, estimator: str, baseline: str = "none", *, group_size: int,
                  params: Mapping[str, float] | None = None, full: bool | None = None,
                  resp: Responses | None = None) -> GroupMoments:
    """Exact moments of ``estimator~baseline`` sampled in groups of ``group_size`` (module docstring).

    ``resp``: the problem's responses at its ``theta`` when already enumerated (:func:`~pgexp.exact.responses
    .responses`); ``full``: full covariance (default when ``d <= 512``)."""
    from pgexp.estimators import get_estimator

    rule = check_rule(estimator, baseline)
    G = int(group_size)
    est = get_estimator(estimator)
    need = est.min_group_size or 1
    if isinstance(group_size, bool) or G < max(need, 1):
        raise UserError(f"--group-size: {group_size!r}; {estimator} needs G >= {need}")
    p = est.params(params)
    resp = responses(problem) if resp is None else resp
    values = reward_values(resp)
    L = int(resp.tree.lengths.max(initial=0))
    dim = resp.score.shape[1]
    full = dim <= 512 if full is None else bool(full)
    J, grad = resp.J()
    b = np.zeros(resp.tree.prompts.size)
    if estimator == "remax":
        from pgexp.estimators.groups import greedy_values

        b = greedy_values(problem.mdp, problem.policy.probs(problem.theta))[resp.tree.prompts]
    horizon = problem.mdp.horizon
    return GroupMoments(estimator, baseline, G, p, rule, resp, prompts_of(resp, values, L), values, grad, J,
                        None if horizon is None else int(horizon), full, b)


# ------------------------------------------------------------------------------------------ summaries

def bias_parts(mean: np.ndarray, grad: np.ndarray, trace_cov: float) -> dict[str, float]:
    """The bias of a mean ``mean`` against ``grad`` split into **length** and **direction**, and the variance at
    equal mean length.

    ``k = <E ĝ, grad J> / |grad J|^2`` is the mean's length along ``grad J`` (``k = 1``: the right length); the
    orthogonal part ``o = E ĝ - k grad J`` is what no step size undoes.  ``bias_sq = (k - 1)^2 |grad J|^2 + |o|^2``
    (``length_bias_sq`` + ``direction_bias_sq``); ``angle_deg`` the angle between ``E ĝ`` and ``grad J``;
    ``trace_cov_equal_length = trace_cov / k^2`` the variance of ``ĝ / k`` (the estimator rescaled to the right
    mean length: what a tuned step size sees), ``mse_equal_length = |o|^2 / k^2 + trace_cov / k^2`` (NaN when
    ``k <= 0``); ``*_rel`` are divided by ``|grad J|^2``."""
    g2 = float(grad @ grad)
    k = float(mean @ grad) / g2 if g2 > 0 else float("nan")
    orth = mean - k * grad
    o2 = float(orth @ orth)
    nm = float(np.linalg.norm(mean))
    cos = float(mean @ grad) / (nm * math.sqrt(g2)) if nm > 0 and g2 > 0 else float("nan")
    ok = math.isfinite(k) and k > 0
    out: dict[str, float] = {"length_k": k, "length_bias_sq": (k - 1.0) ** 2 * g2, "direction_bias_sq": o2,
           "orthogonal_norm": math.sqrt(o2), "angle_deg": math.degrees(math.acos(max(-1.0, min(1.0, cos))))
           if math.isfinite(cos) else float("nan"),
           "trace_cov_equal_length": trace_cov / k ** 2 if ok else float("nan"),
           "mse_equal_length": (o2 + trace_cov) / k ** 2 if ok else float("nan")}
    for key in ("length_bias_sq", "direction_bias_sq", "trace_cov_equal_length", "mse_equal_length"):
        out[key + "_rel"] = out[key] / g2 if g2 > 0 else float("nan")
    return out


def batch_quality(gm: GroupMoments, batch_size: int, cosine_seed: np.random.SeedSequence | None = None
                  ) -> dict[str, float]:
    """The exact ``bias_sq, trace_cov, var_per_traj, mse, rel_mse, snr`` of a batch of ``batch_size`` responses
    (``P = N / G`` prompts), and :func:`bias_parts`; with a full covariance and ``cosine_seed``, the
    normal-approximation prediction of the expected cosine (``cosine_normal``, ``cosine_normal_se``:
    :func:`pgexp.exact.batch.normal_cosine` with the batch's exact mean and covariance)."""
    from pgexp.exact.batch import normal_cosine, quality

    G = gm.group_size
    if batch_size % G:
        raise UserError(f"--batch-size {batch_size}: not a multiple of --group-size {G} (responses: prompts x G)")
    P = batch_size // G
    mean, cov = gm.mean(P), gm.cov(P)
    out: dict[str, float] = {"batch_size": int(batch_size), "prompts": P, **quality(mean, cov, gm.grad, batch_size)}
    if gm.full and cosine_seed is not None:
        (c, se), = normal_cosine(mean, cov, gm.grad, [1], cosine_seed)
        out |= {"cosine_normal": c, "cosine_normal_se": se}
    return out | bias_parts(mean, gm.grad, out["trace_cov"])


def prompt_weights(gm: GroupMoments, P: int = 1) -> list[dict[str, Any]]:
    """Per prompt: its difficulty (``p_correct``, ``J_x``), the estimator's mean given the prompt against the
    prompt's own gradient (``weight`` = the projection ``w_x``, ``weight_orth_rel`` the orthogonal part relative
    to ``|grad J_x|``) and its share of ``<E ĝ, grad J>``."""
    _, _, per = gm.moments(P)
    out = []
    total = float(gm.mean(P) @ gm.grad)
    for k, pr in enumerate(gm.prompts):
        g = pr.grad
        g2 = float(g @ g)
        w = float(per[k] @ g) / g2 if g2 > 0 else float("nan")
        orth = per[k] - w * g if g2 > 0 else per[k]
        rewards = gm.values[pr.value]
        out.append({"prompt": pr.state, "mu": pr.weight, "J_x": float(pr.prob @ rewards),
                    "p_correct": float(pr.prob @ (rewards >= gm.values.max())), "weight": w,
                    "weight_orth_rel": float(np.linalg.norm(orth)) / math.sqrt(g2) if g2 > 0 else float("nan"),
                    "share": pr.weight * float(per[k] @ gm.grad) / total if total else float("nan")})
    return out


def length_effects(gm: GroupMoments, stats: Mapping[str, Any], P: int = 1) -> dict[str, float]:
    """``<E ĝ, grad F>`` for the response statistics ``F`` of :meth:`Responses.length_stats` (the first-order
    change of ``F`` per unit step along the mean update), and per unit of ``<E ĝ, grad J>`` (the change in ``F``
    while ``J`` gains one unit: comparable between estimators of different lengths)."""
    mean = gm.mean(P)
    dJ = float(mean @ gm.grad)
    out = {"dJ": dJ}
    for key in ("length_wrong_mass", "length_wrong", "length_correct", "length_mean", "p_correct"):
        g = stats[f"grad_{key}"]
        v = float(mean @ g) if np.all(np.isfinite(g)) else float("nan")
        out[f"d_{key}"] = v
        out[f"d_{key}_per_dJ"] = v / dJ if dJ else float("nan")
    return out


def refers_to(gm: GroupMoments) -> str:
    return (f"one batch of G = {gm.group_size} responses to one prompt (a group); 'batch' rows: N responses = "
            f"N/{gm.group_size} independent prompts" + (" normalised over the whole batch" if gm.rule.scope == "batch"
                                                      else ""))


def group_variance(problem: Any, estimator: str, baseline: str = "none", *, group_size: int,
                   params: Mapping[str, float] | None = None, batch_sizes: tuple[int, ...] | list[int] = ()) -> dict:
    """The ``pgexp exact-variance --group-size G`` JSON: the keys of :func:`pgexp.exact.moments.exact_variance`
    (``mean``, ``trace_cov``, ``cov`` (d <= 64), ``grad``, ``batch``) for one group, plus the bias as length and
    direction (:func:`bias_parts`), the per-prompt weights and the length effects."""
    gm = group_moments(problem, estimator, baseline, group_size=group_size, params=params)
    mean, cov = gm.mean(1), gm.cov(1)
    stats = gm.resp.length_stats()
    out: dict[str, Any] = {"estimator": estimator, "baseline": baseline, "group_size": gm.group_size,
                           **{k: float(v) for k, v in gm.params.items()},
                           "objective": "finite" if gm.horizon is not None else "episodic",
                           "gamma": float(problem.mdp.gamma), "horizon": gm.horizon, "refers_to": refers_to(gm),
                           "method": "counts", "dim": gm.dim, "n_responses": gm.resp.tree.num,
                           "reward_values": [float(v) for v in gm.values], "mean": [float(x) for x in mean],
                           "trace_cov": gm.trace_cov(1)}
    if gm.full and gm.dim <= 64:
        out["cov"] = [[float(x) for x in row] for row in cov]
    out["grad"] = [float(x) for x in gm.grad]
    out["grad_norm"] = float(np.linalg.norm(gm.grad))
    out["J"] = gm.J
    out.update(bias_parts(mean, gm.grad, gm.trace_cov(1)))
    out["length_stats"] = {k: float(v) for k, v in stats.items() if not k.startswith("grad_")}
    out["length_effects"] = length_effects(gm, stats)
    out["prompts"] = prompt_weights(gm)
    if batch_sizes:
        from pgexp.exact.moments import cosine_seed

        horizon = -1 if gm.horizon is None else gm.horizon
        out["batch"] = [batch_quality(gm, int(n), cosine_seed(problem, f"{estimator}~G{group_size}~N{n}", baseline,
                                                               0.0, horizon)) for n in batch_sizes]
    return out


def group_variance_rows(problem: Any, variants: list[Variant], group_sizes: list[int],
                        prompts: int) -> tuple[list[dict], list[dict]]:
    """The study's tables: for every variant x ``G``, the exact quality of a batch of ``prompts`` groups (``N =
    prompts G``; :func:`batch_quality`, :func:`length_effects`) -- and per prompt its weight
    (:func:`prompt_weights`).  One response enumeration serves every row."""
    resp = responses(problem)
    stats = resp.length_stats()
    rows: list[dict[str, Any]] = []
    weights: list[dict[str, Any]] = []
    for v in variants:
        for G in group_sizes:
            gm = group_moments(problem, v.estimator, v.baseline, group_size=G, params=v.params, resp=resp, full=False)
            q = batch_quality(gm, prompts * G)
            head: dict[str, Any] = {"label": v.label, "estimator": v.estimator, "baseline": v.baseline,
                                    "group_size": int(G)}
            rows.append({**head, **q, "J": gm.J, "grad_norm": float(np.linalg.norm(gm.grad)),
                         **length_effects(gm, stats, prompts)})
            for w in prompt_weights(gm, prompts):
                weights.append({**head, "prompts": prompts, **w})
    return rows, weights
