"""What several commands share: the problem options, checked numbers and lists, tags, reading named tables.

Numbers are checked where argparse reads them (:func:`number`), so a value out of range is refused
before any work with argparse's one-line ``argument --lam: 1.5; allowed: a number in [0, 1]``.  Lists
(``--horizon 4,10``, ``--seed 0,1``) are checked by :func:`parse_list`: every list option names a set
of distinct values, so a repeat is refused rather than counted twice.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import Any

from pgexp.errors import UserError

ENV_HELP = (
    "problem spec NAME or NAME:key=value,...: "
    "garnet:states=100,actions=4,branching=5,seed=0 | chain:length=6 | short_corridor | "
    "gym:FrozenLake-v1:map_name=4x4,is_slippery=true | gym:CartPole-v1 | gym:Pendulum-v1 | gym:InvertedPendulum-v5 | "
    "lqr:A=0.9,B=0.5,Q=1,R=0.1,W=0.01,S0=1 | lqr:file=PATH.npz | lqr:system=double_integrator | "
    "file:PATH(.npz|.yaml|.json) (pgexp envs lists them)"
)


def number(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False,
           integer: bool = False, note: str = "") -> Callable[[str], Any]:
    """An argparse ``type=`` that reads a finite number in the interval and refuses anything else in one line.

    ``number(0, 1)`` is ``[0, 1]``; ``number(0, 1, lo_open=True, hi_open=True)`` is ``(0, 1)``;
    ``number(2, integer=True)`` is an integer ``>= 2``.
    """
    if integer:
        allowed = f"an integer >= {int(lo)}" if lo is not None and hi is None else \
                  f"an integer in [{lo}, {hi}]" if lo is not None else "an integer"
    elif lo is not None and hi is not None:
        allowed = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    elif lo is not None:
        allowed = f"a finite number {'>' if lo_open else '>='} {lo:g}"
    else:
        allowed = "a finite number"
    if note:
        allowed += f" ({note})"

    def convert(text: str) -> Any:
        try:
            value: Any = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}; allowed: {allowed}") from None
        ok = math.isfinite(value)
        if lo is not None:
            ok = ok and (value > lo if lo_open else value >= lo)
        if hi is not None:
            ok = ok and (value < hi if hi_open else value <= hi)
        if not ok:
            raise argparse.ArgumentTypeError(f"{text}; allowed: {allowed}")
        return value

    convert.__name__ = "number"
    return convert


PROBABILITY = number(0, 1)
CONFIDENCE = number(0, 1, lo_open=True, hi_open=True)
POSITIVE_INT = number(1, integer=True)
SEED = number(0, 2**63 - 1, integer=True, note="a seed")
INDENT = number(0, 16, integer=True, note="spaces per level of the JSON")  # 1e8 would print gigabytes of spaces
# torch threads: a few per core at most (torch crashes when asked for 100000)
THREADS = number(1, 4 * (os.cpu_count() or 1), integer=True, note="at most four per core of this machine")


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
    g.add_argument("--policy-std", type=number(0, lo_open=True), default=None, metavar="SIGMA",
                   help="Gaussian policies (lqr:... problems, continuous-action tasks): the action noise sigma, or its "
                        "starting value with --learn-std (default 1)")
    g.add_argument("--learn-std", action="store_true",
                   help="Gaussian policies: log sigma is a parameter (theta's last entry, log(sigma / --policy-std))")
    g.add_argument("--threads", type=THREADS, default=None, metavar="N", help="torch threads (neural policies)")
    g.add_argument("--gamma", type=PROBABILITY, default=None, metavar="G",
                   help="discount in [0, 1]; overrides the problem's")
    g.add_argument("--horizon", default=None, metavar="H|inf", help="positive integer or inf; overrides the problem's "
                   "(estimate, exact-curves, decompose: a comma-separated list of distinct horizons)")


def check_exact_cost(problem, horizons: list, recursions: int) -> None:
    """Refuse exact recursions over ``horizons`` (finite ones; ``None`` is solved, not iterated) that would not fit
    in memory or would run for hours (:func:`pgexp.memory.require_exact_horizon`), naming ``--horizon``."""
    from pgexp.memory import exact_horizon_cost, require_memory, require_work

    finite = [int(h) for h in horizons if h is not None]
    if not finite:
        return
    mdp = getattr(problem, "mdp", None)
    if mdp is None:  # a linear-quadratic problem: its moments are closed-form per step, no enumeration
        return
    S, A, d = mdp.num_states, mdp.num_actions, problem.policy.dim
    what = (f"--horizon {max(finite)} ({recursions} exact recursion(s) over {len(finite)} horizon(s), {S} states x "
            f"{A} actions, d = {d})")
    require_memory(max(exact_horizon_cost(h, S, A, d)[0] for h in finite), what)
    require_work(sum(exact_horizon_cost(h, S, A, d, recursions)[1] for h in finite), what)


def gaussian_options(args: argparse.Namespace) -> dict[str, Any]:
    """``policy_std`` and ``learn_std`` of :func:`~pgexp.problems.problem.build_problem` from the options."""
    return {"policy_std": getattr(args, "policy_std", None), "learn_std": bool(getattr(args, "learn_std", False))}


def problem_from_args(args: argparse.Namespace, horizon: Any = "from-args", *, tabular: bool = True, lqr: bool = True):
    """The problem the problem options name (``horizon`` overrides ``--horizon``); ``tabular``: refuse a
    continuous-state task (commands that need the exact values); ``lqr=False``: refuse a linear-quadratic problem
    (commands written for finite MDPs)."""
    from pgexp.problems.lqr import is_lqr
    from pgexp.problems.problem import build_problem

    if not lqr and is_lqr(args.env):
        raise UserError(f"--env {args.env}: this command covers finite MDPs; linear-quadratic problems work with "
                        "exact, exact-variance, exact-curves, estimate, metrics and train")
    return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta, gamma=args.gamma,
                         horizon=args.horizon if horizon == "from-args" else horizon,
                         track="tabular" if tabular else None, **gaussian_options(args))


def add_estimator_options(g: argparse._ArgumentGroup, *, extra_estimators: tuple[str, ...] = (),
                          choice: argparse._MutuallyExclusiveGroup | None = None) -> None:
    """``--estimator``, ``--baseline``, one option per registered hyperparameter, ``--fit-batch-size``:
    all derived from the registry (plug-ins included: they are imported before the parser is built);
    ``choice``: a required mutually exclusive group ``--estimator`` joins (where ``--pairs`` is the other way)."""
    from pgexp.estimators import ESTIMATORS, hyperparameters
    from pgexp.estimators.spec import baseline_usage, users_of

    target = choice if choice is not None else g
    target.add_argument("--estimator", required=choice is None, choices=[*extra_estimators, *ESTIMATORS],
                        metavar="NAME",
                   help="; ".join([*extra_estimators, *(f"{k}: {v.doc}" for k, v in ESTIMATORS.items())]))
    g.add_argument("--baseline", default="none", metavar="NAME",
                   help=f"baseline (default none): {' | '.join(baseline_usage())}")
    for h in hyperparameters().values():
        bounded = number(h.low if math.isfinite(h.low) else None, h.high if math.isfinite(h.high) else None)
        g.add_argument(h.option, type=bounded, default=None, metavar=h.name.upper()[:3],
                       help=f"{h.doc}, in [{h.low:g}, {h.high:g}] ({', '.join(users_of(h.name))} only; "
                            f"default {h.default:g})")
    g.add_argument("--critic", choices=CRITICS, default=None,
                   help="all_action: the Q it sums over actions -- exact (the baseline q_exact; default) or fitted "
                        "(q_fitted: a critic fitted on an independent batch, charged to env_steps)")
    g.add_argument("--fit-batch-size", type=POSITIVE_INT, default=None, metavar="K",
                   help="trajectories of every auxiliary fit (value_learned, optimal, the actor-critic's critic), "
                        "drawn independently and counted in env_steps (default: the batch size N -- one batch per "
                        "fit, what an on-policy learner has)")


CRITICS = ("exact", "fitted")  # --critic: all_action's Q, which is its baseline slot (q_exact, q_fitted)


def critic_baseline(estimator: str | None, baseline: str, critic: str | None) -> str:
    """The baseline ``--critic`` names for ``all_action`` (``exact`` -> ``q_exact``, ``fitted`` -> ``q_fitted``; with
    neither ``--critic`` nor ``--baseline``, the exact critic); any other estimator keeps ``baseline``."""
    if critic is None:
        return "q_exact" if estimator == "all_action" and baseline in (None, "none") else baseline
    if estimator != "all_action":
        raise UserError(f"--critic: only for all_action (whose critic is its baseline); --estimator {estimator} takes "
                        "--baseline")
    named = f"q_{critic}"
    if baseline not in (None, "none", named):
        raise UserError(f"--critic {critic} names the baseline {named}; --baseline {baseline} contradicts it")
    return named


def add_group_option(g: argparse._ArgumentGroup) -> None:
    """``--group-size G``: G responses per prompt (initial state), as language-model fine-tuning samples
    (:mod:`pgexp.sampling.groups`); ``--batch-size`` counts responses."""
    g.add_argument("--group-size", type=POSITIVE_INT, default=None, metavar="G",
                   help="sample the batch in groups of G responses (episodes) per prompt (initial state), as "
                        "language-model fine-tuning does; --batch-size counts responses (prompts x G) and must be a "
                        "multiple of G; the group estimators (rloo, grpo, dr_grpo, dapo_token_mean, reinforce_pp, "
                        "remax) read the groups (default: ungrouped, every episode its own start)")


def add_practice_options(p: argparse.ArgumentParser) -> None:
    """``--normalize-advantages``, ``--truncate T``, ``--bootstrap B``: what implementations do around an
    estimator (:mod:`pgexp.estimators.practice`)."""
    from pgexp.estimators.practice import BOOTSTRAPS

    g = p.add_argument_group("implementation choices (docs/estimators.md, 'Practice options')")
    g.add_argument("--normalize-advantages", action="store_true",
                   help="standardise the step weights per batch, as PPO code does ((w - mean) / (std + 1e-8) over the "
                        "batch's steps), rescaled by the exact std of the weights so the estimate keeps grad J's units "
                        "(tabular; reward_to_go, gae, their *_common variants, advantage_exact)")
    g.add_argument("--truncate", type=POSITIVE_INT, default=None, metavar="T",
                   help="cut episodes after T steps (Gymnasium's TimeLimit) on a discounted or episodic problem; the "
                        "target stays the untruncated objective's gradient")
    g.add_argument("--bootstrap", choices=BOOTSTRAPS, default=None,
                   help="with --truncate: complete a cut episode's last reward with gamma V(s_T): none (default: left "
                        "as is), value_exact, value_learned (per-state mean of an independent cut batch's returns)")


def practice_from_args(args: argparse.Namespace):
    """The :class:`~pgexp.estimators.practice.Practice` the practice options name (checked)."""
    from pgexp.estimators.practice import make_practice

    return make_practice(bool(getattr(args, "normalize_advantages", False)), getattr(args, "truncate", None),
                         getattr(args, "bootstrap", None))


def params_from_args(args: argparse.Namespace) -> dict[str, float]:
    """The hyperparameters given on the command line (``--lam`` ...), by name."""
    from pgexp.estimators import hyperparameters

    return {name: getattr(args, name) for name in hyperparameters() if getattr(args, name, None) is not None}


def check_applicable(args: argparse.Namespace, pairs: list) -> None:
    """Options that would change nothing are errors naming them: a hyperparameter (``--lam``) none of the
    estimators has, ``--fit-batch-size`` where no pair fits anything (``pairs``: ``(estimator, baseline)`` as the user
    wrote them, a pair's own ``~OPTION`` dropped)."""
    from pgexp.estimators import ESTIMATORS, hyperparameters
    from pgexp.estimators.spec import BASELINES
    from pgexp.estimators.spec import users_of as having

    names = [e for e, _ in pairs if e in ESTIMATORS]
    for name, h in hyperparameters().items():
        if getattr(args, name, None) is not None and not any(name in ESTIMATORS[e].defaults() for e in names):
            raise UserError(f"{h.option}: {', '.join(dict.fromkeys(names)) or 'this estimator'} has no {name}; "
                            f"allowed only with {', '.join(having(name))}")

    def fits(e: str, b: str) -> bool:
        base = b.partition(":")[0]
        return e in ESTIMATORS and base in BASELINES and ESTIMATORS[e].needs_fit(base)

    bootstrap_fit = getattr(args, "bootstrap", None) == "value_learned"
    if getattr(args, "fit_batch_size", None) is not None and not bootstrap_fit and not any(
            fits(e, b) or "value_learned" in b for e, b in pairs):
        raise UserError("--fit-batch-size: no pair fits anything here; allowed only with a fitted baseline "
                        f"({', '.join(n for n, b in BASELINES.items() if b.fitted)}), an estimator with a fit of its "
                        "own (actor_critic) or --bootstrap value_learned")


def lam_for(given: float | None, estimators: list[str]) -> float:
    """GAE's lambda for exact commands: ``--lam`` if given -- refused when none of ``estimators`` has it -- else
    its registered default."""
    from pgexp.estimators import ESTIMATORS, LAM
    from pgexp.estimators.spec import users_of

    if given is None:
        return float(LAM.default)
    if not any(LAM.name in ESTIMATORS[e].defaults() for e in estimators if e in ESTIMATORS):
        raise UserError(f"--lam {given:g}: {', '.join(dict.fromkeys(estimators)) or 'no estimator'} has no lam; "
                        f"allowed only with {', '.join(users_of(LAM.name))}")
    return float(given)


def int_or_text(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


def parse_list(text: str | None, convert: Callable[[str], Any], what: str, *,
               key: Callable[[Any], Any] | None = None) -> list:
    """``"a,b,c"`` -> ``[convert(a), ...]``; ``None`` -> ``[None]``.

    Every list option names a set: an empty list or a value given twice (compared after ``key``, default
    the converted value: ``4,04`` repeats 4) is refused.  ``convert`` may raise ``ValueError``,
    ``argparse.ArgumentTypeError`` or :class:`UserError`.
    """
    if text is None:
        return [None]
    items = [x.strip() for x in str(text).split(",")]
    if not any(items):
        raise UserError(f"{what}: {text!r}; allowed: a value or a comma-separated list of distinct values")
    values: list[Any] = []
    seen: dict[Any, str] = {}  # key -> the entry that gave it
    for item in items:
        if not item:
            raise UserError(f"{what}: {text!r} has an empty entry; allowed: a comma-separated list of distinct values")
        try:
            value = convert(item)
        except UserError:
            raise
        except (ValueError, argparse.ArgumentTypeError) as exc:
            detail = str(exc) if isinstance(exc, argparse.ArgumentTypeError) else f"{item!r}"
            raise UserError(f"{what}: {detail}") from None
        k = key(value) if key else value
        if k in seen:
            raise UserError(f"{what}: {text!r} lists {seen[k]!r} twice; allowed: distinct values")
        seen[k] = item
        values.append(value)
    return values


def horizon_key(text: str | None) -> int | None:
    """``"4"`` -> 4, ``"inf"`` -> ``None``: the horizon a list entry names (for duplicate checks)."""
    from pgexp.problems import parse_horizon

    return parse_horizon(int_or_text(text) if isinstance(text, str) else text, what="--horizon")


def parse_horizons(text: str | None) -> list:
    """``--horizon`` as a list of distinct horizons, each checked; entries keep their text (``inf`` included)."""
    return parse_list(text, lambda t: (horizon_key(t), t)[1], "--horizon", key=horizon_key)


def parse_tags(items: list[str] | None, kind: str | None = None) -> dict[str, str]:
    """``--tag NAME=VALUE`` options -> ``{NAME: VALUE}``; NAME may not be a column of the output ``kind``."""
    from pgexp.tables import reserved_columns

    reserved = reserved_columns(kind) if kind else frozenset()
    tags: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UserError(f"--tag: {item!r}; allowed: NAME=VALUE with NAME an identifier")
        if key in reserved:
            raise UserError(f"--tag {item}: {key!r} is a column of the output; allowed: a new name such as env_name")
        if key in tags:
            raise UserError(f"--tag: {key!r} given twice")
        tags[key] = value
    return tags


def add_tag_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tag", action="append", metavar="NAME=VALUE",
                   help="add a constant string column NAME (repeatable; not one of the table's own columns)")


# option -> table kind (pgexp.tables.KINDS) of the tables plot and report read
TABLE_OPTIONS = {"metrics": "metrics", "slopes": "slopes", "exact": "exact_variance", "curves": "learning_curves",
                 "summary": "training_summary", "training_variance": "metrics", "comparisons": "comparisons",
                 "decomposition": "decomposition", "deep_quality": "metrics", "deep_summary": "training_summary",
                 "lambda_tradeoff": "gae_lambda_tradeoff", "practice_audit": "practice_audit",
                 "practice_audit_normalization": "normalization_bias", "practice_audit_sign_flip": "sign_flip",
                 "practice_audit_training": "training_summary", "practice_audit_curves": "learning_curves",
                 "metrics_heldout": "metrics", "profiles": "performance_profiles"}


def read_tables(args: argparse.Namespace) -> dict:
    """The tables named on the command line, by key (those not given are absent), each checked for its kind."""
    from pgexp.io import read_frame

    return {k: read_frame(getattr(args, k), kind) for k, kind in TABLE_OPTIONS.items() if getattr(args, k, None)}


def read_inputs(paths: list[str], kind: str) -> list:
    """Every input file as a DataFrame, each checked to be a table of ``kind``; estimate tables hold each cell once
    (:func:`pgexp.tables.check_distinct_inputs`: not the same file twice)."""
    from pgexp.io import identity, read_frame
    from pgexp.tables import check_distinct_inputs

    seen: dict = {}
    for p in paths:
        ident = identity(p)
        if ident is not None and ident in seen:
            raise UserError(f"{p}: given twice (also as {seen[ident]}); allowed: each input once")
        seen.setdefault(ident, p)
    frames = [read_frame(p, kind) for p in paths]
    if kind == "estimate":
        check_distinct_inputs(frames, [str(p) for p in paths])
    return frames


def check_resamples(resamples: int, frames: list, keys: list[str] | None = None) -> None:
    """``--resamples`` against the cells of the tables read (:func:`pgexp.memory.resample_cost`): an estimate table's
    cells are its pairs x horizons x batch sizes (``keys`` for other tables), each as many rows as replicates."""
    import pandas as pd

    from pgexp.memory import resample_cost
    from pgexp.tables import pair_columns

    sizes: list[int] = []
    for df in frames:
        cols = keys or [*pair_columns(df.columns), "horizon", "batch_size"]
        cols = [c for c in cols if c in df.columns]
        counts = df.groupby(cols, dropna=False).size() if cols else pd.Series([len(df)])
        sizes += [int(n) for n in counts]
    resample_cost(resamples, sizes)


def check_outputs(*paths: str | None, option: str = "--output", fmt: str | None = None, size: float = 0.0) -> None:
    """Every output path writable (before any work: :func:`pgexp.io.check_output`), none an input, no two the
    same.  ``fmt`` and ``size`` (bytes, a rough estimate) are those of the first path, the one the user named
    (the others are derived from it: ``OUT.csv`` beside ``OUT.parquet``)."""
    from pathlib import Path

    from pgexp.io import check_output

    for i, p in enumerate(paths):
        check_output(p, option, fmt=fmt if i == 0 else None, size=size if i == 0 else 0.0)
    real = [Path(p).resolve() for p in paths if p is not None]
    if len(set(real)) != len(real):
        raise UserError(f"{option}: the same file is named twice ({', '.join(str(p) for p in paths if p is not None)})")
