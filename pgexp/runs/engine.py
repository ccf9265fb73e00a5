"""The estimate engine: every replicate of a cell in one stack, every estimator~baseline pair on it.

A cell ``(H, N)`` with ``M`` replicates is ``M N`` trajectories.  They are drawn in one compiled call per
chunk of replicates (:class:`~pgexp.sampling.rng.Streams`: replicate ``m``'s batch comes from
``SeedSequence(entropy, spawn_key=(m, MAIN))``, each trajectory from its own xoshiro stream, so a
trajectory is the same drawn alone or in a stack); the baselines and step weights are computed for the
whole stack at once and reduced to per-replicate estimates by one accumulation onto ``(s, a)`` cells
(:meth:`~pgexp.runs.context.TabularContext.block_gradients`).  Every pair of a job sees the same stack
(common random numbers), so a stack is drawn once per cell, not once per pair; baseline values, which do
not depend on the estimator, are computed once per baseline.

Streams of a replicate ``m`` (see :mod:`pgexp.runs.estimate`): ``(m, MAIN)`` the estimate's batch, ``(m, AUX)``
the baselines' independent fitting batch (shared by every pair that fits one, charged to each),
``(m, FIT)`` an estimator's own fit (the actor-critic's critic); their children ``(m, AUX, 2)`` seed the value
fits and ``(m, AUX, 3)`` the bootstrap value of a truncated run.

Estimators and baselines registered ``vectorized=False`` (a plug-in's default) are called once per
replicate with a batch of its own; the stack is still drawn once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pgexp.estimators.baselines import optimal_coefficients
from pgexp.estimators.batch import Batch, step_weights, with_baseline
from pgexp.estimators.correction import Corrected
from pgexp.estimators.practice import PLAIN, Practice, bootstrap_values, cut, normalize_weights
from pgexp.estimators.spec import BaselineChoice, Estimator
from pgexp.sampling.rng import AUX, FIT, MAIN, Streams

CHUNK_STEPS = 1 << 20  # padded steps per stack: ~70 MB of arrays, chunks big enough that Python costs ~1 %


@dataclass(frozen=True)
class Pair:
    """An estimator with its baseline, hyperparameters and batch-level options (validated:
    :func:`pgexp.runs.estimate.check_pairs`)."""

    est: Estimator
    choice: BaselineChoice
    params: Mapping[str, float]
    practice: Practice = PLAIN

    @property
    def label(self) -> str:
        """``estimator~baseline``, and ``~option`` with batch-level options (``norm``, ``cut10-none``, ...)."""
        base = f"{self.est.name}~{self.choice.name}"
        return base if self.practice.plain else f"{base}~{self.practice.label}"

    @property
    def needs_aux(self) -> bool:
        return self.choice.spec.fitted


@dataclass
class Estimates:
    """One pair's estimates over a stack of ``blocks`` replicates.

    Attributes:
        grad: ``(blocks, d)`` batch estimates (``(blocks n, d)`` per trajectory when asked for).
        env_steps: ``(blocks,)`` int64 environment steps each estimate cost (fitting batches included).
        return_mean: ``(blocks,)`` mean ``G_0`` of each batch.
        truncated: ``(blocks,)`` int64 trajectories cut by a cap in each batch.
    """

    grad: np.ndarray
    env_steps: np.ndarray
    return_mean: np.ndarray
    truncated: np.ndarray


def chunk_size(ctx: Any, n: int, replicates: int) -> int:
    """Replicates per stack: about :data:`CHUNK_STEPS` padded steps (continuous-state tasks: one at a time, their
    simulation and per-sample gradients dominate; linear-quadratic problems: about :data:`CHUNK_STEPS` steps)."""
    if getattr(ctx, "track", "tabular") == "lqr":
        return max(1, min(replicates, CHUNK_STEPS // max(n * ctx.steps, 1)))
    if getattr(ctx, "track", "tabular") != "tabular":
        return 1
    from pgexp.sampling.tabular import effective_horizon

    length = max(1, min(effective_horizon(ctx.mdp), 1000))
    return max(1, min(replicates, CHUNK_STEPS // max(n * length, 1)))


def linear_parts(est: Estimator, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """``(u, c)``: the weights at baseline 0, and ``w(0) - w(1)`` -- the direction a baseline multiplies."""
    u = weights_of(est, with_baseline(batch, 0.0, 0.0))
    return u, u - weights_of(est, with_baseline(batch, 1.0, 1.0))


def weights_of(est: Estimator, batch: Batch) -> Any:
    """The estimator's ``(N, L)`` step weights on a stack (or :class:`~pgexp.estimators.correction.Corrected`
    weights and correction): one call if it is vectorised, else one per replicate."""
    if est.vectorized or batch.blocks == 1:
        return step_weights(est.function, batch, est.name)
    parts = [step_weights(est.function, batch.block(k), est.name) for k in range(batch.blocks)]
    if any(isinstance(p, Corrected) for p in parts):
        from pgexp.estimators.correction import score_part

        return Corrected(np.concatenate([score_part(p) for p in parts]),
                         np.concatenate([p.correction for p in parts if isinstance(p, Corrected)]))
    return np.concatenate(parts)


def baseline_values(ctx: Any, choice: BaselineChoice, batch: Batch, aux: Batch | None,
                    streams: Streams) -> tuple[Any, Any]:
    """The baseline's ``(b_h(s_h), b_{h+1}(s_{h+1}))`` on a stack (``streams``: the replicates' ``(m, AUX, 2)``)."""
    fn = choice.spec.values_fn
    if fn is None:
        return 0.0, 0.0
    if choice.spec.vectorized or batch.blocks == 1:
        seq = streams if batch.blocks > 1 else streams.seq(0)
        return fn(ctx, batch, aux, seq, choice.options)
    parts = [with_baseline(sub, *fn(ctx, sub, None if aux is None else aux.block(k), streams.seq(k), choice.options))
             for k, sub in ((k, batch.block(k)) for k in range(batch.blocks))]
    return np.concatenate([p.baseline for p in parts]), np.concatenate([p.baseline_next for p in parts])


def apply_baseline(ctx: Any, choice: BaselineChoice, batch: Batch, aux: Batch | None,
                   seq: np.random.SeedSequence | Streams) -> Batch:
    """The batch with the baseline's values at its steps and their successors (zero after an episode's end)."""
    streams = seq if isinstance(seq, Streams) else None
    if streams is None:
        fn = choice.spec.values_fn
        if fn is None:
            return with_baseline(batch, 0.0, 0.0)
        return with_baseline(batch, *fn(ctx, batch, aux, seq, choice.options))
    return with_baseline(batch, *baseline_values(ctx, choice, batch, aux, streams))


def fit_estimator(ctx: Any, est: Estimator, streams: Streams, k: int) -> tuple[Any, np.ndarray]:
    """The estimator's own fit on its independent stream, one per replicate: ``(fitted, env_steps (blocks,))``."""
    fit = est.fit_fn
    assert fit is not None
    if est.vectorized:
        fitted, steps = fit(ctx, streams if streams.count > 1 else streams.seq(0), k)
        if streams.count == 1:
            return np.asarray(fitted)[None] if isinstance(fitted, np.ndarray) else [fitted], np.array([int(steps)])
        return fitted, np.asarray(steps, dtype=np.int64)
    fits = [fit(ctx, streams.seq(j), k) for j in range(streams.count)]
    return [f for f, _ in fits], np.array([int(s) for _, s in fits], dtype=np.int64)


class Stack:
    """The samples of one chunk of replicates, drawn once and shared by every pair (common random numbers)."""

    def __init__(self, ctx: Any, streams: Streams, n: int, k: int | None, practice: Practice) -> None:
        self.ctx, self.streams, self.n, self.k, self.practice = ctx, streams, n, k, practice
        self.raw: dict[tuple[str, int], Batch] = {}
        self.batches: dict[tuple[str, int], Batch] = {}
        self.boot: dict[str, Any] = {}
        self.fits: dict[str, tuple[Any, np.ndarray]] = {}
        self.baselines: dict[tuple[str, str], tuple[Any, Any]] = {}

    def streams_of(self, *path: int) -> Streams:
        """Every replicate's stream at ``path`` (e.g. ``(AUX, 2)``)."""
        return Streams(self.streams.entropy, self.streams.first, self.streams.count, path)

    def sampled(self, scheme: str, which: int) -> Batch:
        """The ``MAIN`` or ``AUX`` stack of a sampling scheme as drawn (cut after ``T`` steps under ``--truncate``)."""
        key = (scheme, which)
        if key not in self.raw:
            T = self.practice.truncate
            size = self.n if which == MAIN else int(self.k or self.n)
            self.raw[key] = self.ctx.sample(scheme, self.streams_of(which), size, **({"steps": T} if T else {}))
        return self.raw[key]

    def draw(self, scheme: str, which: int) -> Batch:
        """The ``MAIN`` or ``AUX`` stack; under ``--truncate`` its cut episodes completed with the bootstrap value
        (fitted, for ``value_learned``, on the independent stack before that stack is completed itself)."""
        key = (scheme, which)
        if key not in self.batches:
            batch = self.sampled(scheme, which)
            if self.practice.truncate is not None:
                batch = cut(batch, self.practice.truncate, self.bootstrap(scheme))
            self.batches[key] = batch
        return self.batches[key]

    def bootstrap(self, scheme: str) -> Any:
        """``V_boot`` of a truncated run (``None`` for ``none``), one fit per replicate for ``value_learned``."""
        if scheme not in self.boot:
            p = self.practice
            aux = self.sampled(scheme, AUX) if p.bootstrap == "value_learned" else None
            seq = self.streams_of(AUX, 3)
            source: Any = seq if seq.count > 1 else seq.seq(0)
            self.boot[scheme] = bootstrap_values(self.ctx, p, aux, source)
        return self.boot[scheme]

    @property
    def aux_streams(self) -> Streams:
        return self.streams_of(AUX)

    def aux(self, scheme: str) -> Batch:
        return self.draw(scheme, AUX)

    def fit(self, est: Estimator) -> tuple[Any, np.ndarray]:
        if est.name not in self.fits:
            stream = Streams(self.streams.entropy, self.streams.first, self.streams.count, (FIT,))
            self.fits[est.name] = fit_estimator(self.ctx, est, stream, int(self.k or self.n))
        return self.fits[est.name]

    def with_baseline(self, pair: Pair, batch: Batch) -> Batch:
        """``batch`` with the pair's baseline values (computed once per baseline and scheme)."""
        key = (pair.est.sampling, pair.choice.name)
        if key not in self.baselines:
            aux = self.aux(pair.est.sampling) if pair.needs_aux else None
            self.baselines[key] = baseline_values(self.ctx, pair.choice, batch, aux, self.aux_streams.child(2))
        return with_baseline(batch, *self.baselines[key])

    def fused(self, pairs: Sequence[Pair], arrays: bool) -> dict[str, Estimates]:
        """The pairs' estimates by the fused kernels (:mod:`pgexp.estimators.fused`): one compiled pass over the
        stack for all of them, reading the drawn arrays when ``arrays`` (other pairs need them), else simulating."""
        from pgexp.estimators.fused import BASELINE_KINDS, RULES, flat, fused_arrays, fused_stack
        from pgexp.sampling.tabular import effective_horizon, kernel_tables

        ctx, n, B = self.ctx, self.n, self.streams.count
        mdp = ctx.mdp
        S, A = mdp.num_states, mdp.num_actions
        values: dict[str, np.ndarray | None] = {}
        for p in pairs:
            spec = p.choice.spec
            if p.choice.name not in values and spec.table_fn is not None:
                aux = self.aux("trajectories") if spec.fitted else None
                values[p.choice.name] = spec.table_fn(ctx, aux, self.streams_of(AUX, 2), p.choice.options)
        adv = [None if p.est.kernel != "advantage" else
               np.asarray(self.fit(p.est)[0])[:, None] if p.est.fit is not None else ctx.advantage_table[None]
               for p in pairs]
        rules = np.array([RULES[p.est.kernel] for p in pairs], dtype=np.int64)  # type: ignore[index]
        kinds = np.array([BASELINE_KINDS[p.choice.spec.kernel] for p in pairs], dtype=np.int64)  # type: ignore[index]
        lams = np.array([float(p.params.get("lam", 0.0)) for p in pairs])
        coded = (rules, lams, kinds)
        vt, at = flat([values.get(p.choice.name) for p in pairs]), flat(adv)
        W = np.zeros((len(pairs), B, S * A))
        g0_sum = np.zeros(B)
        gamma = float(mdp.gamma)
        if arrays:
            main = self.draw("trajectories", MAIN)
            block = (main.states, main.actions, main.rewards, main.lengths, main.ended, main.final_states)
            fused_arrays(block, n, gamma, ctx.powers(main.shape[1]), S, coded, vt, at, W, g0_sum)
            steps, truncated = main.block_steps, main.block_sums(main.truncated).astype(np.int64)
        else:
            steps, truncated = np.zeros(B, np.int64), np.zeros(B, np.int64)
            limit = effective_horizon(mdp)
            fused_stack(self.streams_of(MAIN).trajectory_seeds(n), n, kernel_tables(ctx.tables), limit,
                        -1 if mdp.horizon is None else int(mdp.horizon), ctx.kind == "episodic", gamma,
                        ctx.powers(limit), coded, vt, at, (W, steps, g0_sum, truncated))
        policy = ctx.problem.policy
        # one pull-back per pair, shaped as the general route's (a matrix product rounds by its shape)
        grads = [policy.score_pullback(ctx.problem.theta, W[j].reshape(B, S, A), pi=ctx.pi) for j in range(len(pairs))]
        out = {}
        for j, p in enumerate(pairs):
            cost = steps.copy()
            if p.est.fit is not None:
                cost += self.fit(p.est)[1]
            if p.needs_aux:
                cost += self.aux("trajectories").block_steps
            out[p.label] = Estimates(grads[j] / n, cost, g0_sum / n, truncated)
        return out

    def estimate(self, pair: Pair, *, per_trajectory: bool = False) -> Estimates:
        """The pair's estimates on this stack (see :class:`Estimates`)."""
        ctx, est, choice = self.ctx, pair.est, pair.choice
        main = self.draw(est.sampling, MAIN)
        steps = main.block_steps.copy()
        fitted = None
        if est.fit is not None:
            fitted, fit_steps = self.fit(est)
            steps += fit_steps
        batch = main.replace(params=pair.params, fitted=fitted)
        if pair.needs_aux or (self.practice.truncate is not None and self.practice.bootstrap == "value_learned"):
            steps += self.aux(est.sampling).block_steps
        if choice.spec.per_coordinate:
            grad = self.per_coordinate(pair, batch, per_trajectory)
        else:
            based = self.with_baseline(pair, batch)
            weights = weights_of(est, based)
            if self.practice.normalize_advantages:  # per batch, as PPO code does (no rescaling)
                weights = normalize_weights(weights, based.mask, based.blocks)
            grad = (ctx.gradients(based, weights, per_trajectory=True) if per_trajectory
                    else ctx.block_gradients(based, weights))
        return Estimates(grad, steps, main.block_sums(main.first_returns) / main.block_size,
                         main.block_sums(main.truncated).astype(np.int64))

    def per_coordinate(self, pair: Pair, batch: Batch, per_trajectory: bool) -> np.ndarray:
        """Greensmith-Bartlett-Baxter per-coordinate constant of each replicate, fitted on its independent batch
        and applied to its own: ``g = U - b (.) C`` (see :mod:`pgexp.runs.estimate`)."""
        ctx = self.ctx
        aux = self.aux(pair.est.sampling).replace(params=pair.params, fitted=batch.fitted)
        u_aux, c_aux = linear_parts(pair.est, aux)
        d = ctx.problem.policy.dim
        U_aux = ctx.gradients(aux, u_aux, per_trajectory=True).reshape(aux.blocks, aux.block_size, d)
        C_aux = ctx.gradients(aux, c_aux, per_trajectory=True).reshape(aux.blocks, aux.block_size, d)
        b = np.stack([optimal_coefficients(U_aux[j], C_aux[j]) for j in range(aux.blocks)])
        u, c = linear_parts(pair.est, batch)
        if per_trajectory:
            rows = batch.block_ids
            return ctx.gradients(batch, u, per_trajectory=True) - b[rows] * ctx.gradients(batch, c,
                                                                                            per_trajectory=True)
        return ctx.block_gradients(batch, u) - b * ctx.block_gradients(batch, c)


def estimate_stack(ctx: Any, pairs: Sequence[Pair], n: int, streams: Streams, *, fit_batch_size: int | None = None,
                   per_trajectory: bool = False, fused: bool = True) -> list[Estimates]:
    """Every pair's estimates on the replicates of ``streams`` (drawn once per set of batch-level options).

    Pairs the fused kernels know (:func:`fusable`) are computed together in one compiled pass; when other pairs
    need the stack as arrays anyway, that pass reads them instead of drawing the stack again.  ``fused=False``
    sends every pair the general route (the two give the same numbers; tests compare them).
    """
    done: dict[str, Estimates] = {}
    for practice in dict.fromkeys(p.practice for p in pairs):
        group = [p for p in pairs if p.practice == practice]
        stack = Stack(ctx, streams, n, fit_batch_size, practice)
        quick = [p for p in group if fused and not per_trajectory and fusable(ctx, p, practice)]
        # the fused kernels simulate ungrouped trajectories themselves: groups are read from the drawn arrays
        arrays = any(p.est.sampling == "trajectories" and p not in quick for p in group) or \
            getattr(ctx.problem, "group_size", 1) > 1
        if quick:
            done.update(stack.fused(quick, arrays))
        for p in group:
            if p.label not in done:
                done[p.label] = stack.estimate(p, per_trajectory=per_trajectory)
    return [done[p.label] for p in pairs]


def fusable(ctx: Any, pair: Pair, practice: Practice) -> bool:
    """Whether the fused kernels compute this pair: a tabular problem, no practice option, a known step-weight
    rule and baseline kind (the spec's ``kernel`` fields)."""
    return (getattr(ctx, "track", "") == "tabular" and practice.plain and pair.est.kernel is not None
            and pair.choice.spec.kernel is not None)


