"""Gradient-estimation jobs: ``M`` independent batch estimates of ``grad J`` with one estimator, on either track.

Random streams (see :mod:`pgexp.sampling.rng`): replicate ``m`` draws its batch from
``SeedSequence(entropy, spawn_key=(m, MAIN))``, the baseline's independent fitting batch (``value_learned``,
``optimal``) from ``(m, AUX)`` and the estimator's own auxiliary fit (the actor-critic's critic) from
``(m, FIT)``; ``entropy`` hashes the problem, theta, horizon, batch size and seed -- not the estimator --
so all estimators of a job see the same trajectories.  Fitting batches have ``fit_batch_size``
trajectories (default: the batch size ``N``, what an on-policy learner has -- one batch, e.g. the
previous iteration's -- for each fit), and every estimate's ``env_steps`` counts them.

**The per-coordinate optimal baseline, for any estimator affine in its baseline.**  With weights
``w(b)`` affine in the baseline values, ``u = w(b = 0)`` and ``c = w(0) - w(1)`` give per-trajectory
gradients ``U_i`` and ``C_i`` with ``g_i(b) = U_i - b (.) C_i`` for a per-coordinate constant ``b``
(Greensmith, Bartlett & Baxter 2004): ``b_k = sum_i U_ik C_ik / sum_i C_ik^2`` minimises each coordinate's
variance.  It is fitted on the independent batch and applied to the estimate's own.

**Practice options** (:mod:`pgexp.estimators.practice`): ``--truncate T`` samples ``T`` steps at most from the
same streams (a cut trajectory is a prefix of the uncut one, so the comparison with the uncut estimator
stays paired), completes the returns of cut episodes with the bootstrap value (fitted, for
``value_learned``, on the independent batch before that batch is completed itself) and only then applies
the baseline; ``--normalize-advantages`` standardises the estimator's weights per batch and rescales them
by the exact ``s + ε`` (``normalize_scale``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from pgexp.errors import UserError
from pgexp.estimators import LAM, Estimator, get_estimator, hyperparameters
from pgexp.estimators.baselines import optimal_coefficients
from pgexp.estimators.batch import Batch, step_weights, with_baseline
from pgexp.estimators.practice import PLAIN, Practice, bootstrap_values, check_practice, cut, normalize_weights
from pgexp.estimators.spec import BaselineChoice, parse_baseline
from pgexp.progress import bar as progress_bar
from pgexp.progress import ticker
from pgexp.runs.context import Truth, make_context
from pgexp.sampling.rng import AUX, FIT, MAIN, child, job_entropy, stream


def stream_identity(problem: Any, batch_size: int, seed: int, purpose: str = "estimate") -> dict:
    """What defines a job's trajectories (never the estimator): the key of its random stream.

    ``purpose`` other than ``"estimate"`` (e.g. a bias-confirmation rerun) gives an independent stream.
    """
    ident = problem.identity()
    out = {k: ident[k] for k in ("env", "features", "policy", "gamma", "horizon")} | {
        "batch_size": int(batch_size), "seed": int(seed)}
    return out if purpose == "estimate" else out | {"purpose": str(purpose)}


@dataclass(frozen=True)
class BatchEstimate:
    """One replicate: the gradient (``(d,)`` batch mean, or ``(N, d)`` per trajectory) and its cost."""

    grad: np.ndarray
    env_steps: int
    return_mean: float
    truncated: int


def linear_parts(est: Estimator, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """``(u, c)``: the weights at baseline 0, and ``w(0) - w(1)`` -- the direction a baseline multiplies."""
    u = step_weights(est.function, with_baseline(batch, 0.0, 0.0), est.name)
    return u, u - step_weights(est.function, with_baseline(batch, 1.0, 1.0), est.name)


def apply_baseline(ctx: Any, choice: BaselineChoice, batch: Batch, aux: Batch | None,
                   seq: np.random.SeedSequence) -> Batch:
    """The batch with the baseline's values at its steps and their successors (zero after an episode's end)."""
    fn = choice.spec.values_fn
    if fn is None:
        return with_baseline(batch, 0.0, 0.0)
    now, nxt = fn(ctx, batch, aux, seq, choice.options)
    return with_baseline(batch, now, nxt)


def estimate_batch(ctx: Any, est: Estimator, baseline: str | BaselineChoice, params: Mapping[str, float] | None,
                   batch_size: int, entropy: int, replicate: int, *, fit_batch_size: int | None = None,
                   per_trajectory: bool = False, practice: Practice = PLAIN,
                   normalize_scale: float | None = None) -> BatchEstimate:
    """One batch estimate with the replicate's common random numbers (see the module docstring).

    ``practice``: the batch-level options; with ``normalize_advantages``, ``normalize_scale`` is the exact
    ``s + ε`` (:func:`pgexp.exact.practice.normalization_scale`).
    """
    choice = baseline if isinstance(baseline, BaselineChoice) else parse_baseline(baseline)
    params = est.params(params)
    k = batch_size if fit_batch_size is None else int(fit_batch_size)
    T = practice.truncate
    batch = ctx.sample(est.sampling, stream(entropy, replicate, MAIN), batch_size, **({"steps": T} if T else {}))
    steps = batch.env_steps
    fitted = None
    fit_fn = est.fit_fn
    if fit_fn is not None:
        fitted, fit_steps = fit_fn(ctx, stream(entropy, replicate, FIT), k)
        steps += int(fit_steps)
    batch = batch.replace(params=params, fitted=fitted)
    aux = None
    aux_seq = stream(entropy, replicate, AUX)
    if choice.spec.fitted or (T is not None and practice.bootstrap == "value_learned"):
        aux = ctx.sample(est.sampling, aux_seq, k, **({"steps": T} if T else {})).replace(params=params, fitted=fitted)
        steps += aux.env_steps
    if T is not None:
        values = bootstrap_values(ctx, practice, aux, child(aux_seq, 3))
        batch = cut(batch, T, values)
        aux = None if aux is None else cut(aux, T, values)
    if choice.spec.per_coordinate:
        u_aux, c_aux = linear_parts(est, aux)  # type: ignore[arg-type]
        b = optimal_coefficients(ctx.gradients(aux, u_aux, per_trajectory=True),
                                 ctx.gradients(aux, c_aux, per_trajectory=True))
        u, c = linear_parts(est, batch)
        grad = ctx.gradients(batch, u, per_trajectory=per_trajectory) - b * ctx.gradients(
            batch, c, per_trajectory=per_trajectory)
    else:
        batch = apply_baseline(ctx, choice, batch, aux, child(aux_seq, 2))
        weights = step_weights(est.function, batch, est.name)
        if practice.normalize_advantages:
            if normalize_scale is None:
                raise ValueError("normalize_advantages needs the exact normalize_scale")
            weights = normalize_weights(weights, batch.mask, normalize_scale)
        grad = ctx.gradients(batch, weights, per_trajectory=per_trajectory)
    return BatchEstimate(grad, steps, float(batch.first_returns.mean()), int(batch.truncated.sum()))


def check_combination(problem: Any, estimator: str, baseline: str, batch_size: int,
                      fit_batch_size: int | None = None,
                      practice: Practice = PLAIN) -> tuple[Estimator, BaselineChoice]:
    """Refuse a meaningless estimator x baseline x objective x track x batch size x practice option, by name."""
    est = get_estimator(estimator)
    kind = make_context(problem).kind
    choice = est.check(baseline, kind, problem.track)
    check_practice(practice, est, choice.name, kind, problem.track)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UserError(f"--batch-size: {batch_size}; allowed: a positive integer")
    if batch_size < choice.spec.min_batch_size:
        raise UserError(f"baseline {choice.spec.name!r} ({choice.spec.doc}): needs --batch-size >= "
                        f"{choice.spec.min_batch_size}")
    if fit_batch_size is not None and (isinstance(fit_batch_size, bool) or int(fit_batch_size) < 1):
        raise UserError(f"--fit-batch-size: {fit_batch_size}; allowed: a positive integer")
    return est, choice


def hyperparameter_columns(est: Estimator, params: Mapping[str, float], n: int) -> dict[str, pa.Array]:
    """One column per hyperparameter of the registry: the value for this estimator, null where it has none."""
    cols = {}
    for name in hyperparameters():
        has = name in params
        cols[name] = pa.array(np.full(n, float(params[name]) if has else np.nan), mask=np.full(n, not has))
    return cols


def practice_scale(problem: Any, est: Estimator, choice: BaselineChoice, params: Mapping[str, float],
                   practice: Practice) -> float | None:
    """The exact ``s + ε`` that rescales a normalised estimate (``None`` without normalisation)."""
    if not practice.normalize_advantages:
        return None
    from pgexp.exact.practice import normalization_scale

    lam = float(params.get(LAM.name, LAM.default))
    return normalization_scale(problem, est.name, choice.name, practice, lam).factor


def run_estimate(problem: Any, estimator: str, baseline: str = "none", *, params: Mapping[str, float] | None = None,
                 batch_size: int, replicates: int, seed: int, fit_batch_size: int | None = None,
                 truth: Truth | None = None, reference_batch: int = 2000, purpose: str = "estimate",
                 progress: bool | None = None, tags: dict[str, str] | None = None,
                 tick: Callable[[int], None] | None = None, practice: Practice = PLAIN) -> pa.Table:
    """``replicates`` batch estimates as a tidy table: one row per replicate (see ``pgexp estimate``).

    ``truth`` (the exact gradient, or a continuous task's reference) is computed when not given;
    ``tags`` are extra constant string columns (e.g. the study's ``env_name``/``theta_name``).  Progress:
    ``tick(1)`` per replicate when given (the caller's bar), else a bar of its own unless ``progress=False``.
    ``practice``: the batch-level options (:mod:`pgexp.estimators.practice`); the truth stays the
    untruncated objective's gradient.
    """
    est, choice = check_combination(problem, estimator, baseline, batch_size, fit_batch_size, practice)
    if isinstance(replicates, bool) or replicates < 1:
        raise UserError(f"--replicates: {replicates}; allowed: a positive integer")
    params = est.params(params)
    ctx = make_context(problem)
    truth = truth if truth is not None else ctx.truth(seed, reference_batch=reference_batch)
    entropy = job_entropy(stream_identity(problem, batch_size, seed, purpose), problem.theta)
    fits = est.needs_fit(choice.spec.name) or practice.bootstrap == "value_learned"
    k = (batch_size if fit_batch_size is None else int(fit_batch_size)) if fits else None
    scale = practice_scale(problem, est, choice, params, practice)
    grads, steps, rets, trunc = [], [], [], []
    own = progress_bar(total=replicates, desc=f"{estimator}~{choice.name}", unit="replicate") \
        if tick is None and progress is not False else None
    tick = tick or ticker(own)
    for m in range(replicates):
        b = estimate_batch(ctx, est, choice, params, batch_size, entropy, m, fit_batch_size=k, practice=practice,
                           normalize_scale=scale)
        grads.append(b.grad)
        steps.append(b.env_steps)
        rets.append(b.return_mean)
        trunc.append(b.truncated)
        tick(1)
    if own is not None:
        own.close()
    n = replicates

    def const(value, dtype=None) -> pa.Array:  # numpy in, so pyarrow never needs to import pandas
        return pa.array(np.full(n, value, dtype=dtype))

    def lists(rows: np.ndarray) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(np.arange(0, rows.size + 1, max(rows.shape[1], 1), dtype=np.int32)),
                                        pa.array(rows.ravel()))

    d = problem.policy.dim
    cols = {
        **{k: const(v, object if isinstance(v, str) else None) for k, v in problem.identity().items()},
        "estimator": const(estimator, object),
        "baseline": const(choice.name, object),
        **hyperparameter_columns(est, params, n),
        "batch_size": const(int(batch_size), np.int64),
        "fit_batch_size": pa.array(np.full(n, k or 0, dtype=np.int64), mask=np.full(n, k is None)),  # null: no fit
        "replicates": const(int(replicates), np.int64),
        "seed": const(int(seed), np.int64),
        "unbiased": const(bool(est.is_unbiased(choice.name, params, ctx.gamma) and practice.plain), np.bool_),
        "normalize_advantages": const(bool(practice.normalize_advantages), np.bool_),
        "normalize_scale": pa.array(np.full(n, scale if scale is not None else np.nan), mask=np.full(n, scale is None)),
        "truncate": pa.array(np.full(n, practice.truncate or 0, dtype=np.int64),
                             mask=np.full(n, practice.truncate is None)),
        "truncate_bootstrap": pa.array([practice.columns()["truncate_bootstrap"]] * n, type=pa.string()),
        **{k: const(v, object) for k, v in (tags or {}).items()},
        "replicate": pa.array(np.arange(n, dtype=np.int64)),
        "grad": lists(np.asarray(grads, dtype=np.float64).reshape(n, d)),
        "env_steps": pa.array(np.asarray(steps, dtype=np.int64)),
        "batch_return_mean": pa.array(np.asarray(rets, dtype=np.float64)),
        "truncated": pa.array(np.asarray(trunc, dtype=np.int64)),
        **{k: const(v, object if isinstance(v, str) else np.int64 if isinstance(v, int) else np.float64)
           for k, v in truth.columns.items()},
        "grad_exact": lists(np.tile(np.asarray(truth.grad, dtype=np.float64), (n, 1))),
    }
    return pa.table(cols)


# Per-replicate columns of an estimate file; every other column is a parameter of the cell (one
# (horizon, batch size) point of the job), constant within the cell.
REPLICATE_COLUMNS = ("replicate", "grad", "env_steps", "batch_return_mean", "truncated", "grad_exact")
CELL_COLUMNS = ("horizon", "batch_size")


def cell_replicates(replicates: int, batch_size: int, min_trajectories: int = 0) -> int:
    """Replicates of a cell: ``max(replicates, ceil(min_trajectories / batch_size))``.

    A per-trajectory variance is estimated from ``replicates x batch_size`` trajectories; when the
    variance comes from rare trajectories (a far reward), its interval holds its level only with
    enough of them in the cell, so small batches get more replicates (see :mod:`pgexp.analysis.metrics`).
    """
    return max(int(replicates), -(-int(min_trajectories) // int(batch_size)))


def scaled_tick(tick: Callable[[int], Any], factor: int) -> Callable[[int], None]:
    """``tick`` advanced ``factor`` units per counted unit (a replicate of batch size ``N`` is ``N`` episodes)."""

    def scaled(k: int) -> None:
        tick(k * factor)

    return scaled


def run_estimate_grid(build: Callable[[int | str | None], Any], horizons: Sequence[int | str | None],
                      batch_sizes: Sequence[int], estimator: str, baseline: str = "none", *,
                      params: Mapping[str, float] | None = None, replicates: int, seed: int,
                      fit_batch_size: int | None = None, reference_batch: int = 2000, purpose: str = "estimate",
                      tags: dict[str, str] | None = None, progress: bool | None = None,
                      practice: Practice = PLAIN, min_trajectories: int = 0) -> pa.Table:
    """One job over a grid of cells (every horizon x every batch size), concatenated.

    Each cell is an independent :func:`run_estimate` with its own random stream (problem, theta,
    horizon, batch size, seed); the truth is computed once per horizon (a continuous task's reference
    serves all its batch sizes).  Every combination is checked before any cell runs.  A cell of batch
    size ``N`` draws :func:`cell_replicates` ``(replicates, N, min_trajectories)`` replicates: at least
    ``min_trajectories`` trajectories (the first ``replicates`` are the same either way).
    """
    problems = [build(h) for h in horizons]
    for prob in problems:
        for n in batch_sizes:
            check_combination(prob, estimator, baseline, n, fit_batch_size, practice)
    cells = [(prob, n) for prob in problems for n in batch_sizes]
    truths: dict[int, Truth] = {}
    tables = []
    # one bar over the whole job: replicates; on continuous-state tasks episodes, the reference's included
    # (it alone can take minutes)
    episodes = any(p.track == "continuous" for p in problems)
    counts = {n: cell_replicates(replicates, n, min_trajectories) for n in batch_sizes}
    total = (len(problems) * reference_batch + len(problems) * sum(counts[n] * n for n in batch_sizes) if episodes
             else sum(counts[n] for _, n in cells))
    with progress_bar(total=total, desc=f"{estimator}~{baseline}", unit="episode" if episodes else "replicate",
                      enabled=None if progress is None else bool(progress)) as bar:
        for prob, n in cells:
            if id(prob) not in truths:
                truths[id(prob)] = make_context(prob).truth(seed, reference_batch=reference_batch,
                                                            tick=bar.update if episodes else None)
            step = n if episodes else 1
            tables.append(run_estimate(prob, estimator, baseline, params=params, batch_size=n, replicates=counts[n],
                                       seed=seed, fit_batch_size=fit_batch_size, truth=truths[id(prob)],
                                       purpose=purpose, tags=tags, tick=scaled_tick(bar.update, step),
                                       practice=practice))
    return pa.concat_tables(tables)
