"""Gradient-estimation jobs on continuous-state environments, against a Monte-Carlo reference.

There is no exact gradient, so (Ilyas et al. 2020) the reference is the mean of a very large
independent batch: ``reference_batch`` episodes from the job's own reference stream, scored with
reward-to-go and a learned value baseline (the unbiased estimator with the least variance here; the
value is fitted on a further independent batch).  How far the reference itself is from converged is
reported: per-coordinate standard errors ``se_k = sd_k(g_i) / sqrt(R)`` and
``reference_rel_se = ||se|| / ||reference||`` (the relative error of the reference expected from its own
noise; ``E||ref - grad J||^2 = ||se||^2``).

Replicate ``m`` of a cell draws its batch from ``stream(entropy, m, MAIN)`` and any fitting batch
(learned value) from ``(m, AUX)``, where ``entropy`` hashes the environment, policy, theta, gamma, cap,
batch size and seed -- not the estimator, so estimators are compared on the same episodes.  The
reference hashes the same without the batch size (one reference per job, shared by all cells and
estimators) and is drawn in chunks of :data:`REFERENCE_CHUNK` episodes (``stream(ref_entropy, c, MAIN)``)
so memory stays bounded.

The output has the columns of a tabular estimate file -- ``grad``, ``grad_exact`` (= the reference),
``J_exact`` (= the reference's mean discounted return), ``batch_size``, ``horizon`` ... -- so
:func:`pgexp.metrics.job_metrics` / ``metrics_frame`` compute cosine similarity, relative MSE etc.
against the reference unchanged; plus ``reference_batch``, ``reference_rel_se``, ``J_exact_se``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from pgexp.deep.estimators import (
    fit_value,
    get_deep_estimator,
    step_weights,
)
from pgexp.deep.policy import ObsMLPPolicy, make_obs_policy
from pgexp.deep.sampler import Episodes, GymTask, child, gym_task, sample_episodes
from pgexp.errors import UserError
from pgexp.progress import bar as progress_bar
from pgexp.sampling.rng import AUX, MAIN, job_entropy, stream

REFERENCE_CHUNK = 1000
REFERENCE_ESTIMATOR = ("reward_to_go", "value_learned")
REFERENCE_VALUE_FIT = 1000  # episodes of the reference's value-fitting batch (at most reference_batch)
REF_CHILD = 2               # replicate-stream child of the reference's value-fitting batch


def set_threads(threads: int | None) -> None:
    """Respect the job's thread count (torch intra-op threads); ``None`` leaves torch's default."""
    if threads is not None:
        if int(threads) < 1:
            raise UserError(f"--threads: {threads}; allowed: a positive integer")
        torch.set_num_threads(int(threads))


@dataclass(frozen=True, eq=False)
class DeepProblem:
    """A continuous-state environment, a policy over its observations and the point ``theta``."""

    task: GymTask
    policy: ObsMLPPolicy
    theta: np.ndarray
    theta_spec: str
    gamma: float
    horizon: int  # effective episode cap min(cap, the environment's time limit)

    def identity(self) -> dict:
        return {"env": self.task.name, "features": "obs", "policy": self.policy.name, "theta": self.theta_spec,
                "gamma": float(self.gamma), "horizon": int(self.horizon), "dim": int(self.policy.dim)}

    def sample(self, n: int, seq: np.random.SeedSequence, theta: np.ndarray | None = None) -> Episodes:
        th = self.theta if theta is None else theta
        return sample_episodes(self.task, self.policy.probs_fn(th), n, seq, self.horizon)


def deep_theta(spec: str | np.ndarray | None, policy: ObsMLPPolicy) -> tuple[np.ndarray, str]:
    """``init`` (default: the network's seeded initialisation) | ``zeros`` | ``random:seed=S,scale=X`` | ``PATH.npy``."""
    if isinstance(spec, np.ndarray):
        theta = np.asarray(spec, dtype=np.float64).reshape(-1)
        if theta.shape != (policy.dim,):
            raise UserError(f"theta has {theta.size} entries; this policy has dim = {policy.dim}")
        return theta, "array"
    text = "init" if spec is None else str(spec).strip()
    if text == "init":
        return policy.default_theta(), "init"
    from pgexp.policies.theta import make_theta

    return make_theta(text, policy.dim), text


def build_deep_problem(env: str, policy: str | None = None, theta: str | np.ndarray | None = None, *,
                       gamma: float | None = None, horizon: int | str | None = None) -> DeepProblem:
    """``env``: ``gym:CartPole-v1`` / ``CartPole-v1``; ``gamma`` defaults to 0.99; ``horizon`` caps episodes
    (``None``/``inf``: the environment's own time limit)."""
    task = gym_task(env)
    pol = make_obs_policy(policy, task.obs_dim, task.num_actions)
    th, th_spec = deep_theta(theta, pol)
    g = 0.99 if gamma is None else float(gamma)
    if not 0.0 <= g <= 1.0:
        raise UserError(f"--gamma: {gamma!r}; allowed: a number in [0, 1]")
    if isinstance(horizon, str):
        horizon = None if horizon.strip().lower() in {"inf", "none", ""} else int(horizon)
    return DeepProblem(task, pol, th, th_spec, g, task.horizon(horizon))


# --------------------------------------------------------------------------- one batch

@dataclass(frozen=True)
class DeepBatch:
    """One batch estimate: ``grad`` (``(d,)`` mean or ``(N, d)`` per trajectory), cost and returns."""

    grad: np.ndarray
    env_steps: int
    return_mean: float        # mean discounted return G_0 of the batch
    undiscounted_mean: float  # mean undiscounted return
    truncated: int            # episodes ended by the time limit / cap rather than termination


def batch_estimate(prob: DeepProblem, estimator: str, baseline: str, lam: float, n: int,
                   main: np.random.SeedSequence, aux: np.random.SeedSequence | None, *,
                   theta: np.ndarray | None = None, per_trajectory: bool = False) -> DeepBatch:
    """Sample ``n`` episodes from ``main`` (and, for ``value_learned``, ``n`` more from ``aux`` for the fit)."""
    th = prob.theta if theta is None else theta
    get_deep_estimator(estimator).check(baseline, n)
    ep = prob.sample(n, main, th)
    extra = 0
    value = None
    if baseline == "value_learned":
        if aux is None:
            raise ValueError("value_learned needs an auxiliary stream")
        fit_ep = prob.sample(n, aux, th)
        value = fit_value(fit_ep, prob.gamma, prob.horizon, child(aux, 7))
        extra = fit_ep.env_steps
    w, G0 = step_weights(estimator, baseline, ep, prob.gamma, lam, value)
    pol = prob.policy
    if per_trajectory:
        g = pol.trajectory_gradients(th, ep.obs, ep.actions, w)
    else:
        g = pol.batch_gradient(th, ep.obs, ep.actions, w)
    return DeepBatch(g, ep.env_steps + extra, float(G0.mean()), float(ep.undiscounted_returns().mean()),
                     int(ep.truncated.sum()))


# --------------------------------------------------------------------------- reference

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


def reference_identity(prob: DeepProblem, reference_batch: int, seed: int) -> dict:
    ident = prob.identity()
    return {k: ident[k] for k in ("env", "policy", "gamma", "horizon")} | {
        "role": "reference", "reference_batch": int(reference_batch), "seed": int(seed)}


def deep_reference(prob: DeepProblem, reference_batch: int, seed: int,
                   tick: Callable[[int], None] | None = None) -> Reference:
    """Mean of ``reference_batch`` per-episode reward-to-go + learned-value gradients, with standard errors.

    ``tick(n)`` after every chunk of ``n`` episodes (a progress bar's ``update``)."""
    if reference_batch < 2:
        raise UserError(f"--reference-batch: {reference_batch}; allowed: an integer >= 2")
    entropy = job_entropy(reference_identity(prob, reference_batch, seed), prob.theta)
    fit_n = min(reference_batch, REFERENCE_VALUE_FIT)
    fit_ep = prob.sample(fit_n, stream(entropy, 0, REF_CHILD))
    value = fit_value(fit_ep, prob.gamma, prob.horizon, child(stream(entropy, 0, REF_CHILD), 7))
    steps = fit_ep.env_steps
    shift = None
    s1 = np.zeros(prob.policy.dim)
    s2 = np.zeros(prob.policy.dim)
    rets: list[np.ndarray] = []
    undisc = 0.0
    done = 0
    for c in range(-(-reference_batch // REFERENCE_CHUNK)):
        n = min(REFERENCE_CHUNK, reference_batch - done)
        ep = prob.sample(n, stream(entropy, c, MAIN))
        w, G0 = step_weights(*REFERENCE_ESTIMATOR, ep, prob.gamma, 1.0, value)
        g = prob.policy.trajectory_gradients(prob.theta, ep.obs, ep.actions, w)
        if shift is None:
            shift = g.mean(axis=0)  # centre before accumulating squares: no cancellation
        gc = g - shift
        s1 += gc.sum(axis=0)
        s2 += (gc * gc).sum(axis=0)
        rets.append(G0)
        undisc += float(ep.undiscounted_returns().sum())
        steps += ep.env_steps
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


# --------------------------------------------------------------------------- job

def stream_identity(prob: DeepProblem, batch_size: int, seed: int) -> dict:
    ident = prob.identity()
    return {k: ident[k] for k in ("env", "policy", "gamma", "horizon")} | {"batch_size": int(batch_size), "seed": int(seed)}


def _lists(rows: np.ndarray) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(np.arange(0, rows.size + 1, max(rows.shape[1], 1), dtype=np.int32)),
                                    pa.array(rows.ravel()))


def deep_estimate(env_id: str, policy_spec: str | None = None, theta: str | np.ndarray | None = None,
                  estimator: str = "reward_to_go", baseline: str = "none", lam: float = 0.95,
                  batch_sizes: Sequence[int] = (10, 100), replicates: int = 50, seed: int = 0,
                  reference_batch: int = 2000, gamma: float | None = 0.99, horizon: int | str | None = None,
                  threads: int | None = None, *, reference: Reference | None = None,
                  tags: dict[str, str] | None = None) -> pa.Table:
    """``replicates`` batch estimates per batch size against the Monte-Carlo reference; one row per replicate.

    ``theta``: ``init`` (default) | ``zeros`` | ``random:seed=S,scale=X`` | ``PATH.npy`` | an array.
    ``reference`` reuses a reference computed by :func:`deep_reference` for the same problem.
    """
    set_threads(threads)
    prob = build_deep_problem(env_id, policy_spec, theta, gamma=gamma, horizon=horizon)
    est = get_deep_estimator(estimator)
    if replicates < 1:
        raise UserError(f"--replicates: {replicates}; allowed: a positive integer")
    if not 0.0 <= float(lam) <= 1.0:
        raise UserError(f"--lam: {lam!r}; allowed: a number in [0, 1]")
    for n in batch_sizes:
        est.check(baseline, int(n))
    # one bar over the episodes of the reference and of every replicate (the reference alone can take minutes)
    total = (0 if reference is not None else reference_batch) + replicates * sum(int(n) for n in batch_sizes)
    bar = progress_bar(total=total, desc=f"{estimator}~{baseline}", unit="episode")
    ref = reference if reference is not None else deep_reference(prob, reference_batch, seed, bar.update)
    ident = prob.identity()
    tables = []
    for n in batch_sizes:
        n = int(n)
        entropy = job_entropy(stream_identity(prob, n, seed), prob.theta)
        grads, steps, rets, trunc = [], [], [], []
        for m in range(replicates):
            aux = stream(entropy, m, AUX) if baseline == "value_learned" else None
            b = batch_estimate(prob, estimator, baseline, lam, n, stream(entropy, m, MAIN), aux)
            grads.append(b.grad)
            steps.append(b.env_steps)
            rets.append(b.return_mean)
            trunc.append(b.truncated)
            bar.update(n)
        M = replicates
        is_gae = estimator == "gae"

        def const(value, dtype=None, M=M) -> pa.Array:
            return pa.array(np.full(M, value, dtype=dtype))

        cols = {
            **{k: const(v, object if isinstance(v, str) else None) for k, v in ident.items()},
            "estimator": const(estimator, object),
            "baseline": const(baseline, object),
            "lam": pa.array(np.full(M, float(lam) if is_gae else np.nan), mask=np.full(M, not is_gae)),
            "batch_size": const(n, np.int64),
            "replicates": const(int(replicates), np.int64),
            "seed": const(int(seed), np.int64),
            "unbiased": const(bool(est.unbiased(baseline, lam)), np.bool_),
            **{k: const(v, object) for k, v in (tags or {}).items()},
            "replicate": pa.array(np.arange(M, dtype=np.int64)),
            "grad": _lists(np.asarray(grads, dtype=np.float64).reshape(M, prob.policy.dim)),
            "env_steps": pa.array(np.asarray(steps, dtype=np.int64)),
            "batch_return_mean": pa.array(np.asarray(rets, dtype=np.float64)),
            "truncated": pa.array(np.asarray(trunc, dtype=np.int64)),
            "J_exact": const(ref.J, np.float64),
            "J_exact_se": const(ref.J_se, np.float64),
            "J_undiscounted": const(ref.undiscounted_mean, np.float64),
            "J_star": const(np.nan, np.float64),
            "reference_batch": const(int(ref.batch), np.int64),
            "reference_rel_se": const(ref.rel_se, np.float64),
            "reference_env_steps": const(int(ref.env_steps), np.int64),
            "reference": const(f"{REFERENCE_ESTIMATOR[0]}~{REFERENCE_ESTIMATOR[1]}", object),
            "grad_exact": _lists(np.tile(ref.grad, (M, 1))),
        }
        tables.append(pa.table(cols))
    bar.close()
    return pa.concat_tables(tables)
