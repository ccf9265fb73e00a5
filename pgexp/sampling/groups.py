r"""Group sampling, as language-model fine-tuning samples: ``G`` responses to each prompt (``--group-size G``).

A *prompt* is an initial state, a *response* an episode from it (its length ``|o|`` the number of actions taken,
an end-of-sequence action included; its reward the episode's return ``G_0``).  A batch of ``N`` trajectories
with group size ``G`` is ``P = N / G`` groups: group ``g`` holds rows ``[g G, (g + 1) G)``, ``G`` responses to
the same prompt ``x_g``, and the groups of a batch are independent (``--batch-size`` counts responses).

**Random numbers.**  Common random numbers and determinism are kept as the ungrouped sampler keeps them
(:mod:`pgexp.sampling.rng`):

* response ``j`` of replicate ``m`` is simulated from the same xoshiro stream as trajectory ``j`` of an
  ungrouped batch (the ``j``-th seed of ``SeedSequence(entropy, (m, MAIN))``), started at its group's prompt
  instead of a start state of its own: its first uniform (which would have drawn the start state) is drawn and
  ignored, so the rest of the stream moves the same way;
* the prompt of group ``g`` comes from a stream of its own: the start state that a trajectory with the ``g``-th
  seed of ``SeedSequence(entropy, (m, MAIN, PROMPTS))`` would draw from ``mu``.

So every estimator of a job sees the same groups, a replicate is the same whether it is drawn alone or in a
stack, and the group size is part of the job's stream identity (:func:`pgexp.runs.estimate.stream_identity`).
The responses to one prompt are simulated by the ordinary compiled sampler
(:func:`pgexp.sampling.tabular.sample`) with ``mu`` replaced by a point mass on the prompt: one call per
distinct prompt of the stack, so the cost is the ungrouped sampler's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from numba import njit

from pgexp.errors import UserError
from pgexp.sampling.rng import Streams, as_streams, child, next_uniform, trajectory_seeds
from pgexp.sampling.tabular import Tables, Trajectories, draw_start, sample

PROMPTS = 1  # the child stream (m, MAIN, PROMPTS) of a replicate that draws its groups' prompts


def prompt_seeds(source: np.random.SeedSequence | Streams, groups: int) -> np.ndarray:
    """``(blocks groups, 4)`` xoshiro seeds of the prompts of every replicate of ``source`` (replicate after
    replicate): the ``PROMPTS`` child of each replicate's stream."""
    stack = as_streams(source)
    if stack is not None:
        return stack.child(PROMPTS).trajectory_seeds(groups)
    return trajectory_seeds(child(source, PROMPTS), groups)  # type: ignore[arg-type]


@njit(cache=True)
def draw_prompts(seeds, mu_cdf):
    """The start state each seed's trajectory would draw from ``mu`` (its first uniform): one prompt per seed."""
    out = np.empty(seeds.shape[0], np.int64)
    st = np.empty(4, np.uint64)
    for i in range(seeds.shape[0]):
        for q in range(4):
            st[q] = seeds[i, q]
        out[i] = draw_start(mu_cdf, next_uniform(st))
    return out


def point_cdf(num_states: int, state: int) -> np.ndarray:
    """The CDF of a point mass on ``state``: :func:`~pgexp.sampling.tabular.draw_start` returns ``state`` for any
    uniform in ``[0, 1)``."""
    cdf = np.zeros(num_states)
    cdf[state:] = 1.0
    return cdf


def sample_groups(mdp: Any, tables: Tables, seeds: np.ndarray, pseeds: np.ndarray, group_size: int, *,
                  steps: int | None = None) -> Trajectories:
    """``len(seeds)`` responses in groups of ``group_size``: group ``g`` (rows ``[g G, (g + 1) G)``) starts at the
    prompt drawn from ``pseeds[g]`` (module docstring).  The arrays are as wide as the longest response."""
    n, G = seeds.shape[0], int(group_size)
    if n % G or pseeds.shape[0] * G != n:
        raise ValueError(f"{n} responses do not make {pseeds.shape[0]} groups of {G}")
    starts = np.repeat(draw_prompts(pseeds, tables.mu_cdf), G)
    parts = []
    for x in np.unique(starts):
        rows = np.flatnonzero(starts == x)
        point = dataclasses.replace(tables, mu_cdf=point_cdf(tables.mu_cdf.shape[0], int(x)))
        parts.append((rows, sample(mdp, point, np.ascontiguousarray(seeds[rows]), steps=steps)))
    width = max(t.states.shape[1] for _, t in parts)
    states, actions = np.zeros((n, width), np.int32), np.zeros((n, width), np.int32)
    rewards = np.zeros((n, width))
    lengths, final = np.zeros(n, np.int64), np.zeros(n, np.int64)
    truncated, g0 = np.zeros(n, bool), np.zeros(n)
    for rows, t in parts:
        w = t.states.shape[1]
        states[rows, :w], actions[rows, :w], rewards[rows, :w] = t.states, t.actions, t.rewards
        lengths[rows], final[rows], truncated[rows], g0[rows] = t.lengths, t.final_states, t.truncated, t.first_returns
    return Trajectories(states, actions, rewards, lengths, final, truncated, g0)


def with_group_size(problem: Any, group_size: int | None) -> Any:
    """``problem`` sampled in groups of ``group_size`` responses per prompt (``None`` or 1: ungrouped); refused,
    in one line, for continuous-state tasks."""
    if group_size is None:
        return problem
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)) or group_size < 1:
        raise UserError(f"--group-size: {group_size!r}; allowed: a positive integer (responses per prompt)")
    if int(group_size) == int(getattr(problem, "group_size", 1)):
        return problem
    if getattr(problem, "track", "tabular") != "tabular":
        raise UserError(f"--group-size {group_size}: group sampling is for tabular problems (a prompt is an initial "
                        "state); continuous-state tasks draw every episode from its own start")
    return dataclasses.replace(problem, group_size=int(group_size))


def check_groups(problem: Any, est: Any, batch_size: int, fit_batch_size: int | None = None) -> None:
    """Refuse, in one line naming the option, a batch that is not whole groups, an estimator that needs larger
    groups than the batch has, and group sampling with a scheme that samples no responses."""
    G = int(getattr(problem, "group_size", 1))
    need = est.min_group_size
    if G > 1:
        if est.sampling != "trajectories":
            raise UserError(f"--group-size {G}: --estimator {est.name} samples {est.sampling}, not responses")
        if batch_size % G:
            raise UserError(f"--batch-size {batch_size}: not a multiple of --group-size {G} (the batch size counts "
                            "responses: prompts x G)")
        if fit_batch_size is not None and fit_batch_size % G:
            raise UserError(f"--fit-batch-size {fit_batch_size}: not a multiple of --group-size {G} (fitting batches "
                            "are drawn in groups too)")
    if need is not None and G < need:
        raise UserError(f"--estimator {est.name}: needs --group-size G >= {need} (G responses per prompt; "
                        f"--batch-size counts responses), got {G}")
