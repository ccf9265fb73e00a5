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
the baseline; ``--normalize-advantages`` standardises the estimator's weights per batch, as PPO code does, and
records the exact ``s + ε`` of its ``N -> inf`` limit ``E g / (s + ε)`` as ``normalize_scale`` (not applied).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from pgexp import columns as C
from pgexp.errors import UserError
from pgexp.estimators import LAM, Estimator, get_estimator, hyperparameters
from pgexp.estimators.practice import PLAIN, Practice, check_practice, practice_from_label
from pgexp.estimators.spec import BaselineChoice, parse_baseline
from pgexp.progress import bar as progress_bar
from pgexp.runs.context import make_context
from pgexp.runs.engine import Estimates, Pair, chunk_size, estimate_stack
from pgexp.runs.truth import Truth
from pgexp.sampling.rng import MAIN, Streams, job_entropy


def stream_identity(problem: Any, batch_size: int, seed: int, purpose: str = "estimate") -> dict:
    """What defines a job's trajectories (never the estimator): the key of its random stream.

    ``purpose`` other than ``"estimate"`` (e.g. a bias-confirmation rerun) gives an independent stream.
    """
    ident = problem.identity()
    out = {k: ident[k] for k in ("env", "features", "policy", "gamma", "horizon")} | {
        "batch_size": int(batch_size), "seed": int(seed)}
    G = int(getattr(problem, "group_size", 1))
    out = out if G == 1 else out | {"group_size": G}  # groups are other draws (ungrouped identities unchanged)
    return out if purpose == "estimate" else out | {"purpose": str(purpose)}


@dataclass(frozen=True)
class BatchEstimate:
    """One replicate: the gradient (``(d,)`` batch mean, or ``(N, d)`` per trajectory) and its cost."""

    grad: np.ndarray
    env_steps: int
    return_mean: float
    truncated: int


def estimate_batch(ctx: Any, est: Estimator, baseline: str | BaselineChoice, params: Mapping[str, float] | None,
                   batch_size: int, entropy: int, replicate: int, *, fit_batch_size: int | None = None,
                   per_trajectory: bool = False, practice: Practice = PLAIN) -> BatchEstimate:
    """One batch estimate with the replicate's common random numbers (see the module docstring): the engine
    (:mod:`pgexp.runs.engine`) on a stack of one replicate.

    ``practice``: the batch-level options.
    """
    choice = baseline if isinstance(baseline, BaselineChoice) else parse_baseline(baseline)
    pair = Pair(est, choice, est.params(params), practice)
    out = estimate_stack(ctx, [pair], batch_size, Streams(entropy, replicate, 1, (MAIN,)),
                         fit_batch_size=fit_batch_size, per_trajectory=per_trajectory)[0]
    grad = out.grad if per_trajectory else out.grad[0]
    return BatchEstimate(grad, int(out.env_steps[0]), float(out.return_mean[0]), int(out.truncated[0]))


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
    from pgexp.sampling.groups import check_groups

    check_groups(problem, est, int(batch_size), None if fit_batch_size is None else int(fit_batch_size))
    return est, choice


def hyperparameter_columns(est: Estimator, params: Mapping[str, float], n: int) -> dict[str, pa.Array]:
    """One column per hyperparameter of the registry: the value for this estimator, null where it has none."""
    return {name: C.full(float(params[name]) if name in params else None, n, "float") for name in hyperparameters()}


def practice_scale(problem: Any, est: Estimator, choice: BaselineChoice, params: Mapping[str, float],
                   practice: Practice) -> float | None:
    """The exact ``s + ε`` of a normalised estimate's ``N -> inf`` limit ``E g / (s + ε)``, recorded as
    ``normalize_scale`` (``None`` without normalisation)."""
    if not practice.normalize_advantages:
        return None
    from pgexp.exact.practice import normalization_scale

    lam = float(params.get(LAM.name, LAM.default))
    return normalization_scale(problem, est.name, choice.name, practice, lam).factor


PairSpec = str | tuple[str, str]  # "estimator~baseline[~option]" or (estimator, baseline), as the user writes them


def split_pair(spec: PairSpec, practice: Practice) -> tuple[str, str, Practice]:
    """``(estimator, baseline, options)`` of a pair spec: ``estimator~baseline`` takes ``practice`` (the command's
    flags), ``estimator~baseline~OPTION`` its own (``plain``, ``norm``, ``cut10-value_exact``, ...)."""
    if not isinstance(spec, str):
        return spec[0], spec[1], practice
    parts = spec.split("~")
    if len(parts) not in (2, 3) or not all(parts):
        raise UserError(f"--pairs: {spec!r}; allowed: ESTIMATOR~BASELINE or ESTIMATOR~BASELINE~OPTION "
                        "(OPTION: plain, norm, cutT-BOOTSTRAP)")
    return parts[0], parts[1], practice_from_label(parts[2]) if len(parts) == 3 else practice


def check_pairs(problem: Any, pairs: Sequence[PairSpec], batch_size: int, fit_batch_size: int | None,
                practice: Practice, params: Mapping[str, float] | None) -> list[Pair]:
    """Every pair checked (:func:`check_combination`) and resolved with its hyperparameters and options; a pair named
    twice is refused (its rows would be duplicated replicates)."""
    out, seen = [], set()
    for spec in pairs:
        estimator, baseline, own = split_pair(spec, practice)
        est, choice = check_combination(problem, estimator, baseline, batch_size, fit_batch_size, own)
        pair = Pair(est, choice, est.params(params), own)
        if pair.label in seen:
            raise UserError(f"--pairs: {pair.label} is named twice")
        seen.add(pair.label)
        out.append(pair)
    return out


def run_estimate(problem: Any, estimator: str, baseline: str = "none", *, params: Mapping[str, float] | None = None,
                 batch_size: int, replicates: int, seed: int, fit_batch_size: int | None = None,
                 truth: Truth | None = None, reference_batch: int = 2000, purpose: str = "estimate",
                 progress: bool | None = None, tags: dict[str, str] | None = None,
                 tick: Callable[[int], None] | None = None, practice: Practice = PLAIN) -> pa.Table:
    """``replicates`` batch estimates as a tidy table: one row per replicate (see ``pgexp estimate``).

    ``truth`` (the exact gradient, or a continuous task's reference) is computed when not given;
    ``tags`` are extra constant string columns (e.g. the study's ``env_name``/``theta_name``).  Progress:
    ``tick(k)`` per ``k`` replicates when given (the caller's bar), else a bar of its own unless
    ``progress=False``.  ``practice``: the batch-level options (:mod:`pgexp.estimators.practice`); the truth
    stays the untruncated objective's gradient.
    """
    return run_pairs(problem, [(estimator, baseline)], params=params, batch_size=batch_size, replicates=replicates,
                     seed=seed, fit_batch_size=fit_batch_size, truth=truth, reference_batch=reference_batch,
                     purpose=purpose, progress=progress, tags=tags, tick=tick, practice=practice)


def run_pairs(problem: Any, pairs: Sequence[PairSpec], **kw: Any) -> pa.Table:
    """:func:`run_estimate` for several estimator~baseline pairs on the same trajectories: each chunk of
    replicates is drawn once (:mod:`pgexp.runs.engine`) and every pair estimated on it.  The table is the
    pairs' tables one after the other (as if each had been run alone: the numbers are the same)."""
    return pa.concat_tables(pair_tables(problem, pairs, **kw))


def pair_tables(problem: Any, pairs: Sequence[PairSpec], *, params: Mapping[str, float] | None = None,
                batch_size: int, replicates: int, seed: int, fit_batch_size: int | None = None,
                truth: Truth | None = None, reference_batch: int = 2000, purpose: str = "estimate",
                progress: bool | None = None, tags: dict[str, str] | None = None,
                tick: Callable[[int], None] | None = None, practice: Practice = PLAIN) -> list[pa.Table]:
    """:func:`run_pairs`, one table per pair."""
    resolved = check_pairs(problem, pairs, batch_size, fit_batch_size, practice, params)
    if isinstance(replicates, bool) or replicates < 1:
        raise UserError(f"--replicates: {replicates}; allowed: a positive integer")
    ctx = make_context(problem)
    truth = truth if truth is not None else ctx.truth(seed, reference_batch=reference_batch)
    entropy = job_entropy(stream_identity(problem, batch_size, seed, purpose), problem.theta)
    fits = any(pair_fits(p) for p in resolved)
    k = (batch_size if fit_batch_size is None else int(fit_batch_size)) if fits else None
    scales = {p.label: practice_scale(problem, p.est, p.choice, p.params, p.practice) for p in resolved}
    parts: list[list[Estimates]] = []
    label = ", ".join(p.label for p in resolved) if len(resolved) < 3 else f"{len(resolved)} pairs"
    own = progress_bar(total=replicates, desc=label, unit="replicate") \
        if tick is None and progress is not False else None
    step = chunk_size(ctx, batch_size, replicates)
    for first in range(0, replicates, step):
        count = min(step, replicates - first)
        parts.append(estimate_stack(ctx, resolved, batch_size, Streams(entropy, first, count, (MAIN,)),
                                    fit_batch_size=k))
        if tick is not None:
            tick(count)
        elif own is not None:
            own.update(count)
    if own is not None:
        own.close()
    tables = []
    for j, pair in enumerate(resolved):
        est = Estimates(*(np.concatenate([getattr(chunk[j], f) for chunk in parts])
                          for f in ("grad", "env_steps", "return_mean", "truncated")))
        tables.append(pair_table(problem, pair, est, batch_size, k if pair_fits(pair) else None, replicates, seed,
                                 truth, scales[pair.label], tags, ctx.gamma))
    return tables


def pair_fits(pair: Pair) -> bool:
    """Whether the pair draws an independent fitting batch (``--fit-batch-size`` applies to it)."""
    return pair.est.needs_fit(pair.choice.spec.name) or pair.practice.bootstrap == "value_learned"


def pair_table(problem: Any, pair: Pair, est: Estimates, batch_size: int, k: int | None, replicates: int, seed: int,
               truth: Truth, scale: float | None, tags: dict[str, str] | None, gamma: float) -> pa.Table:
    """One pair's rows: the job's parameters, one row per replicate, the truth (see ``pgexp estimate``)."""
    n = replicates
    practice = pair.practice
    scale_mask = np.full(n, scale is None)
    cols = {
        **{key: C.full(v, n) for key, v in problem.identity().items()},
        "estimator": C.full(pair.est.name, n),
        "baseline": C.full(pair.choice.name, n),
        **hyperparameter_columns(pair.est, pair.params, n),
        "batch_size": C.full(int(batch_size), n),
        "group_size": C.full(int(getattr(problem, "group_size", 1)), n),
        "fit_batch_size": C.array(np.full(n, k or 0, dtype=np.int64), np.full(n, k is None)),  # null: no fit
        "replicates": C.full(int(replicates), n),
        "seed": C.full(int(seed), n),
        "unbiased": C.full(bool(pair.est.is_unbiased(pair.choice.name, pair.params, gamma) and practice.plain), n),
        "normalize_advantages": C.full(bool(practice.normalize_advantages), n),
        "normalize_scale": C.array(np.full(n, scale if scale is not None else np.nan), scale_mask),
        "truncate": C.array(np.full(n, practice.truncate or 0, dtype=np.int64), np.full(n, practice.truncate is None)),
        "truncate_bootstrap": C.strings([practice.columns()["truncate_bootstrap"]] * n),
        **{key: C.full(v, n) for key, v in (tags or {}).items()},
        "replicate": C.array(np.arange(n, dtype=np.int64)),
        "grad": C.lists(np.asarray(est.grad, dtype=np.float64).reshape(n, problem.policy.dim)),
        "env_steps": C.array(np.asarray(est.env_steps, dtype=np.int64)),
        "batch_return_mean": C.array(np.asarray(est.return_mean, dtype=np.float64)),
        "truncated": C.array(np.asarray(est.truncated, dtype=np.int64)),
        **{key: C.full(v, n, None if isinstance(v, str) else "int" if isinstance(v, int) else "float")
           for key, v in truth.columns.items()},
        "grad_exact": C.lists(np.tile(np.asarray(truth.grad, dtype=np.float64), (n, 1))),
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


ROW_BYTES = 256  # an estimate table's row besides its two gradients (about 25 columns), in memory


def steps_per_trajectory(problem: Any) -> tuple[int, int]:
    """``(fewest, most)`` steps a trajectory of ``problem`` takes: the horizon the sampler runs (the effective
    one of a discounted problem, a continuous task's time limit), or at least one step where episodes can end
    earlier (an absorbing state: their length is not known without solving the problem)."""
    horizon = getattr(problem, "horizon", None)
    if problem.track == "lqr":  # no episode ends early; a discounted one runs until its tail is negligible
        return (int(horizon), int(horizon)) if horizon is not None else (1, 1000)
    if problem.track != "tabular":
        return 1, int(horizon) if horizon is not None else 1000
    from pgexp.sampling.tabular import effective_horizon

    most = effective_horizon(problem.mdp)
    return (1 if len(problem.mdp.absorbing_states()) else most), most


def batch_width(problem: Any, truncate: int | None = None) -> tuple[int, str]:
    """``(steps, cause)``: how many steps wide a batch's arrays are (:func:`pgexp.sampling.tabular.padded_width`
    on a tabular problem; a continuous task's time limit, 1000 at most: its episodes end) and the option that
    sets it, for an error message."""
    if problem.track != "tabular":
        horizon = getattr(problem, "horizon", None)
        return min(int(horizon) if horizon is not None else 1000, 1000), "--horizon"
    from pgexp.problems.mdp import objective_kind
    from pgexp.sampling.tabular import padded_width

    mdp = problem.mdp
    cut = truncate if objective_kind(mdp) != "finite" else None  # a finite horizon is never cut further
    width = padded_width(mdp, cut)
    kind = objective_kind(mdp)
    if kind == "finite":
        cause = f"--horizon {mdp.horizon}"
    elif cut is not None:
        cause = f"--truncate {cut}"
    elif kind == "discounted":
        cause = f"--gamma {mdp.gamma!r} (the discount's tail is negligible after {width} steps)"
    else:
        cause = "an open-ended episode"
    return width, cause


def check_truth_cost(problem: Any) -> None:
    """Refuse a finite horizon whose exact gradient (the truth every cell is measured against, a recursion of one
    numpy pass per step: :func:`pgexp.memory.exact_horizon_cost`) would take hours, naming ``--horizon``."""
    mdp = getattr(problem, "mdp", None)
    if problem.track != "tabular" or mdp is None or mdp.horizon is None:
        return
    from pgexp.memory import exact_horizon_cost, require_work

    S, A, d, H = mdp.num_states, mdp.num_actions, problem.policy.dim, int(mdp.horizon)
    require_work(exact_horizon_cost(H, S, A, d)[1],
                 f"--horizon {H} (the exact gradient's recursion over {H} steps, {S} states x {A} actions, d = {d})")


def check_grid_budget(cells: Sequence[tuple[Any, int]], counts: Mapping[int, int], replicates: int,
                      min_trajectories: int, pairs: int, fit_batch_size: int | None, reference_batch: int,
                      truncate: int | None = None) -> None:
    """Refuse, before any cell runs, a grid whose memory or work is hopeless (:mod:`pgexp.memory`), naming the
    options of its largest cell: the table holds ``replicates x pairs`` rows of two ``d``-vectors per cell; one
    stack holds at least one replicate's ``N x L`` steps; the work is every trajectory's steps (fitting batches
    included) at the sampler's nominal rate -- with the fewest steps a trajectory can take, so only requests
    that are surely too long are refused."""
    from pgexp.memory import (
        CONTINUOUS_STEPS_PER_SECOND,
        TABULAR_STEPS_PER_SECOND,
        TRAJECTORIES_PER_SECOND,
        require_memory,
        require_work,
    )

    for prob in {id(p): p for p, _ in cells}.values():
        check_truth_cost(prob)
    rows = table = seconds = 0.0
    worst: tuple[float, Any, int] | None = None
    for prob, n in cells:
        fewest, _ = steps_per_trajectory(prob)
        traj = counts[n] * (n + (fit_batch_size or n))  # at most one fitting batch per replicate
        rate = CONTINUOUS_STEPS_PER_SECOND if prob.track == "continuous" else TABULAR_STEPS_PER_SECOND
        cell = max(traj * fewest / rate, traj / TRAJECTORIES_PER_SECOND)
        seconds += cell
        rows += counts[n] * pairs
        table += counts[n] * pairs * (ROW_BYTES + 16.0 * prob.policy.dim)
        width, cause = batch_width(prob, truncate)
        stack = 48.0 * n * width + 32.0 * n  # one replicate's padded steps and its trajectories' seeds
        if worst is None or cell > worst[0]:
            worst = (cell, prob, n)
        require_memory(stack, f"{cause} x --batch-size {n} (one replicate of {n} trajectories x {width} steps)")
    if worst is None:
        return
    continuous = {id(p) for p, _ in cells if p.track == "continuous"}
    seconds += reference_batch * len(continuous) / CONTINUOUS_STEPS_PER_SECOND  # the references' episodes
    _, prob, n = worst
    many = (f"--min-trajectories {min_trajectories} (so {counts[n]} replicates at --batch-size {n})"
            if counts[n] > replicates else f"--replicates {replicates} x --batch-size {n}")
    horizon = prob.mdp.horizon if prob.track == "tabular" else prob.horizon
    what = f"{many} x {len(cells)} cell(s) x {pairs} pair(s) (horizon {horizon if horizon is not None else 'inf'})"
    require_memory(2 * table, f"{what}: {rows:.3g} table rows")  # the rows, and their concatenation
    require_work(seconds, what)


def run_estimate_grid(build: Callable[[int | str | None], Any], horizons: Sequence[int | str | None],
                      batch_sizes: Sequence[int], estimator: str, baseline: str = "none", **kw: Any) -> pa.Table:
    """:func:`run_grid` for one estimator~baseline pair."""
    return run_grid(build, horizons, batch_sizes, [(estimator, baseline)], **kw)


def run_grid(build: Callable[[int | str | None], Any], horizons: Sequence[int | str | None],
             batch_sizes: Sequence[int], pairs: Sequence[PairSpec], *,
             params: Mapping[str, float] | None = None, replicates: int, seed: int,
             fit_batch_size: int | None = None, reference_batch: int = 2000, purpose: str = "estimate",
             tags: dict[str, str] | None = None, progress: bool | None = None,
             practice: Practice = PLAIN, min_trajectories: int = 0) -> pa.Table:
    """One job over a grid of cells (every horizon x every batch size) and every pair, concatenated pair by pair.

    Each cell has its own random stream (problem, theta, horizon, batch size, seed), drawn once for all pairs
    (:func:`run_pairs`); the truth is computed once per horizon (a continuous task's reference serves all its
    batch sizes and pairs).  Every combination is checked before any cell runs.  A cell of batch size ``N``
    draws :func:`cell_replicates` ``(replicates, N, min_trajectories)`` replicates: at least ``min_trajectories``
    trajectories (the first ``replicates`` are the same either way).
    """
    if not pairs:
        raise UserError("--pairs: empty; give at least one estimator~baseline pair")
    problems = [build(h) for h in horizons]
    for prob in problems:
        for n in batch_sizes:
            check_pairs(prob, pairs, n, fit_batch_size, practice, params)
    cells = [(prob, n) for prob in problems for n in batch_sizes]
    counts = {n: cell_replicates(replicates, n, min_trajectories) for n in batch_sizes}
    check_grid_budget(cells, counts, replicates, min_trajectories, len(pairs), fit_batch_size, reference_batch,
                      practice.truncate)
    truths: dict[int, Truth] = {}
    per_pair: list[list[pa.Table]] = [[] for _ in pairs]
    # one bar over the whole job: replicates; on continuous-state tasks episodes, the reference's included
    # (it alone can take minutes)
    episodes = any(p.track == "continuous" for p in problems)
    total = (len(problems) * reference_batch + len(problems) * sum(counts[n] * n for n in batch_sizes) if episodes
             else sum(counts[n] for _, n in cells))
    desc = "~".join(pairs[0]) if len(pairs) == 1 else f"{len(pairs)} pairs"
    with progress_bar(total=total, desc=desc, unit="episode" if episodes else "replicate",
                      enabled=None if progress is None else bool(progress)) as bar:
        for prob, n in cells:
            if id(prob) not in truths:
                truths[id(prob)] = make_context(prob).truth(seed, reference_batch=reference_batch,
                                                            tick=bar.update if episodes else None)
            step = n if episodes else 1
            tables = pair_tables(prob, pairs, params=params, batch_size=n, replicates=counts[n], seed=seed,
                                 fit_batch_size=fit_batch_size, truth=truths[id(prob)], purpose=purpose, tags=tags,
                                 tick=scaled_tick(bar.update, step), practice=practice)
            for j, t in enumerate(tables):
                per_pair[j].append(t)
    return pa.concat_tables([t for tables in per_pair for t in tables])
