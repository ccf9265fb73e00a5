"""``pgexp bench``: benchmarks; print one JSON line."""

from __future__ import annotations

import argparse

from pgexp.cli.common import POSITIVE_INT, THREADS, number

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
    p.add_argument("--threads", type=THREADS, default=None, help="torch threads (pergrad; default 1)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=None,
                   help="trajectories per batch (pergrad; default 1000)")
    p.add_argument("--states", type=POSITIVE_INT, default=None,
                   help="number of states of the garnet (exact; default 100000)")
    p.add_argument("--repeats", type=number(1, MAX_REPEATS, integer=True), default=3,
                   help=f"timed repetitions, at most {MAX_REPEATS}; the median is reported (default 3; not study)")
    p.add_argument("--cores", type=POSITIVE_INT, default=None, help="study: snakemake --cores (default 2)")
    p.add_argument("--configfile", metavar="PATH", default=None, help="study: the config (default config/config.yaml)")
    p.add_argument("--keep", metavar="DIR", default=None,
                   help="study: run in this new folder and keep its results and logs (default: a temporary one)")
    p.set_defaults(func=run)
    return p


MAX_REPEATS = 1000
# which benchmark each option changes (an option given to another is refused: it would change nothing)
APPLIES = {"threads": ("pergrad",), "batch_size": ("pergrad",), "states": ("exact",),
           "cores": ("study",), "configfile": ("study",), "keep": ("study",)}


def check_applicable_options(args: argparse.Namespace) -> None:
    from pathlib import Path

    from pgexp.errors import UserError

    for name, kinds in APPLIES.items():
        if getattr(args, name) is not None and args.what not in kinds:
            raise UserError(f"--{name.replace('_', '-')}: bench {args.what} does not use it; allowed only with bench "
                            f"{', '.join(kinds)}")
    if args.configfile is not None and not Path(args.configfile).is_file():
        raise UserError(f"--configfile {args.configfile}: no such file; give a study config (config/config.yaml)")


def run(args: argparse.Namespace) -> int:
    from pgexp import bench
    from pgexp.io import dump

    check_applicable_options(args)
    if args.what == "study":
        from pgexp.bench.study import bench_study

        dump(bench_study(args.cores or 2, args.configfile, args.keep), None)
        return 0
    result = bench.run(args.what, states=args.states or 100_000, repeats=args.repeats,
                       batch_size=args.batch_size or 1000, threads=args.threads or 1)
    dump(result, None)
    return 0
