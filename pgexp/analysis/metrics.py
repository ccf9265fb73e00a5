"""Quality of a gradient estimator against the exact gradient, with bootstrap confidence intervals.

Input: ``M`` independent batch estimates ``g_m`` (``(M, d)``, each the mean of ``N`` trajectories), what
each cost in environment steps ``s_m`` (``(M,)``), and the exact ``grad J``.  Metrics:

============================= ======================================================================
``trace_cov``                 ``tr Cov(g)``, unbiased sample covariance of the batch estimate
``var_per_traj``              ``N * trace_cov``: the variance of one trajectory's estimate (i.i.d. batches)
``work_normalized_variance``  ``trace_cov * mean_m s_m``: variance of the batch estimate times what it
                              cost (squared gradient norm x environment steps).  At a budget of ``W``
                              environment steps one affords ``W / s`` batches, whose average has variance
                              ``trace_cov * s / W``: the estimator with the smaller product wins at any
                              equal budget (Glynn & Whitt 1992, the efficiency of a simulation estimator).
                              ``s`` counts every trajectory an estimate used, fitting batches included.
``bias_sq``                   ``||mean(g) - grad J||^2 - trace_cov / M``: unbiased for ``||E g - grad J||^2``
                              (may be slightly negative for an unbiased estimator)
``mse``                       ``mean_m ||g_m - grad J||^2``
``rel_mse``                   ``mse / ||grad J||^2``
``cosine``                    ``mean_m cos(g_m, grad J)``: depends on ``N`` (more trajectories, better aligned)
``snr``                       ``||grad J||^2 / trace_cov``: signal-to-noise of the batch mean
``length_k``                  ``k = <mean(g), grad J> / ||grad J||^2``: the mean's length along ``grad J`` (1: unbiased)
``rel_length_bias_sq``        ``(k - 1)^2 - Var(a) / M`` (``a_m = <g_m, grad J> / ||grad J||^2``): unbiased for
                              ``(k - 1)^2``, the part of ``||E g - grad J||^2 / ||grad J||^2`` along ``grad J``
``rel_direction_bias_sq``     ``bias_sq / ||grad J||^2 - rel_length_bias_sq``: the orthogonal part (unbiased)
``angle_deg``                 angle between ``E g`` and ``grad J``: ``atan2(sqrt(rel_direction_bias_sq), k)``
``var_per_traj_equal_length`` ``var_per_traj / k^2``: the per-trajectory variance of ``g / k``, at equal mean length
============================= ======================================================================

Length and direction.  ``E g - grad J = (k - 1) grad J + b_perp``, so ``||E g - grad J||^2 / ||grad J||^2 =
(k - 1)^2 + ||b_perp||^2 / ||grad J||^2``: a bias along ``grad J`` only rescales the step (the learning rate absorbs
it), one orthogonal to it turns the step.  ``mean(a)`` is unbiased for ``k`` and ``(mean a - 1)^2`` overestimates
``(k - 1)^2`` by ``Var(a) / M``, which is subtracted; the orthogonal part is the rest of the unbiased ``bias_sq``.
A variance compared across estimators of different mean length compares step sizes too; ``g / k`` has the mean
length of ``grad J``, and its variance is ``var_per_traj / k^2``.

Intervals
---------
``bias_sq``, ``mse``, ``rel_mse`` and ``cosine`` get BCa intervals over replicates: those of
:func:`scipy.stats.bootstrap`, computed by :func:`pgexp.analysis.resampling.bca` (the same draws and
numbers, faster).  Every metric is a function of per-replicate sufficient statistics, so a resample
is a vector of counts and one matrix product evaluates every metric.

The variance-type metrics (``trace_cov``, ``var_per_traj``, ``work_normalized_variance`` and ``snr``,
the inverse of ``trace_cov``) get a *studentised* bootstrap interval on the log scale instead.  Why:
when a gradient's variance comes from rare trajectories (a far reward that one batch in fifty
reaches), the sample variance rests on the few replicates that hold them.  A sample that happens
to hold fewer of them has a smaller variance *and* a bootstrap distribution built from the same few
values, so the BCa upper limit falls short: in the default study BCa covered the exact
per-trajectory variance in 86 % of the cells at ``N = 4``.  The studentised interval pivots on

    T = (log v* - log v) / se*,    se^2 = Var_m(q_m / v) / M    (q_m = ||g_m - mean g||^2, v = mean q),

the delta-method (influence-function) standard error recomputed in every resample, so a resample
that lost the large replicates also has a small ``se*`` and a large ``|T|``: the interval
``[v exp(-T_{1-a/2} se), v exp(-T_{a/2} se)]`` stretches upwards exactly when the variance is carried
by few replicates.  It is second-order accurate (Hall 1992, ch. 3; Efron & Tibshirani 1993, §12.5-12.6
recommend it with a log transform for variances).  ``q_m`` is centred at the full-sample mean (the
resample's own centre changes ``q`` by ``O(1/M)``).  For ``work_normalized_variance`` the influence
function adds ``s_m / mean s``.

Intervals need enough rare trajectories as well as a good method: a cell of batch size ``N`` holds
``M N`` trajectories, so the study draws more replicates at small ``N``
(:func:`pgexp.runs.estimate.cell_replicates`, config ``min_trajectories``).  ``var_ess`` =
``(sum q)^2 / sum q^2`` says how many replicates carry the variance (``M / 3`` for Gaussian
estimates; a handful when rare trajectories dominate).  The coverage of these intervals against
the exact variances is checked by simulation in ``tests/analysis/test_metrics.py`` and reported per batch
size and per environment in the study report.

Bias test and its confirmation
------------------------------
(:mod:`pgexp.analysis.bias`.)  ``bias_max_z`` is the largest per-coordinate ``|mean - grad J| / SE``
(:func:`~pgexp.analysis.bias.bias_z`); ``bias_flagged`` is ``bias_max_z > bias_bound(dim)``, a Bonferroni bound
at family-wise false-alarm rate :data:`~pgexp.analysis.bias.BIAS_ALPHA` over the coordinates.  Heavy tails make
the normal z-test fire on unbiased estimators, so a flagged cell of an estimator the registry calls unbiased is
rerun (:func:`~pgexp.analysis.bias.confirm_bias`) with ``>= 10 x`` the replicates on an independent random
stream; ``bias_confirmed`` is true only when the rerun is flagged too.

How often does the first-stage z-test fire on an unbiased cell?  Its nominal family-wise rate is
:data:`~pgexp.analysis.bias.BIAS_ALPHA`, but heavy tails break the normal approximation (the default study once
had 25 flags in 1 710 unbiased cells where 0.17 were expected).  ``bias_null_rate`` measures the rate for each
cell's own distribution by the null bootstrap (:func:`~pgexp.analysis.bias.bias_null_rate`): the replicates
shifted onto ``grad J``, resampled, tested.  Summed over the unbiased cells it is the number of flags to expect
when nothing is biased, which the report states beside the count of flags.

The rerun's z-test uses the *exact* standard error of each coordinate's mean wherever the exact engine
gives the estimator's covariance (:func:`pgexp.exact.moments.trajectory_moments`; every pair but the
fitted ``optimal`` and ``value_learned`` baselines), the sample one otherwise (``bias_rerun_se``).  Why:
a coordinate whose mean is carried by a rare large contribution (a goal reached by one trajectory in
10^4, weight ``V``, probability ``q``) has a sample standard error that misses it whenever the sample
misses the event, while the sample mean is then off by about ``q V``.  Against the exact standard error
``sqrt(q V^2 / (N M))`` that offset is ``sqrt(q N M)`` standard errors -- the square root of the expected
number of such events: below 1 when the sample is likely to miss them, so no false alarm; and when they
are expected many times, they are in the sample and the normal approximation holds.  Measured on
FrozenLake (random θ, H = 10, N = 4, 8000 replicates): reward_to_go~value_exact has max |z| = 11.2
with the sample standard error -- a 10x rerun "confirms" a bias that 20 000 replicates do not show --
and below the bound with the exact one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pgexp.analysis.bias import BIAS_NULL_RESAMPLES, Rerun, bias_bound, bias_null_rate, bias_z, confirm_bias, max_bias_z
from pgexp.analysis.bias_rerun import tabular_rerun
from pgexp.analysis.resampling import bca, bca_limits, bootstrap_seed
from pgexp.analysis.variance_intervals import STUDENTISED, Sufficient, studentised_variance_intervals, variance_ess

if TYPE_CHECKING:
    import pandas as pd

METRICS = ("bias_sq", "trace_cov", "var_per_traj", "work_normalized_variance", "mse", "rel_mse", "cosine", "snr",
           "length_k", "rel_length_bias_sq", "rel_direction_bias_sq", "angle_deg", "var_per_traj_equal_length")


def estimator_metrics(G: np.ndarray, g_true: np.ndarray, batch_size: int, *, steps: np.ndarray | None = None,
                      confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                      variance_only: bool = False) -> dict[str, float]:
    """Point estimates and ``[lo, hi]`` of :data:`METRICS`, plus the bias test and ``var_ess``.

    ``variance_only``: intervals for the studentised variance metrics (:data:`STUDENTISED`) only -- the same
    intervals as without it; the other metrics' ``_lo``/``_hi`` and ``bias_null_rate`` are NaN (no BCa, no null
    bootstrap: for tables read for the coverage of the variance intervals only, such as the held-out ones).

    ``G`` ``(M, d)``: batch estimates; ``g_true`` ``(d,)``; ``steps`` ``(M,)``: environment steps of
    each estimate (``None``: unknown, and ``work_normalized_variance`` is NaN).  ``bias_max_z`` is the
    largest per-coordinate ``|mean - grad J| / SE`` over the testable coordinates (:func:`bias_z`),
    ``bias_flagged`` whether it exceeds :func:`bias_bound`; ``bias_untestable`` counts the coordinates
    left out.
    """
    G = np.asarray(G, dtype=np.float64)
    g_true = np.asarray(g_true, dtype=np.float64)
    M = G.shape[0]
    steps_arr = np.full(M, np.nan) if steps is None else np.asarray(steps, dtype=np.float64)
    suff = Sufficient(G, g_true, batch_size, steps_arr)
    point = suff.evaluate(np.ones(M))
    out: dict[str, float] = {}
    if M >= 3:
        if variance_only:
            lo, hi = np.full(len(METRICS), np.nan), np.full(len(METRICS), np.nan)
        else:
            with np.errstate(all="ignore"):  # degenerate samples (zero variance) give NaN intervals, handled below
                res = bca(suff.evaluate, M, n_resamples=n_resamples, confidence=confidence,
                          rng=np.random.default_rng(seed))
            lo, hi = bca_limits(res, point, confidence)
        for name, (a, b) in studentised_variance_intervals(suff, confidence=confidence, n_resamples=n_resamples,
                                                           seed=seed).items():
            i = METRICS.index(name)
            lo[i], hi[i] = a, b
    else:
        lo = hi = np.full(len(METRICS), np.nan)
    for name, p, a, b in zip(METRICS, point, lo, hi):
        if variance_only and name not in STUDENTISED:  # not computed: no interval, not a zero-width one
            out[name], out[f"{name}_lo"], out[f"{name}_hi"] = float(p), float("nan"), float("nan")
            continue
        if np.isnan(a) or np.isnan(b):  # no resample gave a finite value (NaN point): no interval
            a = b = p if not np.isnan(p) else np.nan
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = float(p), float(min(a, p)), float(max(b, p))
    if steps is None:
        for key in ("work_normalized_variance", "work_normalized_variance_lo", "work_normalized_variance_hi"):
            out[key] = float("nan")
    out["var_ess"] = variance_ess(G)
    out["bias_max_z"], out["bias_untestable"] = max_bias_z(G, g_true)
    out["bias_flagged"] = bool(out["bias_max_z"] > bias_bound(G.shape[1]))
    out["bias_null_rate"] = float("nan") if variance_only else bias_null_rate(G, g_true, seed=seed)
    out["bias_null_resamples"] = BIAS_NULL_RESAMPLES
    # tail diagnostic of the worst coordinate: a large excess kurtosis makes a z "flag" a likely false alarm
    z, testable = bias_z(G, g_true)
    if testable.any() and M > 3:
        k = int(np.flatnonzero(testable)[np.argmax(z[testable])])
        col = G[:, k] - G[:, k].mean()
        var = np.mean(col**2)
        out["bias_kurtosis"] = float(np.mean(col**4) / var**2 - 3.0) if var > 0 else float("nan")
    else:
        out["bias_kurtosis"] = float("nan")
    out["grad_norm_exact"] = float(np.linalg.norm(g_true))
    out["mean_grad_norm"] = float(np.linalg.norm(G.mean(axis=0)))
    return out


class EstimateCells:
    """An estimate table split into its cells, with each column read once.

    A cell is one pair (:data:`pgexp.tables.PAIR_COLUMNS`) at one (horizon, batch size) point
    (:data:`pgexp.runs.estimate.CELL_COLUMNS`).  :attr:`cells` lists each cell's row positions: pairs in
    the order they first appear, then the points in ascending order, rows in table order -- so a table
    holding several pairs gives the cells, in the order, of one table per pair.
    """

    def __init__(self, df: pd.DataFrame):
        from pgexp.runs.estimate import CELL_COLUMNS, REPLICATE_COLUMNS
        from pgexp.tables import pair_columns

        self.df = df
        n = len(df)
        self.params = {k: df[k].to_numpy() for k in df.columns if k not in REPLICATE_COLUMNS}
        self._grad_rows = df["grad"].to_numpy()
        try:  # one array for the table when every estimate has the same length (one problem), else per cell
            self._grad: np.ndarray | None = np.stack(self._grad_rows) if n else None
        except ValueError:
            self._grad = None
        self.grad_exact = df["grad_exact"].to_numpy()
        self.env_steps = df["env_steps"].to_numpy()
        self.batch_return = df["batch_return_mean"].to_numpy()
        pcols = pair_columns(df.columns)
        pair = (df.groupby(pcols, sort=False, dropna=False).ngroup().to_numpy() if pcols and n
                else np.zeros(n, dtype=np.int64))
        keys = [pair, *(df[c].to_numpy() for c in CELL_COLUMNS if c in df.columns)]
        order = np.lexsort(keys[::-1])  # stable: by pair, then horizon, then batch size; rows keep their order
        change = np.zeros(n, dtype=bool)
        for k in keys:
            ks = k[order]
            change[1:] |= ks[1:] != ks[:-1]
        self.cells = np.split(order, np.flatnonzero(change)) if n else []

    def grad(self, pos: np.ndarray) -> np.ndarray:
        """The estimates of rows ``pos``, ``(len(pos), d)``."""
        return self._grad[pos] if self._grad is not None else np.stack(self._grad_rows[pos])

    def row_params(self, pos: np.ndarray) -> dict[str, Any]:
        """The cell's constant columns (the values of its first row), its replicates and mean cost and return."""
        import pandas as pd

        i = int(pos[0])
        row: dict[str, Any] = {k: v[i] for k, v in self.params.items()}
        row["replicates"] = len(pos)
        row["env_steps_mean"] = float(pd.Series(self.env_steps[pos]).mean())      # pandas' mean, as ever
        row["batch_return_mean"] = float(pd.Series(self.batch_return[pos]).mean())
        return row


def seed_text(name: str, value: Any) -> str:
    """``str(value)`` for a cell's bootstrap seed, with the integer value of a whole float in a nullable integer
    column (:data:`pgexp.tables.NULLABLE_INTEGER_COLUMNS`: ``16.0`` where a table of several pairs made it float)."""
    from pgexp.tables import NULLABLE_INTEGER_COLUMNS

    if name in NULLABLE_INTEGER_COLUMNS and isinstance(value, (float, np.floating)) and np.isfinite(value) \
            and float(value).is_integer():
        return str(int(value))
    return str(value)


def cell_metrics(cells: EstimateCells, pos: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 2000,
                 rerun: Rerun | None = None, variance_only: bool = False) -> dict[str, Any]:
    """One metrics row from the rows ``pos`` of one cell of ``cells`` (see :func:`job_metrics`;
    ``variance_only``: see :func:`estimator_metrics`)."""
    row = cells.row_params(pos)
    seed = bootstrap_seed(sorted((k, seed_text(k, v)) for k, v in row.items()))
    row.update(estimator_metrics(cells.grad(pos), np.asarray(cells.grad_exact[pos[0]], dtype=np.float64),
                                 int(row["batch_size"]), steps=cells.env_steps[pos].astype(np.float64),
                                 confidence=confidence, n_resamples=n_resamples, seed=seed,
                                 variance_only=variance_only))
    needed = rerun is not None and row.get("bias_flagged") and bool(row.get("unbiased", False))
    row.update(confirm_bias(row, cells.df.iloc[pos].reset_index(drop=True) if needed else cells.df.iloc[:0], rerun))
    row["confidence"] = confidence
    return row


def job_metrics(df: pd.DataFrame, *, confidence: float = 0.95, n_resamples: int = 2000,
                rerun: Rerun | None = None) -> dict[str, Any]:
    """One metrics row from one cell's replicate rows (the file alone suffices).

    ``rerun``: how to redraw the cell on an independent stream for the bias confirmation
    (:func:`tabular_rerun` for tabular estimates; ``None``: no rerun, ``bias_confirmed`` false).
    """
    return cell_metrics(EstimateCells(df), np.arange(len(df)), confidence=confidence, n_resamples=n_resamples,
                        rerun=rerun)


def sweep_label(horizon: int, batch_size: int, reference_horizon: int | str | None,
                reference_batch_size: int | None) -> str:
    """Which figure sweep a cell belongs to: ``horizon`` (at the reference batch size), ``batch`` (at the
    reference horizon; ``"any"``: every horizon, e.g. a task's own time limit), ``both`` (the reference
    cell) or ``grid`` (neither)."""
    in_h = reference_batch_size is not None and batch_size == reference_batch_size
    in_n = reference_horizon == "any" or (reference_horizon is not None and horizon == reference_horizon)
    return "both" if in_h and in_n else "horizon" if in_h else "batch" if in_n else "grid"


def has_exact_gradient(df: pd.DataFrame) -> bool:
    """A tabular estimate file (exact ``grad J``), not one measured against a Monte-Carlo reference."""
    return not ({"reference", "reference_batch"} & set(df.columns))


def metrics_frame(frames: list[pd.DataFrame], *, reference_horizon: int | str | None = None,
                  reference_batch_size: int | None = None, confirm: bool = True, **kw: Any) -> pd.DataFrame:
    """One row per cell: per estimate file, per pair in it, per (horizon, batch size) point of its grid
    (:class:`EstimateCells`: a file of several pairs gives the rows of one file per pair).

    ``horizon`` is ``-1`` for an infinite horizon (as in the estimate files).  ``confirm``: rerun the
    flagged cells of registry-unbiased estimators (tabular files only; see :func:`confirm_bias`).
    """
    import pandas as pd

    rows = []
    for df in frames:
        rerun = tabular_rerun if confirm and has_exact_gradient(df) else None
        cells = EstimateCells(df)
        for pos in cells.cells:
            row = cell_metrics(cells, pos, rerun=rerun, **kw)
            row["sweep"] = sweep_label(int(row["horizon"]), int(row["batch_size"]), reference_horizon,
                                       reference_batch_size)
            rows.append(row)
    return pd.DataFrame(rows)
