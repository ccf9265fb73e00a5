"""The confirming rerun of a tabular cell flagged biased (:func:`pgexp.analysis.bias.confirm_bias`): its
replicates again on an independent stream, and the exact standard errors of the mean estimate that the rerun is
judged with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


BIAS_PURPOSE = "bias_check"  # names the rerun's independent random stream (pgexp.runs.estimate.stream_identity)


def exact_standard_errors(problem: Any, estimator: str, baseline: str, lam: float, batch_size: int,
                          replicates: int, params: dict[str, float] | None = None) -> np.ndarray | None:
    """Exact standard errors ``(d,)`` of the coordinates' means over ``replicates`` batches of ``batch_size``;
    ``None`` where the exact engine does not give this estimator's covariance (or the fitted ``optimal``,
    whose exact counterpart is the oracle, a smaller variance).  Batches sampled in groups
    (``problem.group_size > 1``) take the group engine's covariance (:mod:`pgexp.exact.groups`)."""
    from pgexp.errors import UserError
    from pgexp.exact.moments import SUPPORTED, trajectory_moments

    if estimator == "all_action" or baseline in ("q_exact", "q_fitted"):  # the action-dependent engines
        return action_standard_errors(problem, estimator, baseline, lam, batch_size, replicates)
    G = int(getattr(problem, "group_size", 1))
    if G > 1:
        from pgexp.exact.group_rules import RULES
        from pgexp.exact.groups import group_moments

        if (estimator, baseline) not in RULES:
            return None
        try:
            cov = group_moments(problem, estimator, baseline, group_size=G, params=params, full=False).cov(
                batch_size // G)
        except (UserError, ValueError):
            return None
        return np.sqrt(np.maximum(cov, 0.0) / replicates)
    if getattr(problem, "track", "tabular") == "lqr":  # the Gaussian moment recursion (scalar systems)
        from pgexp.exact.lqr_moments import SUPPORTED as LQR_PAIRS
        from pgexp.exact.lqr_moments import scalar_moments

        if baseline == "optimal" or baseline not in LQR_PAIRS.get(estimator, ()) or not problem.system.scalar:
            return None
        return np.sqrt(np.maximum(np.diag(scalar_moments(problem, estimator, baseline, lam).batch_cov(batch_size)),
                                  0.0) / replicates)
    if baseline == "optimal" or baseline not in SUPPORTED.get(estimator, ()):
        return None
    try:
        mom = trajectory_moments(problem, estimator, baseline, lam=lam, full=False)
        var = np.asarray(mom.batch_cov(batch_size), dtype=np.float64)
    except (UserError, ValueError):  # too large for the recursion, or N = 1 with the leave-one-out constant
        return None
    var = np.diag(var) if var.ndim == 2 else var
    return np.sqrt(np.maximum(var, 0.0) / replicates)


def action_standard_errors(problem: Any, estimator: str, baseline: str, lam: float, batch_size: int,
                           replicates: int) -> np.ndarray | None:
    """:func:`exact_standard_errors` of an action-dependent pair (:mod:`pgexp.exact.action_dependent`, or
    :mod:`pgexp.exact.lqr_action_dependent` on a scalar linear-quadratic problem); ``None`` for a fitted critic."""
    from pgexp.errors import UserError

    if baseline != "q_exact":
        return None
    try:
        if getattr(problem, "track", "tabular") == "lqr":
            from pgexp.exact import lqr_action_dependent as la

            if not problem.system.scalar or not la.covers(estimator, baseline):
                return None
            cov = np.diag(la.trajectory_moments(problem, estimator, baseline, lam=lam).cov)
        else:
            from pgexp.exact import action_dependent as ad

            if baseline not in ad.SUPPORTED.get(estimator, ()):
                return None
            cov = np.asarray(ad.trajectory_moments(problem, estimator, baseline, lam=lam, full=False).cov)
    except (UserError, ValueError):
        return None
    return np.sqrt(np.maximum(cov, 0.0) / (batch_size * replicates))


def tabular_rerun(cell: pd.DataFrame, replicates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Rerun one cell of a tabular estimate file on the independent :data:`BIAS_PURPOSE` stream.

    Every job parameter is a column of the file: the problem is rebuilt from ``env``, ``features``,
    ``policy``, ``theta``, ``gamma``, ``horizon`` and the estimate redrawn with the same estimator,
    baseline, lambda, batch size and seed.  Returns the redrawn estimates ``(replicates, d)``, the exact
    gradient ``(d,)`` and the exact standard errors of :func:`exact_standard_errors` (``(d,)`` or ``None``).
    """
    from pgexp.estimators import hyperparameters
    from pgexp.problems.problem import build_problem
    from pgexp.runs.estimate import run_estimate

    r = cell.iloc[0]
    h = int(r["horizon"])
    problem = build_problem(str(r["env"]), features=str(r["features"]), policy=str(r["policy"]), theta=str(r["theta"]),
                            gamma=float(r["gamma"]), horizon="inf" if h < 0 else h)
    if "group_size" in r.index and _given(r["group_size"]) and int(r["group_size"]) > 1:
        from pgexp.sampling.groups import with_group_size

        problem = with_group_size(problem, int(r["group_size"]))
    params = {k: float(r[k]) for k in hyperparameters() if k in r.index and _given(r[k])}
    fit = int(r["fit_batch_size"]) if "fit_batch_size" in r.index and _given(r["fit_batch_size"]) else None
    table = run_estimate(problem, str(r["estimator"]), str(r["baseline"]), params=params,
                         batch_size=int(r["batch_size"]), replicates=replicates, seed=int(r["seed"]),
                         fit_batch_size=fit, progress=False, purpose=BIAS_PURPOSE)
    G = np.stack(table.column("grad").to_numpy(zero_copy_only=False)).astype(np.float64)
    se = exact_standard_errors(problem, str(r["estimator"]), str(r["baseline"]), params.get("lam", 0.95),
                               int(r["batch_size"]), replicates, params)
    return G, np.asarray(table.column("grad_exact")[0].as_py(), dtype=np.float64), se


def _given(v: Any) -> bool:
    """A cell value that is set (not null / NaN / NA)."""
    import pandas as pd

    return not bool(pd.isna(v))
