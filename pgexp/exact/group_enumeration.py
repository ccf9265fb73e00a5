r"""Brute force for group estimators: every whole batch of ``P`` groups of ``G`` responses, with its probability,
weighed by the *registered estimator's own function*.

The batch outcomes are all ``(x_1, o_{1,1..G}, ..., x_P, o_{P,1..G})``: per group a prompt ``x ~ mu`` and ``G``
responses to it, probability ``prod_g mu(x_g) prod_i pi(o_{g,i} | x_g)``.  They are laid out as one stack of
replicates (:class:`~pgexp.estimators.batch.Batch` with ``blocks`` = outcomes and ``group_size = G``), exactly
as the sampler lays out a drawn batch, and the estimator's ``fn(batch)`` gives the step weights; each
outcome's estimate is ``(1/N) sum_i sum_h w_ih grad log pi(a_ih | s_ih)``, and the exact mean and covariance
are their probability-weighted moments.  Nothing of :mod:`pgexp.exact.groups` is used, so the two are an
independent check of each other (``tests/estimators/test_groups.py``: 1e-12), and since only the registered function is
called, it applies to a user's plug-in as well (``pgexp check-estimator`` uses it to check a claim exactly).
Feasible for tiny problems: ``(sum_x n_x^G)^P`` outcomes.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.estimators.batch import Batch, step_weights
from pgexp.exact.model import score_table
from pgexp.exact.responses import ResponseTree, enumerate_responses

MAX_OUTCOMES = 400_000


@dataclass(eq=False)
class ExactContext:
    """What a tabular estimator may read off ``batch.context`` here: ``track``, ``mdp``, ``pi``, ``problem``."""

    problem: Any
    pi: np.ndarray
    track: str = "tabular"

    @property
    def mdp(self) -> Any:
        return self.problem.mdp


def group_outcomes(tree: ResponseTree, prob: np.ndarray, G: int) -> tuple[np.ndarray, np.ndarray]:
    """Every group: ``(members (O, G) response indices, probability (O,))`` -- a prompt, then ``G`` of its
    responses (ordered, with repetition)."""
    members, probs = [], []
    for k in range(tree.prompts.size):
        rows = np.flatnonzero(tree.prompt_index == k)
        idx = np.array(list(itertools.product(rows, repeat=G)), dtype=np.int64).reshape(-1, G)
        members.append(idx)
        probs.append(tree.mu[k] * np.prod(prob[idx], axis=1))
    return np.concatenate(members), np.concatenate(probs)


def outcome_batch(problem: Any, tree: ResponseTree, pi: np.ndarray, rows: np.ndarray, blocks: int, G: int,
                  params: Mapping[str, float]) -> Batch:
    """The responses ``rows`` (``blocks`` replicates of ``N`` each, groups of ``G``) as a sampled batch would be."""
    mdp = problem.mdp
    states, actions = tree.states[rows], tree.actions[rows]
    lengths, final = tree.lengths[rows], tree.final[rows]
    mask = np.arange(states.shape[1])[None, :] < lengths[:, None]
    rewards = np.where(mask, mdp.r[states, actions], 0.0)

    def successors() -> np.ndarray:
        nxt = np.zeros_like(states)
        nxt[:, :-1] = states[:, 1:]
        live = np.flatnonzero(lengths > 0)
        nxt[live, lengths[live] - 1] = final[live]
        return nxt

    ended = mdp.absorbing_states()[final]
    if mdp.horizon is not None:
        ended = ended | (lengths == mdp.horizon)
    return Batch(states, actions, rewards, lengths, float(mdp.gamma), mdp.horizon, successors, ended,
                 np.zeros(rows.size, bool), "tabular", context=ExactContext(problem, pi), blocks=blocks,
                 final_states=final, group_size=G, params=dict(params))


def enumerate_group_moments(problem: Any, estimator: str, baseline: str = "none", *, group_size: int,
                            prompts: int = 1, params: Mapping[str, float] | None = None,
                            max_outcomes: int = MAX_OUTCOMES) -> tuple[np.ndarray, np.ndarray, float]:
    """Exact ``(E ĝ, Cov ĝ, total probability)`` of ``estimator~baseline`` on batches of ``prompts`` groups of
    ``group_size`` responses, by listing every batch (module docstring).  The baseline must not be fitted on an
    independent batch nor read the exact values (``none``, ``constant``, ``fixed``)."""
    from pgexp.estimators import get_estimator
    from pgexp.estimators.batch import with_baseline
    from pgexp.estimators.spec import parse_baseline

    est = get_estimator(estimator)
    choice = parse_baseline(baseline)
    if choice.spec.fitted:
        raise UserError(f"brute force: baseline {choice.name} is fitted on an independent batch; not enumerated")
    p = est.params(params)
    G, P = int(group_size), int(prompts)
    tree = enumerate_responses(problem.mdp)
    pi = problem.policy.probs(problem.theta)
    prob = tree.probs(pi)
    members, gprob = group_outcomes(tree, prob, G)
    count = members.shape[0] ** P
    if count > max_outcomes:
        raise UserError(f"brute force: {members.shape[0]}^{P} = {count:.3g} batches (> {max_outcomes:.0e}); give a "
                        "smaller problem, group size or number of prompts")
    combos = np.array(list(itertools.product(range(members.shape[0]), repeat=P)), dtype=np.int64).reshape(-1, P)
    rows = members[combos].reshape(-1)                 # (B * P * G,)
    bprob = np.prod(gprob[combos], axis=1)             # (B,)
    B, N = combos.shape[0], P * G
    batch = outcome_batch(problem, tree, pi, rows, B, G, p)
    fn = choice.spec.values_fn
    if fn is not None:
        batch = with_baseline(batch, *fn(batch.context, batch, None, None, choice.options))
    if est.vectorized or B == 1:
        w = step_weights(est.function, batch, est.name)
    else:
        w = np.concatenate([step_weights(est.function, batch.block(k), est.name) for k in range(B)])
    sigma = score_table(problem)
    g = np.zeros((rows.size, sigma.shape[2]))
    for h in range(batch.shape[1]):
        live = np.flatnonzero(batch.mask[:, h])
        g[live] += w[live, h, None] * sigma[batch.states[live, h], batch.actions[live, h]]
    est_b = g.reshape(B, N, -1).mean(axis=1)
    mean = bprob @ est_b
    dev = est_b - mean
    return mean, (dev * bprob[:, None]).T @ dev, float(bprob.sum())
