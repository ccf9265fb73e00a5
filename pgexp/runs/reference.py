"""The Monte-Carlo reference gradient: the truth of continuous-state tasks, where no exact gradient exists.

Following Ilyas et al. (2020), the reference is the mean of a very large independent batch:
``reference_batch`` episodes from the job's own reference stream, scored with the registered
``reward_to_go`` estimator and the ``value_learned`` baseline (the unbiased pair with the least variance
there; the value is fitted on a further independent batch of ``min(reference_batch, 1000)`` episodes).
How far the reference itself is from converged is reported: per-coordinate standard errors
``se_k = sd_k(g_i) / sqrt(R)`` and ``reference_rel_se = ||se|| / ||reference||`` (the relative error of the
reference expected from its own noise; ``E||ref - grad J||^2 = ||se||^2``).

The reference's stream hashes the problem (environment, policy, theta, gamma, cap), the reference batch
and the seed -- not the batch size or the estimator -- so one reference serves every cell and estimator
of a job.  It is drawn in chunks of :data:`REFERENCE_CHUNK` episodes (``stream(entropy, c, MAIN)``) so
memory stays bounded.  Estimate tables then carry the reference in the exact gradient's columns
(``grad_exact``, ``J_exact``) plus ``J_exact_se``, ``J_undiscounted``, ``reference_batch``,
``reference_rel_se``, ``reference_env_steps`` and ``reference``, so every metric reads both tracks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.estimators import ESTIMATORS
from pgexp.estimators.batch import step_weights, with_baseline
from pgexp.runs.truth import Truth
from pgexp.sampling.rng import FIT, MAIN, child, job_entropy, stream

REFERENCE_CHUNK = 1000
REFERENCE_ESTIMATOR = ("reward_to_go", "value_learned")
REFERENCE_VALUE_FIT = 1000  # episodes of the reference's value-fitting batch (at most reference_batch)


@dataclass(frozen=True)
class Reference:
    """The Monte-Carlo reference gradient and how converged it is."""

    grad: np.ndarray
    se: np.ndarray          # per-coordinate standard error
    rel_se: float           # ||se|| / ||grad||
    J: float                # mean discounted return
    J_se: float
    batch: int
    env_steps: int
    undiscounted_mean: float

    def truth(self) -> Truth:
        return Truth(self.grad, {"J_exact": self.J, "J_exact_se": self.J_se, "J_undiscounted": self.undiscounted_mean,
                                 "J_star": float("nan"), "reference_batch": int(self.batch),
                                 "reference_rel_se": self.rel_se, "reference_env_steps": int(self.env_steps),
                                 "reference": "~".join(REFERENCE_ESTIMATOR)})


def reference_identity(problem: Any, reference_batch: int, seed: int) -> dict:
    ident = problem.identity()
    return {k: ident[k] for k in ("env", "policy", "gamma", "horizon")} | {
        "role": "reference", "reference_batch": int(reference_batch), "seed": int(seed)}


def reference_gradient(ctx: Any, reference_batch: int, seed: int,
                       tick: Callable[[int], Any] | None = None) -> Reference:
    """Mean of ``reference_batch`` per-episode reward-to-go + learned-value gradients, with standard errors;
    ``tick(n)`` after every chunk of ``n`` episodes."""
    if reference_batch < 2:
        raise UserError(f"--reference-batch: {reference_batch}; allowed: an integer >= 2")
    prob = ctx.problem
    entropy = job_entropy(reference_identity(prob, reference_batch, seed), prob.theta)
    fit_seq = stream(entropy, 0, FIT)
    fit_batch = ctx.sample("trajectories", fit_seq, min(reference_batch, REFERENCE_VALUE_FIT))
    value = ctx.fit_values(fit_batch, child(fit_seq, 2))
    fn = ESTIMATORS[REFERENCE_ESTIMATOR[0]].function
    steps = fit_batch.env_steps
    shift = None
    s1 = np.zeros(prob.policy.dim)
    s2 = np.zeros(prob.policy.dim)
    rets: list[np.ndarray] = []
    undisc = 0.0
    done = 0
    for c in range(-(-reference_batch // REFERENCE_CHUNK)):
        n = min(REFERENCE_CHUNK, reference_batch - done)
        batch = ctx.sample("trajectories", stream(entropy, c, MAIN), n)
        batch = with_baseline(batch, value(batch.states, batch.times), value(batch.next_states, batch.times + 1))
        g = ctx.gradients(batch, step_weights(fn, batch), per_trajectory=True)
        if shift is None:
            shift = g.mean(axis=0)  # centre before accumulating squares: no cancellation
        gc = g - shift
        s1 += gc.sum(axis=0)
        s2 += (gc * gc).sum(axis=0)
        rets.append(batch.returns[:, 0])
        undisc += float(batch.rewards.sum())
        steps += batch.env_steps
        done += n
        if tick is not None:
            tick(n)
    R = done
    mean_c = s1 / R
    var = np.maximum(s2 - R * mean_c * mean_c, 0.0) / (R - 1)
    grad = shift + mean_c  # type: ignore[operator]
    se = np.sqrt(var / R)
    G = np.concatenate(rets)
    norm = float(np.linalg.norm(grad))
    rel = float(np.linalg.norm(se) / norm) if norm > 0 else float("inf")
    return Reference(grad, se, rel, float(G.mean()), float(G.std(ddof=1) / np.sqrt(R)), R, steps, undisc / R)
