"""The kinds of table pgexp writes and reads: one registry, so every reader checks what it is given.

A command that reads tables (``metrics``, ``slopes``, ``compare``, ``curves``, ``plot``, ``report``,
``aggregate``) names the kind it expects; :func:`check_frame` (called by :func:`pgexp.io.read_frame`)
refuses a table of another kind, or an empty one where rows are needed, with one line naming the file
and what was expected -- not a ``KeyError`` deep inside the analysis.

Each :class:`TableKind` lists

* ``required`` -- the columns its readers use (a table missing any is not of this kind);
* ``columns``  -- for the tables that take ``--tag NAME=VALUE`` (``estimate``, ``train``, ``exact_variance``,
  ``decomposition``), every column the producer writes: a tag may not reuse one of these names
  (``--tag seed=7`` would turn the seed into a string).  ``tests/docs/test_docs.py`` checks that real
  outputs have no column outside this list and that every column is documented in ``docs/columns.md``.

Tables written without the study's ``--tag env_name=... --tag theta_name=...`` are labelled by their
problem: ``env_name`` defaults to ``env`` and ``theta_name`` to ``theta`` on reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgexp.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

# label columns set by the study's tags; a table without them is labelled by its problem
LABEL_DEFAULTS = {"env_name": "env", "theta_name": "theta"}
# the problem's identity (pgexp.problems.problem.Problem.identity), first columns of every job table
IDENTITY = ("env", "features", "policy", "theta", "gamma", "horizon", "dim")
# What tells the estimator~baseline pairs of an estimate table apart: the estimator, its baseline, every
# hyperparameter of the registry (pgexp.estimators.hyperparameters; null where the estimator has none) and the
# practice options (pgexp.estimators.practice.Practice.columns).  A table may hold several pairs (one job that
# runs them all on common random numbers); its readers (metrics, slopes, compare, the practice audit) group
# by these columns first, so such a table gives the rows that one table per pair gives.
PAIR_COLUMNS = ("estimator", "baseline", "lam", "std_ddof", "eps", "length_norm", "dynamic_sampling",
                "normalize_advantages", "truncate", "truncate_bootstrap")
# Integer columns of an estimate table that are null for some pairs (no fitting batch, no truncation).  pandas
# reads such a column as float64 when the table holds pairs with and without a value, so a reader that turns a
# cell's values into an identity (a bootstrap seed) reads these as integers again.
NULLABLE_INTEGER_COLUMNS = ("fit_batch_size", "truncate")


@dataclass(frozen=True)
class TableKind:
    """A kind of table: who writes it, the columns its readers need, and (for tagged tables) all its columns."""

    name: str
    what: str
    required: tuple[str, ...]
    columns: tuple[str, ...] = ()
    may_be_empty: bool = False
    min_replicates: int = 0  # per (horizon, batch_size) cell: a variance needs at least two


ESTIMATE_COLUMNS = (
    *IDENTITY,
    "estimator",
    "baseline",
    "lam",
    # the group estimators' hyperparameters (pgexp.estimators.groups)
    "std_ddof",
    "eps",
    "length_norm",
    "dynamic_sampling",
    "batch_size",
    "group_size",
    "fit_batch_size",
    "replicates",
    "seed",
    "unbiased",
    # practice options (pgexp.estimators.practice)
    "normalize_advantages",
    "normalize_scale",
    "truncate",
    "truncate_bootstrap",
    "replicate",
    "grad",
    "env_steps",
    "batch_return_mean",
    "truncated",
    "J_exact",
    "J_star",
    "grad_exact",
    # continuous-state tasks: a Monte-Carlo reference stands in for the exact gradient
    "J_exact_se",
    "J_undiscounted",
    "reference_batch",
    "reference_rel_se",
    "reference_env_steps",
    "reference",
)
TRAIN_COLUMNS = (
    *IDENTITY,
    "estimator",
    "baseline",
    "lam",
    "std_ddof",
    "eps",
    "length_norm",
    "dynamic_sampling",
    "batch_size",
    "group_size",
    "fit_batch_size",
    "step_size",
    "optimizer",
    "seed",
    "iterations",
    "iteration",
    "J",
    "env_steps",
    "grad_norm",
    "step_norm",
    "diverged",
    "J_star",
    "J_0",
    "run_diverged",
    # continuous-state tasks: J is the evaluation return
    "eval_episodes",
    "eval_return",
    "eval_return_se",
    "batch_return_mean",
    # the training options and where a run ended (pgexp.runs.train)
    "num_states",
    "num_actions",
    "update",
    "baseline_offset",
    "baseline_step_size",
    "value_features",
    "record_every",
    "engine",
    "diverged_reason",
    "final_policy",
    "final_policy_prob",
    "final_policy_J",
    "final_policy_optimal",
    "trace_pi",
)

KINDS: dict[str, TableKind] = {
    k.name: k
    for k in (
        TableKind(
            "estimate",
            "an estimate table (written by pgexp estimate)",
            (
                "env",
                "estimator",
                "baseline",
                "horizon",
                "batch_size",
                "seed",
                "replicate",
                "grad",
                "grad_exact",
                "env_steps",
                "batch_return_mean",
                "J_exact",
            ),
            columns=ESTIMATE_COLUMNS,
            min_replicates=2,
        ),
        TableKind(
            "train",
            "a training table (written by pgexp train)",
            (
                "env",
                "estimator",
                "baseline",
                "step_size",
                "seed",
                "iteration",
                "J",
                "J_0",
                "J_star",
                "env_steps",
                "diverged",
                "run_diverged",
            ),
            columns=TRAIN_COLUMNS,
        ),
        TableKind(
            "metrics",
            "a metrics table (written by pgexp metrics)",
            (
                "env",
                "estimator",
                "baseline",
                "horizon",
                "batch_size",
                "sweep",
                "bias_sq",
                "trace_cov",
                "var_per_traj",
                "mse",
                "cosine",
                "snr",
            ),
        ),
        TableKind(
            "slopes",
            "a slopes table (written by pgexp slopes)",
            ("estimator", "baseline", "batch_size", "slope", "slope_lo", "slope_hi"),
            may_be_empty=True,
        ),
        TableKind(
            "exact_variance",
            "an exact-variance table (written by pgexp exact-curves)",
            ("estimator", "baseline", "horizon", "var_per_traj_exact"),
            columns=("estimator", "baseline", "horizon", "batch_size", "lam", "var_per_traj_exact", "bias_sq_exact",
                     "trace_cov_exact", "mse_exact", "rel_mse_exact", "snr_exact", "cosine_normal", "cosine_normal_se",
                     "method", "dim", "rewards_same_sign", "discount_one", "p_end_before_h", "h3_assumptions_hold"),
            may_be_empty=True,
        ),
        TableKind(
            "comparisons",
            "a comparisons table (written by pgexp compare)",
            ("estimator_a", "baseline_a", "estimator_b", "baseline_b", "var_ratio", "mse_diff"),
            may_be_empty=True,
        ),
        TableKind(
            "decomposition",
            "a decomposition table (written by pgexp decompose)",
            ("horizon", "estimator", "baseline", "skipped_reason"),
            columns=(
                "horizon",
                "estimator",
                "baseline",
                "lam",
                "step",
                "initial_state",
                "actions",
                "transitions",
                "total",
                "initial_state_share",
                "actions_share",
                "transitions_share",
                "skipped_reason",
            ),
            may_be_empty=True,
        ),
        TableKind(
            "tucker",
            "a Tucker decomposition table (written by pgexp tucker)",
            ("horizon", "estimator", "baseline", "sigma_tau", "sigma_a", "sigma_s"),
            columns=("horizon", "estimator", "baseline", "lam", "step", "sigma_tau", "sigma_a", "sigma_s", "total",
                     "sigma_tau_share", "sigma_a_share", "sigma_s_share", "trace_cov", "cross_time"),
        ),
        TableKind(
            "gae_lambda_tradeoff",
            "a GAE lambda trade-off table (written by pgexp lambda-tradeoff)",
            ("estimator", "value", "lam", "batch_size", "bias_sq", "trace_cov", "mse", "best"),
            columns=("estimator", "horizon", "value", "perturbation", "lam", "batch_size", "bias_sq", "trace_cov",
                     "var_per_traj", "mse", "rel_mse", "snr", "best"),
            may_be_empty=True,
        ),
        TableKind(
            "practice_audit",
            "a practice-audit table (written by pgexp practice-audit)",
            ("env_name", "choice", "variant", "estimator", "baseline", "option", "reference", "batch_size",
             "rel_bias_sq", "trace_cov", "mse", "cosine_mean", "variance_ratio", "bias_share"),
        ),
        TableKind(
            "normalization_bias",
            "a normalisation-bias table (written by pgexp normalization-bias)",
            ("estimator", "baseline", "batch_size", "enumerated", "cosine_mean_exact", "rel_bias_norm_exact",
             "rate_slope"),
            columns=("env", "gamma", "horizon", "estimator", "baseline", "batch_size", "scale", "enumerated",
                     "cosine_mean_exact", "angle_deg_exact", "cosine_limit_exact", "length_ratio_exact",
                     "rel_bias_norm_exact", "rel_bias_sq_exact", "length_k_exact", "length_k_limit_exact",
                     "rel_trace_cov_exact", "rel_trace_cov_plain_exact", "rate_slope", "rate_slope_se", "rate_n_min",
                     "rate_n_max", "replicates", "bias_sq", "bias_sq_lo", "bias_sq_hi", "rel_bias_sq",
                     "rel_bias_sq_lo", "rel_bias_sq_hi", "trace_cov", "trace_cov_lo", "trace_cov_hi", "cosine_mean",
                     "cosine_mean_lo", "cosine_mean_hi", "confidence"),
        ),
        TableKind(
            "sign_flip",
            "a sign-flip search table (written by pgexp sign-flip)",
            ("features", "gamma", "horizon", "samples", "flips", "flip_fraction", "flip_lo", "flip_hi"),
        ),
        TableKind(
            "learning_curves",
            "a learning-curves table (written by pgexp curves --curves)",
            ("estimator", "baseline", "step_size", "iteration", "progress", "progress_lo", "progress_hi"),
        ),
        TableKind(
            "training_summary",
            "a training-summary table (written by pgexp curves --summary)",
            ("estimator", "baseline", "step_size", "final_progress", "selected"),
        ),
        TableKind(
            "performance_profiles",
            "a performance-profiles table (written by pgexp curves --profiles)",
            ("estimator", "baseline", "tau", "fraction", "fraction_lo", "fraction_hi"),
        ),
    )
}


def check_frame(df: pd.DataFrame, kind: str, source: str) -> pd.DataFrame:
    """``df`` (read from ``source``) if it is a table of ``kind``; labels filled in; else a :class:`UserError`."""
    spec = KINDS[kind]
    if len(df) == 0:
        if spec.may_be_empty:
            return df
        raise UserError(f"{source}: has no rows; expected {spec.what} with at least one row")
    for label, src in LABEL_DEFAULTS.items():
        if label not in df.columns and src in df.columns:
            df[label] = df[src].astype(str)
    missing = [c for c in spec.required if c not in df.columns]
    if missing:
        raise UserError(f"{source}: not {spec.what}; missing column(s) {', '.join(missing)}")
    if kind == "estimate":
        check_counts(df, source, {"horizon": (1, "a positive integer or -1 (inf)"),
                                  "batch_size": (1, "an integer >= 1"), "replicate": (0, "an integer >= 0"),
                                  "env_steps": (0, "an integer >= 0")})
        check_estimates(df, source)
    if kind == "train":
        check_counts(df, source, {"iteration": (0, "an integer >= 0"), "batch_size": (1, "an integer >= 1")})
        run = [c for c in (*IDENTITY, *PAIR_COLUMNS, "batch_size", "fit_batch_size", "step_size", "optimizer", "seed")
               if c in df.columns and c != "dim"]
        # and every label a job added (--tag env_name=..., arm=...: text columns; tables of several jobs concatenated)
        run += [c for c in df.columns if c not in run and c not in TRAIN_COLUMNS and isinstance(df[c].iloc[0], str)]
        dup = df.duplicated([*run, "iteration"], keep="first").to_numpy()
        if dup.any():
            i = int(dup.argmax())
            row = df.iloc[i]
            raise UserError(f"{source}: row {i}: iteration {row['iteration']} of run (seed {row.get('seed')}, "
                            f"step size {row.get('step_size')}) appears twice; allowed: each run's iteration once (a "
                            "copied run would narrow every band)")
    if spec.min_replicates:  # per pair and cell (a table may hold several pairs)
        keys = [*pair_columns(df.columns), "horizon", "batch_size"]
        counts = df.groupby(keys, sort=True, dropna=False)["replicate"].nunique()
        few = counts[counts < spec.min_replicates]
        if len(few):
            key, k = next(iter(few.items()))
            h, n = key[-2:]
            raise UserError(
                f"{source}: cell (horizon {h}, batch size {n}) has {k} replicate(s); a variance needs "
                f"--replicates >= {spec.min_replicates}"
            )
    return df


def check_counts(df: pd.DataFrame, source: str, columns: dict[str, tuple[int, str]]) -> None:
    """Each of ``columns`` (those present) holds whole numbers ``>= low`` (``horizon``: ``-1`` too, infinite),
    refused naming the file, the row and what is allowed."""
    import numpy as np

    for column, (low, allowed) in columns.items():
        if column not in df.columns:
            continue
        try:
            x = df[column].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            raise UserError(f"{source}: column {column} holds something other than numbers; allowed: {allowed}") \
                from None
        bad = ~np.isfinite(x) | (x != np.round(x)) | ((x < low) & ~((column == "horizon") & (x == -1)))
        if bad.any():
            i = int(bad.argmax())
            raise UserError(f"{source}: row {i}: {column} {df[column].iloc[i]}; allowed: {allowed}")


def cell_columns(df: pd.DataFrame) -> list[str]:
    """What identifies one cell of an estimate table: the problem (:data:`IDENTITY`), the seed, the pair with its
    options (:data:`PAIR_COLUMNS`), the batch size and fitting batch size -- those present."""
    keys = [*IDENTITY, "seed", *PAIR_COLUMNS, "batch_size", "fit_batch_size"]
    return [c for c in keys if c in df.columns and c != "dim"]


def describe_row(df: pd.DataFrame, i: int) -> str:
    """Row ``i`` as a reader finds it: its position, pair, horizon, batch size and replicate."""
    row = df.iloc[i]
    pair = f"{row['estimator']}~{row['baseline']}" if {"estimator", "baseline"} <= set(df.columns) else ""
    parts = [f"row {i}", pair, *(f"{c} {row[c]}" for c in ("horizon", "batch_size", "replicate") if c in df.columns)]
    return " ".join(p for p in parts if p).replace("batch_size", "batch size")


def stacked(df: pd.DataFrame, column: str, source: str) -> tuple[Any, Any]:
    """``(values, lengths)``: a list column's entries one after the other, and each row's length; a row that is
    not a list of numbers is refused naming it."""
    import numpy as np

    try:
        arrays = [np.asarray(v, dtype=np.float64).reshape(-1) for v in df[column].to_numpy()]
    except (TypeError, ValueError):
        raise UserError(f"{source}: column {column} holds something other than lists of numbers") from None
    lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
    return (np.concatenate(arrays) if arrays else np.zeros(0)), lengths


def check_estimates(df: pd.DataFrame, source: str) -> None:
    """What an estimate table's readers rely on, refused in one line naming the file and the row: finite
    gradients (``grad`` and ``grad_exact``; a NaN would make every metric NaN and the cosine 0), one length for all
    of them (``dim``), one ``grad_exact`` per problem and seed (the truth a cell is measured against), and no
    replicate twice in a cell (a copied row would narrow every interval)."""
    import numpy as np

    dims = set()
    for column in ("grad", "grad_exact"):
        values, lengths = stacked(df, column, source)
        dims |= set(np.unique(lengths).tolist())
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.searchsorted(np.cumsum(lengths), int(np.argmax(bad)), side="right"))
            raise UserError(f"{source}: {describe_row(df, row)}: {column} has a non-finite value "
                            f"({values[int(np.argmax(bad))]}); an estimate table holds finite gradients")
    if "dim" in df.columns:
        dims |= set(df["dim"].astype(np.int64).unique().tolist())
    if len(dims) != 1:
        raise UserError(f"{source}: gradients of different lengths {sorted(dims)} (column dim, grad, grad_exact); "
                        "an estimate table holds one problem's gradients")
    d = dims.pop()
    exact = np.stack([np.asarray(v, dtype=np.float64) for v in df["grad_exact"].to_numpy()]).reshape(len(df), d)
    truth_keys = [c for c in (*IDENTITY, "seed") if c in df.columns and c != "dim"]
    group = df.groupby(truth_keys, sort=False, dropna=False).ngroup().to_numpy()
    first = np.zeros(group.max() + 1, dtype=np.int64)
    first[group[::-1]] = np.arange(len(df))[::-1]  # the first row of each group
    differs = np.any(exact != exact[first[group]], axis=1)
    if differs.any():
        i = int(np.argmax(differs))
        raise UserError(f"{source}: {describe_row(df, i)}: grad_exact differs from row {int(first[group[i]])} of the "
                        f"same problem; allowed: one exact gradient per problem ({', '.join(truth_keys)})")
    dup = df.duplicated([*cell_columns(df), "replicate"], keep="first").to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        raise UserError(f"{source}: {describe_row(df, i)}: replicate {df['replicate'].iloc[i]} appears twice in its "
                        "cell; allowed: each replicate once")


def check_distinct_inputs(frames: list[pd.DataFrame], paths: list[str]) -> None:
    """Estimate tables read together hold each cell once: the same file twice, or two files with a cell in
    common (a copy), would count its replicates twice."""
    import pandas as pd

    seen: dict[tuple, str] = {}
    for df, path in zip(frames, paths, strict=True):
        keys = cell_columns(df)
        cells = df[keys].drop_duplicates()
        for key in cells.itertuples(index=False, name=None):
            key = tuple("<NA>" if pd.isna(v) else v for v in key)
            if key in seen:
                what = ", ".join(f"{k} {v}" for k, v in zip(keys, key, strict=True)
                                 if k in ("estimator", "baseline", "horizon", "batch_size", "seed"))
                raise UserError(f"{path}: its cell ({what}) is also in {seen[key]}; allowed: each cell in one file "
                                "(the same file given twice?)")
            seen[key] = path


def pair_columns(columns: Iterable[str]) -> list[str]:
    """The :data:`PAIR_COLUMNS` among ``columns`` (in that order)."""
    have = set(columns)
    return [c for c in PAIR_COLUMNS if c in have]


def reserved_columns(kind: str) -> frozenset[str]:
    """Names a ``--tag`` may not take on a table of ``kind``: its columns and the label defaults' sources."""
    return frozenset(KINDS[kind].columns) | frozenset(LABEL_DEFAULTS.values())


__all__ = ["IDENTITY", "KINDS", "LABEL_DEFAULTS", "NULLABLE_INTEGER_COLUMNS", "PAIR_COLUMNS", "TableKind",
           "cell_columns", "check_distinct_inputs", "check_estimates", "check_frame", "pair_columns",
           "reserved_columns"]
