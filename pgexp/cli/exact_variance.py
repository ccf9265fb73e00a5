"""``pgexp exact-variance``: exact mean and covariance of an estimator, and of its batch estimate (JSON)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import (
    INDENT,
    POSITIVE_INT,
    PROBABILITY,
    add_problem_options,
    check_exact_cost,
    check_outputs,
    lam_for,
    number,
    parse_list,
    problem_from_args,
)

# the order of --estimator's choices: the trajectory estimators, roll-in/roll-out, all-action, the group estimators
ENGINE_ORDER = ("family", "rollout", "action", "groups")
EXAMPLE = ("pgexp exact-variance --env short_corridor --horizon 6 --estimator reinforce --baseline none"
           " --batch-size 1,16")


def exact_estimators() -> list[str]:
    """Every registered estimator whose spec declares an exact counterpart, engine by engine (:data:`ENGINE_ORDER`)."""
    from pgexp.estimators import ESTIMATORS

    return [name for engine in ENGINE_ORDER for name, est in ESTIMATORS.items()
            if est.exact is not None and est.exact.engine == engine]


def engine(estimator: str) -> str | None:
    """The exact engine an estimator's spec declares (``None``: none)."""
    from pgexp.estimators import ESTIMATORS

    exact = ESTIMATORS[estimator].exact
    return None if exact is None else exact.engine


def group_hyperparameters() -> list[str]:
    """The hyperparameters of the estimators the group engine covers (``--std-ddof`` ...), in registration order."""
    from pgexp.estimators import ESTIMATORS

    out: list[str] = []
    for est in ESTIMATORS.values():
        if est.exact is not None and est.exact.engine == "groups":
            out += [h.name for h in est.hyperparameters if h.name not in out]
    return out


def baseline_help() -> str:
    """``--baseline``'s help: what the names mean, and the baselines each estimator's exact spec covers."""
    from pgexp.estimators import ESTIMATORS

    covered = "; ".join(f"{name}: {' | '.join(est.exact.baselines)}" for name, est in ESTIMATORS.items()
                        if est.exact is not None and est.exact.engine in ("family", "rollout"))
    return ("none (default) | value_exact | constant (leave-one-out mean of the other trajectories' returns; needs "
            "--batch-size >= 2) | fixed:c=VALUE (a fixed constant) | optimal (the exact per-coordinate optimum) | "
            f"value_table (GAE's V, with --value); covered: {covered}; action-dependent (reinforce, reward_to_go, "
            "gae): q_exact (its analytic correction added); reward_to_go: q_optimal (the whole trajectory's "
            "variance-minimising b(s, a), finite MDPs)")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("exact-variance", help="exact mean and covariance of an estimator and its batch estimate (JSON)",
                       description="Exact mean, trace of covariance and covariance (when dim <= 64) of one "
                                   "trajectory's estimate, by enumerating trajectories (<= 1e6) or by a (time, state) "
                                   "moment recursion; with --batch-size, the exact bias_sq, trace_cov, mse, rel_mse, "
                                   "snr of the mean of N trajectories and a normal-approximation prediction of the "
                                   "expected cosine. Finite horizons, and H = inf with gamma < 1 (trajectories as "
                                   "sampled: truncated at T = ceil(log 1e-12 / log gamma); rollin_rollout "
                                   "untruncated).")
    add_problem_options(p)
    p.add_argument("--estimator", required=True, choices=exact_estimators(),
                   help="the estimators with an exact counterpart (those whose spec declares one)")
    p.add_argument("--baseline", default=None, help=baseline_help())
    p.add_argument("--critic", choices=["exact"], default=None,
                   help="all_action: the critic, exact (q_exact; the default -- a fitted critic has no exact moments)")
    p.add_argument("--value", default=None, metavar="PATH.npy",
                   help="GAE's value table V, shape (S,) or time-indexed (H+1, S) with last row 0 (implies "
                        "--baseline value_table)")
    p.add_argument("--lam", type=PROBABILITY, default=None,
                   help="GAE's lambda in [0, 1] (gae, gae_common; default 0.95)")
    p.add_argument("--batch-size", default=None, metavar="N[,N...]", help="batch sizes: adds the 'batch' list")
    p.add_argument("--group-size", type=POSITIVE_INT, default=None, metavar="G",
                   help=f"group estimators ({', '.join(e for e in exact_estimators() if engine(e) == 'groups')}; "
                        "and reinforce with none or constant): G responses per prompt, exact for any G by "
                        "exchangeable reward counts (pgexp.exact.groups); the numbers refer to one group, --batch-size "
                        "N (a multiple of G) to N/G prompts; adds the bias as length and direction, the per-prompt "
                        "weights and the length effects")
    from pgexp.estimators import hyperparameters

    for name in group_hyperparameters():
        h = hyperparameters()[name]
        p.add_argument(h.option, type=number(h.low, h.high), default=None, metavar=name.upper()[:3],
                       help=f"{h.doc} (group estimators; default {h.default:g})")
    p.add_argument("--truncate", type=POSITIVE_INT, default=None, metavar="T",
                   help="cut episodes after T steps (discounted or episodic problems; the moment recursion): the mean "
                        "against the untruncated grad J is what the cut costs")
    p.add_argument("--bootstrap", choices=["none", "value_exact"], default=None,
                   help="with --truncate: complete a cut episode's return with gamma V(s_T) (value_exact) or not "
                        "(none, the default)")
    p.add_argument("--method", default="auto", choices=["auto", "enumeration", "dp", "recursion", "monte_carlo"],
                   help="enumeration of trajectories, the moment recursion, or auto (enumeration when small); "
                        "linear-quadratic problems: recursion (= dp; scalar systems), monte_carlo (labelled, with its "
                        "interval), auto (the recursion where it applies)")
    p.add_argument("--output", default=None, metavar="PATH.json",
                   help="write the JSON here (atomically) instead of stdout")
    p.add_argument("--indent", type=INDENT, default=None,
                   help="pretty-print the JSON with this indent")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Exact moments of one estimator~baseline (enumeration or the recursion), and of its batch estimate."""
    from pgexp.errors import UserError
    from pgexp.exact.model import load_value_table
    from pgexp.exact.moments import exact_variance
    from pgexp.io import dump

    check_outputs(args.output, fmt="json")
    args.lam = lam_for(args.lam, [args.estimator])

    from pgexp.cli.common import critic_baseline

    baseline = critic_baseline(args.estimator, args.baseline or ("value_table" if args.value else "none"), args.critic)
    if args.value and baseline != "value_table":
        raise UserError(f"--value: a value table is GAE's V (--baseline value_table), not used with "
                        f"--baseline {baseline}")
    value = load_value_table(args.value) if args.value else None
    sizes = parse_list(args.batch_size, POSITIVE_INT, "--batch-size") if args.batch_size else []
    problem = problem_from_args(args)
    from pgexp.exact.action_dependent import covers

    if covers(args.estimator, baseline):
        if args.truncate is not None or args.bootstrap is not None or value is not None:
            raise UserError("--truncate, --bootstrap, --value: not with an action-dependent baseline or all_action")
        out = action_variance(problem, args.estimator, baseline, args.lam, args.method, sizes)
        dump(out, args.output, indent=args.indent)
        return 0
    if problem.track == "lqr":
        from pgexp.runs.lqr_exact import exact_variance as lqr_variance

        if args.group_size is not None:
            raise UserError("--group-size: group estimators are for finite MDPs (a prompt is an initial state)")
        if args.truncate is not None or args.bootstrap is not None or value is not None:
            raise UserError("--truncate, --bootstrap, --value: finite MDPs only")
        out = lqr_variance(problem, args.estimator, baseline, lam=args.lam, method=args.method, batch_sizes=sizes)
        dump({"env": problem.system.name, **out}, args.output, indent=args.indent)
        return 0
    if args.method in ("recursion", "monte_carlo"):
        raise UserError(f"--method {args.method}: linear-quadratic problems only; finite MDPs: auto, enumeration, dp")
    check_exact_cost(problem, [problem.mdp.horizon], 1 + len(sizes))
    from pgexp.exact.catalogue import engine_of

    if args.group_size is not None or engine_of(args.estimator) == "groups":
        from pgexp.exact.groups import group_variance

        if args.group_size is None:
            raise UserError(f"--estimator {args.estimator}: a group estimator; give --group-size G (responses per "
                            "prompt)")
        if value is not None or args.truncate is not None or args.bootstrap is not None:
            raise UserError("--group-size: not with --value, --truncate or --bootstrap")
        params = {k: getattr(args, k) for k in group_hyperparameters() if getattr(args, k) is not None}
        out = group_variance(problem, args.estimator, baseline, group_size=args.group_size, params=params,
                             batch_sizes=sizes)
    elif args.truncate is not None or args.bootstrap is not None:
        from pgexp.estimators.practice import make_practice
        from pgexp.exact.practice import practice_variance

        if value is not None:
            raise UserError("--value: not with --truncate (the cut's value tables are the exact V)")
        out = practice_variance(problem, args.estimator, baseline, make_practice(False, args.truncate, args.bootstrap),
                                lam=args.lam, batch_sizes=sizes)
    else:
        out = exact_variance(problem, args.estimator, baseline, lam=args.lam, value=value, method=args.method,
                             batch_sizes=sizes)
    out = {"env": problem.mdp.name or problem.env_spec, **out}
    if args.value:
        out["value"] = args.value
    dump(out, args.output, indent=args.indent)
    return 0


def action_variance(problem, estimator: str, baseline: str, lam: float, method: str, sizes: list[int]) -> dict:
    """The JSON of an action-dependent pair: finite MDPs (:mod:`pgexp.exact.action_dependent`) or scalar
    linear-quadratic problems (:mod:`pgexp.exact.lqr_action_dependent`)."""
    from pgexp.errors import UserError

    if problem.track == "lqr":
        from pgexp.exact.lqr_action_dependent import trajectory_moments
        from pgexp.exact.lqr_moments import variance_json

        if method not in ("auto", "recursion", "dp"):
            raise UserError(f"--method {method}: an action-dependent pair on a linear-quadratic problem has the "
                            "recursion only (scalar systems)")
        mom = trajectory_moments(problem, estimator, baseline, lam=lam)
        return {"env": problem.system.name, **variance_json(problem, mom, estimator, baseline, lam, sizes)}
    if method in ("recursion", "monte_carlo"):
        raise UserError(f"--method {method}: linear-quadratic problems only; finite MDPs: auto, enumeration, dp")
    from pgexp.exact.action_dependent import exact_variance

    out = exact_variance(problem, estimator, baseline, lam=lam, method=method, batch_sizes=sizes)
    return {"env": problem.mdp.name or problem.env_spec, **out}
