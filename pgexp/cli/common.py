"""What several commands share: the problem options, list and tag parsing, reading named tables."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from pgexp.errors import UserError

ENV_HELP = (
    "problem spec NAME or NAME:key=value,...: "
    "garnet:states=100,actions=4,branching=5,seed=0 | chain:length=6 | short_corridor | "
    "gym:FrozenLake-v1:map_name=4x4,is_slippery=true | file:PATH(.npz|.yaml|.json)"
)


def add_problem_options(p: argparse.ArgumentParser) -> None:
    """The options that name a problem and a policy point; shared by every command that takes one."""
    g = p.add_argument_group("problem")
    g.add_argument("--env", required=True, metavar="SPEC", help=ENV_HELP)
    g.add_argument("--features", metavar="SPEC", default=None,
                   help="tabular | random:d=D,seed=S | native (the problem's own phi); "
                        "default: native when the problem brings features, else tabular")
    g.add_argument("--policy", metavar="SPEC", default=None,
                   help="linear (softmax-linear; default) | mlp:hidden=64x64,activation=tanh|relu,seed=0 (torch MLP)")
    g.add_argument("--theta", metavar="SPEC", default=None,
                   help="init (the policy's own initialisation; default for mlp) | zeros (default for linear) | "
                        "random:seed=S,scale=X | PATH.npy (length = policy dim)")
    g.add_argument("--threads", type=int, default=None, metavar="N", help="torch threads (neural policies)")
    g.add_argument("--gamma", type=float, default=None, metavar="G", help="discount in [0, 1]; overrides the problem's")
    g.add_argument("--horizon", default=None, metavar="H|inf", help="positive integer or inf; overrides the problem's "
                   "(pgexp estimate: a comma-separated list sweeps horizons)")


def problem_from_args(args: argparse.Namespace, horizon: Any = "from-args"):
    """The :class:`~pgexp.problems.problem.Problem` the problem options name (``horizon`` overrides ``--horizon``)."""
    from pgexp.problems.problem import build_problem

    return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                         gamma=args.gamma, horizon=args.horizon if horizon == "from-args" else horizon)


def int_or_text(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


def parse_list(text: str | None, convert: Callable[[str], Any], what: str) -> list:
    """``"a,b,c"`` -> ``[convert(a), ...]``; ``None`` -> ``[None]``."""
    if text is None:
        return [None]
    try:
        return [convert(x.strip()) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{what}: {text!r}; allowed: a value or a comma-separated list") from None


def parse_tags(items: list[str] | None) -> dict[str, str]:
    """``--tag NAME=VALUE`` options -> ``{NAME: VALUE}``."""
    tags = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UserError(f"--tag: {item!r}; allowed: NAME=VALUE with NAME an identifier")
        tags[key] = value
    return tags


TABLE_OPTIONS = ("metrics", "slopes", "exact", "curves", "summary", "training_variance", "comparisons", "decomposition",
                 "deep_quality", "deep_summary", "lambda_tradeoff")


def read_tables(args: argparse.Namespace) -> dict:
    """The tables named on the command line, by key (those not given are absent)."""
    from pgexp.io import read_frame

    return {k: read_frame(getattr(args, k)) for k in TABLE_OPTIONS if getattr(args, k, None)}
