"""``pgexp bench``: benchmarks; print one JSON line."""

from __future__ import annotations

import argparse

from pgexp.cli.common import POSITIVE_INT, THREADS

EXAMPLE = "pgexp bench exact --states 10000 --repeats 3"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("bench", help="benchmarks; print one JSON line",
                       description="Benchmarks (not tests): print one JSON line with the timing and the problem it "
                                   "ran. exact: exact grad J on a sparse garnet with --states N (A=4, branching 5, "
                                   "gamma 0.9, H=inf): seconds (median gradient), build_seconds, peak_rss_mb (the "
                                   "process's peak resident memory, MiB). sampler: sampling + a reward-to-go "
                                   "estimate on garnet:states=100,actions=4,branching=5 "
                                   "with H=100, single thread; steps_per_second is the median over repeats. "
                                   "pergrad: per-sample gradients of a 64x64 MLP at --batch-size (default 1000) "
                                   "with torch.func.vmap vs a loop of backward(); vmap_seconds, loop_seconds. "
                                   "train: training iterations per second on the short corridor at batch size 1, the "
                                   "general engine vs the compiled one (400 runs x 1000 iterations), side by side. "
                                   "exact-variance: GAE's exact moments by the (time, state) recursion on "
                                   "garnet:states=100,actions=4,branching=5 at H=100 (trace only, and full "
                                   "covariance), and the trace's growth with S and H.")
    p.add_argument("what", choices=["exact", "sampler", "estimate", "study", "pergrad", "train", "exact-variance"],
                   help="what to benchmark")
    p.add_argument("--threads", type=THREADS, default=1, help="torch threads (pergrad)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=1000, help="trajectories per batch (pergrad)")
    p.add_argument("--states", type=POSITIVE_INT, default=100_000, help="number of states of the garnet (exact)")
    p.add_argument("--repeats", type=POSITIVE_INT, default=3, help="timed repetitions; the median is reported")
    p.add_argument("--cores", type=POSITIVE_INT, default=2, help="study: snakemake --cores (default 2)")
    p.add_argument("--configfile", metavar="PATH", default=None, help="study: the config (default config/config.yaml)")
    p.add_argument("--keep", metavar="DIR", default=None,
                   help="study: run in this new folder and keep its results and logs (default: a temporary one)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pgexp import bench
    from pgexp.io import dump

    if args.what == "study":
        from pgexp.bench.study import bench_study

        dump(bench_study(args.cores, args.configfile, args.keep), None)
        return 0
    result = bench.run(args.what, states=args.states, repeats=args.repeats, batch_size=args.batch_size,
                       threads=args.threads)
    dump(result, None)
    return 0
