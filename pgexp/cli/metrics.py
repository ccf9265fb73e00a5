"""``pgexp metrics``: bias, variance, MSE, cosine, SNR with bootstrap CIs, bias flags confirmed by a rerun."""

from __future__ import annotations

import argparse

from pgexp.cli.common import CONFIDENCE, POSITIVE_INT, check_outputs, check_resamples, int_or_text, read_inputs

EXAMPLE = "pgexp metrics est.parquet --output metrics.parquet --resamples 2000"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("metrics", help="bias, variance, MSE, cosine, SNR with bootstrap CIs; one row per job cell",
                       description="Read estimate files and write one row per job cell (file x estimator~baseline "
                                   "pair x horizon x batch size) "
                                   "with bias_sq, trace_cov, var_per_traj, work_normalized_variance, mse, rel_mse, "
                                   "cosine, snr, the bias split into length and direction (length_k, "
                                   "rel_length_bias_sq, rel_direction_bias_sq, angle_deg) and the variance at equal "
                                   "mean length (var_per_traj_equal_length), each with _lo/_hi bootstrap bounds "
                                   "(studentised on the log scale for "
                                   "the variances and SNR, BCa otherwise), var_ess, and the bias test: bias_max_z, "
                                   "bias_flagged, and for a flagged cell of an estimator the registry calls unbiased "
                                   "a rerun with 10x the replicates on an independent stream (bias_rerun_replicates, "
                                   "bias_rerun_max_z, bias_confirmed: true only when the rerun is flagged too). "
                                   "docs/metrics.md defines them.")
    p.add_argument("inputs", nargs="+", metavar="IN.parquet", help="files written by pgexp estimate")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="the metrics table (written atomically)")
    p.add_argument("--confidence", type=CONFIDENCE, default=0.95, help="confidence level in (0, 1) (default 0.95)")
    p.add_argument("--resamples", type=POSITIVE_INT, default=2000, help="bootstrap resamples, >= 1 (default 2000)")
    p.add_argument("--reference-horizon", default=None, metavar="H|inf|any",
                   help="label cells at this horizon (any: every horizon) as the batch-size sweep (column 'sweep')")
    p.add_argument("--reference-batch-size", type=POSITIVE_INT, default=None, metavar="N",
                   help="label cells at this batch size as the horizon sweep (column 'sweep')")
    p.add_argument("--csv", action="store_true", help="also write OUT.csv beside the parquet")
    p.add_argument("--slopes", default=None, metavar="SLOPES.parquet",
                   help="also write the slopes table of the same inputs (pgexp slopes: one read, one process)")
    p.add_argument("--comparisons", default=None, metavar="COMPARISONS.parquet",
                   help="also write the paired comparisons (pgexp compare, + CSV) of the reference cell "
                        "--reference-horizon:--reference-batch-size (both needed) of the same inputs")
    p.add_argument("--no-bias-rerun", action="store_true",
                   help="rerun no flagged cell (bias_rerun_replicates 0, bias_confirmed false): for tables read for "
                        "something else, such as the held-out coverage jobs (the reruns were a quarter of their time)")
    p.add_argument("--variance-only", action="store_true",
                   help="intervals for the variance metrics only (trace_cov, var_per_traj, ...: the same intervals); "
                        "the other metrics' _lo/_hi and bias_null_rate NaN: for tables read for the coverage of the "
                        "variance intervals, such as the held-out coverage jobs (the BCa intervals were a third of "
                        "their time)")
    p.add_argument("--exact", nargs="+", default=None, metavar="E.parquet",
                   help="exact variance curves (pgexp exact-curves) to join, as pgexp aggregate does: "
                        "var_per_traj_exact, exact_in_ci, ... (the held-out coverage jobs: one table, no aggregate)")
    p.set_defaults(func=run)
    return p


def check_reference(frames: list, ref: int | str | None, horizon_text: str | None, batch_size: int | None) -> None:
    """``--reference-horizon`` / ``--reference-batch-size`` must name a horizon / batch size of the tables (a cell the
    sweeps meet at); otherwise no cell would be labelled and the figures would have no sweep."""
    from pgexp.errors import UserError

    horizons = sorted({int(h) for df in frames for h in df["horizon"].unique()})
    sizes = sorted({int(n) for df in frames for n in df["batch_size"].unique()})
    if isinstance(ref, int) and ref not in horizons:
        shown = ", ".join("inf" if h == -1 else str(h) for h in horizons)
        raise UserError(f"--reference-horizon {horizon_text}: no cell has this horizon; allowed: one of the tables' "
                        f"horizons ({shown}) or any")
    if batch_size is not None and batch_size not in sizes:
        raise UserError(f"--reference-batch-size {batch_size}: no cell has this batch size; allowed: one of the "
                        f"tables' batch sizes ({', '.join(map(str, sizes))})")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pgexp.analysis.metrics import metrics_frame
    from pgexp.errors import UserError
    from pgexp.io import check_output, write_frame, write_frame_csv
    from pgexp.memory import reuse_freed_memory
    from pgexp.problems import parse_horizon
    from pgexp.provenance import provenance

    reuse_freed_memory()  # the bootstrap allocates MiB-sized temporaries per cell
    csvs = [str(Path(p).with_suffix(".csv")) for p in (args.output if args.csv else None, args.comparisons) if p]
    check_output(args.slopes, "--slopes", fmt="parquet")  # each named by its option first
    check_output(args.comparisons, "--comparisons", fmt="parquet")
    check_outputs(args.output, args.slopes, args.comparisons, *csvs, fmt="parquet")  # and no two the same
    if args.comparisons and (args.reference_horizon in (None, "any") or args.reference_batch_size is None):
        raise UserError("--comparisons: compares the reference cell; give --reference-horizon H (not any) and "
                        "--reference-batch-size N")
    if args.reference_horizon == "any":
        ref: int | str | None = "any"
    else:
        ref_h = parse_horizon(int_or_text(args.reference_horizon), what="--reference-horizon") \
            if args.reference_horizon else None
        ref = -1 if args.reference_horizon and ref_h is None else ref_h
    frames = read_inputs(args.inputs, "estimate")
    check_reference(frames, ref, args.reference_horizon, args.reference_batch_size)
    check_resamples(args.resamples, frames)
    inputs = [str(p) for p in args.inputs]
    out = metrics_frame(frames, confidence=args.confidence, n_resamples=args.resamples, reference_horizon=ref,
                        reference_batch_size=args.reference_batch_size, confirm=not args.no_bias_rerun,
                        variance_only=args.variance_only)
    if args.exact:
        from pgexp.analysis.aggregate import concat_sorted, join_exact

        out = join_exact(out, concat_sorted(read_inputs(args.exact, "exact_variance")))
    meta = provenance(kind="metrics", inputs=inputs)
    if args.csv:
        write_frame_csv(out, args.output, meta)
    else:
        write_frame(out, args.output, meta)
    if args.slopes:
        import pandas as pd

        from pgexp.analysis.slopes import fit_slopes

        slopes = fit_slopes(pd.concat(frames, ignore_index=True), n_resamples=args.resamples,
                            confidence=args.confidence)
        write_frame(slopes, args.slopes, provenance(kind="slopes", inputs=inputs))
    if args.comparisons:
        from pgexp.analysis.compare import paired_comparisons

        pairs = paired_comparisons(frames, cells=[(int(ref), int(args.reference_batch_size))],  # type: ignore[arg-type]
                                   confidence=args.confidence, n_resamples=args.resamples)
        write_frame_csv(pairs, args.comparisons, provenance(kind="comparisons"))
    return 0
