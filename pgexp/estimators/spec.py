"""One spec per extension point: :class:`Estimator` and :class:`Baseline`, and their registries.

Everything the rest of pgexp asks of an estimator is a field of its spec -- the function, its
hyperparameters with their defaults, the baselines it accepts, the objectives and tracks it is defined
for, how it samples, the auxiliary fit it needs, when it is unbiased, and how figures show it -- so the
CLI choices, the study's validation and arguments, the estimate tables and ``pgexp check-estimator``
are all derived from :data:`ESTIMATORS` and :data:`BASELINES`, never typed twice.

This module holds metadata only (no numba, no torch): the workflow reads it at every ``snakemake``
call.  Functions are named ``"module:function"`` (resolved on first use, like Gymnasium's
``entry_point``) or given as callables (a plug-in's own function).

The estimator contract (see :mod:`pgexp.estimators.batch`): ``fn(batch) -> w`` with ``w`` of shape
``(N, L)``, so that trajectory ``i`` contributes ``g_i = sum_h w[i, h] grad log pi(a_ih | s_ih)``; the
batch carries the chosen baseline's values ``batch.baseline`` (``b_h(s_h)``) and ``batch.baseline_next``
(``b_{h+1}(s_{h+1})``, zero after an episode's end).  An estimator may instead return
:class:`~pgexp.estimators.correction.Corrected`: the weights plus, per step, an analytic correction
``grad_theta E_{a~pi(.|s_ih)} k_ih(a)`` (what keeps an action-dependent control variate unbiased; with zero
weights, the all-action estimator) -- :mod:`pgexp.estimators.correction` derives it and its representation.
An estimator that is affine in the baseline can
take the per-coordinate ``optimal`` baseline without any code of its own (see
:func:`pgexp.runs.estimate.estimate_batch`).
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgexp.errors import UserError
from pgexp.specs import parse_spec

OBJECTIVES = ("finite", "discounted", "episodic")
# exact gradient / Monte-Carlo reference gradient / linear-quadratic (continuous actions, exact gradient)
TRACKS = ("tabular", "continuous", "lqr")
SAMPLING = ("trajectories", "rollin_rollout")  # the job's common trajectories / the lecture's roll-in, roll-out
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# the step-weight rules and baseline kinds the fused kernels know (pgexp.estimators.fused; a test checks the match)
KERNEL_RULES = ("reinforce", "reward_to_go", "reward_to_go_common", "gae", "gae_common", "advantage")
BASELINE_KERNELS = ("zero", "table", "leave_one_out")
# Who declares names a hyperparameter would collide with (it becomes an option --NAME of every estimation
# command, a config key NAME and a table column NAME): the command line's parsers and the study config's
# schema register themselves here (pgexp.cli, pgexp.study.config), so the names come from the declarations
# themselves, never from a list kept beside them; the tables' columns are read from pgexp.tables.
RESERVED_SOURCES: dict[str, Callable[[], Iterable[str]]] = {}


def resolve(target: str | Callable, what: str) -> Callable:
    """A callable from ``"module:function"`` (imported now) or the callable itself."""
    if callable(target):
        return target
    module, sep, name = str(target).partition(":")
    if not sep:
        raise UserError(f"{what}: {target!r}; expected 'module:function' or a callable")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"{what}: cannot load {target!r} ({exc})") from None


@dataclass(frozen=True)
class Hyperparameter:
    """A numeric hyperparameter of an estimator (``--NAME`` on the CLI, ``NAME:`` in a study config).

    Attributes:
        name: identifier; the option is ``--name`` (underscores as dashes), the table column ``name``.
        default: the value used when none is given -- written here and nowhere else.
        doc: one line.
        low, high: the allowed closed interval.
        check_values: further values ``pgexp check-estimator`` tests besides the default (e.g. ``lam = 1``,
            where GAE is unbiased with any baseline).
        integer: only whole numbers in ``[low, high]`` (a switch such as ``dynamic_sampling``: 0 or 1).
    """

    name: str
    default: float
    doc: str
    low: float = -math.inf
    high: float = math.inf
    check_values: tuple[float, ...] = ()
    integer: bool = False

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    def validate(self, value: Any, where: str | None = None) -> float:
        """``value`` as a float within ``[low, high]``, else a one-line :class:`UserError` naming ``where``."""
        where = where or self.option
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.low <= float(value) <= self.high \
                or (self.integer and not float(value).is_integer()):
            kind = "an integer" if self.integer else "a number"
            raise UserError(f"{where}: {value!r}; allowed: {kind} in [{self.low:g}, {self.high:g}] ({self.doc})")
        return float(value)


@dataclass(frozen=True)
class Baseline:
    """A registered baseline: what is subtracted from the return, and what it costs.

    Attributes:
        name: registry key (``--baseline NAME``, or ``NAME:key=value`` when it takes ``options``).
        label: display name (figures, report).
        doc: one line.
        values: ``"module:function"`` or callable ``(ctx, batch, aux, seq, options) -> (b, b_next)``, both
            ``(N, L)``: ``b_h(s_h)`` and ``b_{h+1}(s_{h+1})`` (the runner zeroes the latter after an
            episode's end); ``aux`` is the independent fitting batch when ``fitted``.  ``None``: ``b = 0``.
        fitted: fitted on an independent batch of ``--fit-batch-size`` trajectories (charged to ``env_steps``).
        per_coordinate: the Greensmith-Bartlett-Baxter per-coordinate constant (``optimal``): no ``values``;
            the runner fits ``b_k`` from the estimator's weights at ``b = 0`` and ``b = 1``.
        options: required ``key`` names of a parameterised baseline (``fixed:c=VALUE``).
        tracks: where it is defined (``value_exact`` needs the exact values: tabular only).
        min_batch_size: smallest batch it makes sense with (the leave-one-out ``constant`` needs 2).
        label, color, order: how figures show it (``color`` where figures colour by baseline).
        marker: its matplotlib marker, in every figure.
        shade: where figures colour by estimator, the estimator's hue mixed with black (< 0) or white (> 0)
            by this fraction, so the pairs of one estimator stay apart.
        vectorized: ``values`` takes a stack of replicates (``batch.blocks > 1``; ``aux`` stacked the same way) and
            gives each trajectory its own replicate's values; otherwise the runner calls it once per replicate.
        kernel: how the fused kernels (:mod:`pgexp.estimators.fused`) compute it, one of :data:`BASELINE_KERNELS`:
            ``zero``, ``table`` (``table`` gives ``b_h(s)``), ``leave_one_out`` (the other trajectories' mean
            ``G_0``); ``None``: the general route only.
        table: for ``kernel = "table"``, ``"module:function"`` or callable ``(ctx, aux, streams, options) -> (B, H',
            S)``: ``b_h(s) = T[k, min(h, H' - 1), s]`` for replicate ``k`` (``B = 1``: every replicate; ``H' = 1``:
            stationary) -- the same values as ``values``.
        action_dependent: ``b`` reads the action too: ``values`` returns its ``b`` as
            :class:`~pgexp.estimators.correction.ActionValues` (the value at the sampled action, the critic's state
            value and the analytic correction), and only estimators that add the correction accept it.
        oracle: it reads exact quantities (``V``, ``Q``, ``A`` or the optimal ``b*``) that no sampler has:
            a reference point, ranked apart from what can be implemented (:func:`is_oracle`).
    """

    name: str
    doc: str
    values: str | Callable | None = None
    fitted: bool = False
    per_coordinate: bool = False
    options: tuple[str, ...] = ()
    tracks: tuple[str, ...] = TRACKS
    min_batch_size: int = 1
    label: str = ""
    color: str | None = None
    order: int = 0
    marker: str = "P"
    shade: float = 0.2
    vectorized: bool = False
    kernel: str | None = None
    table: str | Callable | None = None
    action_dependent: bool = False
    oracle: bool = False

    @property
    def table_fn(self) -> Callable | None:
        return None if self.table is None else resolve(self.table, f"baseline {self.name} table")

    @property
    def values_fn(self) -> Callable | None:
        return None if self.values is None else resolve(self.values, f"baseline {self.name} values")


@dataclass(frozen=True)
class BaselineChoice:
    """A baseline with its options, e.g. ``fixed:c=0.5``; ``name`` is the canonical string (table column)."""

    spec: Baseline
    options: Mapping[str, float]
    name: str


def parse_baseline(text: str, what: str = "--baseline") -> BaselineChoice:
    """``NAME`` or ``NAME:key=value`` -> :class:`BaselineChoice`; unknown names and keys are refused by name."""
    parsed = parse_spec(str(text), what=what)
    if parsed.name not in BASELINES:
        from pgexp.estimators.baselines import TRAINING_ONLY_BASELINES

        if parsed.name in TRAINING_ONLY_BASELINES:
            raise UserError(f"{what} {parsed.name}: training only ({TRAINING_ONLY_BASELINES[parsed.name]}); "
                            "pgexp train accepts it")
        raise UserError(f"{what}: unknown {parsed.name!r}; allowed: {', '.join(baseline_usage())}")
    spec = BASELINES[parsed.name]
    got, need = set(parsed.options), set(spec.options)
    if got != need:
        usage = spec.name + (":" + ",".join(f"{k}=VALUE" for k in spec.options) if spec.options else "")
        raise UserError(f"{what}: {text!r}; allowed form: {usage}")
    options = {}
    for key in spec.options:
        value = parsed.options[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserError(f"{what}: {text!r}; {key} must be a finite number")
        options[key] = float(value)
    name = spec.name + (":" + ",".join(f"{k}={options[k]:g}" for k in spec.options) if spec.options else "")
    return BaselineChoice(spec, options, name)


def baseline_usage(track: str | None = None) -> list[str]:
    """Every baseline (on ``track``) as the user writes it (``fixed:c=VALUE`` for parameterised ones)."""
    return [b.name + (":" + ",".join(f"{k}=VALUE" for k in b.options) if b.options else "") for b in BASELINES.values()
            if track is None or track in b.tracks]


Unbiased = bool | Callable[..., bool]  # (baseline, params) or (baseline, params, gamma) -> bool
GAMMAS_UNKNOWN = (1.0, 0.5)  # where a rule that reads gamma is asked without one: unbiased only if at both


def takes_gamma(rule: Callable[..., bool]) -> bool:
    """Whether an unbiasedness rule reads the objective's discount: a third positional parameter, or ``gamma``."""
    try:
        params = inspect.signature(rule).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.name == "gamma" or p.kind == p.VAR_POSITIONAL for p in params)


def apply_rule(rule: Callable[..., bool], baseline: str, params: Mapping[str, float], gamma: float | None) -> Any:
    """``rule(baseline, params)``, or with the discount when it reads it (third positional, or ``gamma=``)."""
    if gamma is None or not takes_gamma(rule):
        return rule(baseline, params)
    try:
        positional = [p for p in inspect.signature(rule).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        positional = []
    return rule(baseline, params, gamma) if len(positional) >= 3 or any(
        p.kind == p.VAR_POSITIONAL for p in positional) else rule(baseline, params, gamma=gamma)


@dataclass(frozen=True)
class Estimator:
    """A registered estimator: everything the system asks of it.

    Attributes:
        name: registry key (``--estimator``).
        fn: ``"module:function"`` or callable ``fn(batch) -> w (N, L)`` (see the module docstring).
        baselines: the baselines it accepts (names in :data:`BASELINES`).
        unbiased: whether ``E[g] = grad J`` exactly: a bool, or a rule ``unbiased(baseline_name, params)`` or
            ``unbiased(baseline_name, params, gamma)`` when the answer depends on the objective's discount
            (the ``*_common`` estimators: unbiased only with ``gamma = 1``).  ``pgexp check-estimator`` tests
            every claim.
        objectives: objective kinds it is defined for (``finite``, ``discounted``, ``episodic``).
        hyperparameters: its :class:`Hyperparameter` s; ``batch.params`` holds their values.
        tracks: ``tabular`` (exact gradient) and/or ``continuous`` (continuous-state tasks).
        sampling: ``trajectories`` (the job's common trajectories: paired with every other such estimator)
            or ``rollin_rollout`` (its own scheme: one ``(s, a)`` per sample, ``batch.returns`` the roll-out).
        fit: an auxiliary fit of its own, ``"module:function"`` or callable ``(ctx, seq, n) -> (fitted,
            env_steps)`` drawn on an independent stream with ``n = --fit-batch-size`` (``batch.fitted``).
        label, color, order: how figures show it.
        doc: one line (CLI help).
        vectorized: ``fn`` takes a stack of replicates (``batch.blocks > 1``) and computes each trajectory's weights
            from its own replicate only (per-trajectory formulas qualify as they are; :mod:`pgexp.estimators.batch`);
            with a ``fit``, that takes a :class:`~pgexp.sampling.rng.Streams` stack and returns one fit per
            replicate.  Otherwise (a plug-in's default) the runner calls ``fn`` and ``fit`` once per replicate.
        min_group_size: ``None``: not a group estimator; else it is sampled in groups of ``G`` responses per prompt
            (:mod:`pgexp.sampling.groups`; ``pgexp check-estimator`` samples it so) and needs ``G >=`` this.
        scale: the claim "unbiased up to a positive scalar": ``"module:function"`` or callable ``(group_size,
            horizon, params) -> c > 0`` with ``E ĝ = c grad J`` (``dr_grpo``: ``(G - 1)/(G H)``); ``None``: no such
            claim.  ``pgexp check-estimator`` tests it like ``unbiased``.
        kernel: the step-weight rule the fused kernels know it by (one of :data:`KERNEL_RULES`; ``advantage``
            reads the estimator's per-replicate fit ``(S, A)`` if it has one, else the exact advantage), so a stack
            is sampled, weighted and accumulated in one compiled pass; ``None``: the general route only.  The
            two routes give the same numbers (a test).
        training_kernel: the compiled training engine's implementation of the same step weights
            (:data:`pgexp.runs.train_kernels.KERNELS`: ``reinforce``, ``reward_to_go``, ``reward_to_go_common``,
            ``gae``, ``gae_common``, ``actor_critic``), or ``None``: ``pgexp train`` runs it through the general
            engine.  A kernel draws the same trajectories as ``fn`` and must give the same numbers to rounding
            (``tests/runs/test_training_fast.py``).
        oracle: it reads exact quantities (``V``, ``Q``, ``A`` or ``b*``) itself, whatever its baseline: a reference
            point, ranked apart from what can be implemented (:func:`is_oracle`).
    """

    name: str
    fn: str | Callable
    baselines: tuple[str, ...]
    unbiased: Unbiased = True
    objectives: tuple[str, ...] = OBJECTIVES
    hyperparameters: tuple[Hyperparameter, ...] = ()
    tracks: tuple[str, ...] = TRACKS
    sampling: str = "trajectories"
    fit: str | Callable | None = None
    label: str = ""
    color: str | None = None
    order: int = 0
    doc: str = ""
    vectorized: bool = False
    kernel: str | None = None
    training_kernel: str | None = None
    min_group_size: int | None = None
    scale: str | Callable | None = None
    oracle: bool = False

    @property
    def function(self) -> Callable:
        return resolve(self.fn, f"estimator {self.name}")

    @property
    def fit_fn(self) -> Callable | None:
        return None if self.fit is None else resolve(self.fit, f"estimator {self.name} fit")

    @property
    def scale_fn(self) -> Callable | None:
        return None if self.scale is None else resolve(self.scale, f"estimator {self.name} scale")

    def claim(self, baseline: str, params: Mapping[str, float] | None = None, gamma: float | None = None) -> str:
        """What the registry claims of its mean: ``unbiased``, ``scaled`` (a known positive multiple of ``grad J``,
        :attr:`scale`) or ``biased``."""
        if self.is_unbiased(baseline, params, gamma):
            return "unbiased"
        return "scaled" if self.scale is not None else "biased"

    def defaults(self) -> dict[str, float]:
        return {h.name: float(h.default) for h in self.hyperparameters}

    def params(self, given: Mapping[str, Any] | None = None) -> dict[str, float]:
        """Its hyperparameters: the defaults, overridden by ``given`` (other names are ignored), validated."""
        given = given or {}
        return {h.name: h.validate(given[h.name]) if given.get(h.name) is not None else float(h.default)
                for h in self.hyperparameters}

    def is_unbiased(self, baseline: str, params: Mapping[str, float] | None = None, gamma: float | None = None) -> bool:
        """The registry's claim for this baseline, hyperparameters and discount ``gamma``.

        A rule that reads ``gamma`` asked without one (``None``: the objective is not known) answers for every
        discount: unbiased only if unbiased both at ``gamma = 1`` and below it.
        """
        if isinstance(self.unbiased, bool):
            return self.unbiased
        name, p = baseline.partition(":")[0], {**self.defaults(), **(params or {})}
        if not takes_gamma(self.unbiased):
            return bool(self.unbiased(name, p))
        gammas = GAMMAS_UNKNOWN if gamma is None else (float(gamma),)
        return all(bool(apply_rule(self.unbiased, name, p, g)) for g in gammas)

    @property
    def unbiased_reads_gamma(self) -> bool:
        """Whether the unbiasedness rule depends on the objective's discount."""
        return not isinstance(self.unbiased, bool) and takes_gamma(self.unbiased)

    def needs_fit(self, baseline: str) -> bool:
        """Whether it draws an independent fitting batch with this baseline (``--fit-batch-size`` applies)."""
        return self.fit is not None or BASELINES[baseline.partition(":")[0]].fitted

    def check(self, baseline: str, objective: str, track: str = "tabular") -> BaselineChoice:
        """Refuse a meaningless estimator x baseline x objective x track combination, by name."""
        choice = parse_baseline(baseline)
        if choice.spec.name not in self.baselines:
            raise UserError(f"--estimator {self.name} with --baseline {choice.spec.name}: not meaningful; "
                            f"allowed baselines for {self.name}: {', '.join(self.baselines)}")
        if track not in self.tracks:
            raise UserError(f"--estimator {self.name}: not available for {track} problems (defined for "
                            f"{' and '.join(self.tracks)} problems)")
        if track not in choice.spec.tracks:
            raise UserError(f"--baseline {choice.spec.name}: not available for {track} problems "
                            f"(defined for {' and '.join(choice.spec.tracks)} problems)")
        if objective not in self.objectives:
            raise UserError(f"--estimator {self.name} is defined for the {' and '.join(self.objectives)} objectives, "
                            f"not {objective} (gamma = 1 with H = inf); give --horizon H or --gamma < 1")
        return choice


ESTIMATORS: dict[str, Estimator] = {}
BASELINES: dict[str, Baseline] = {}


def _check_fields(kind: str, name: str, tracks: tuple[str, ...], objectives: tuple[str, ...] = OBJECTIVES) -> None:
    if not NAME_RE.match(name):
        raise UserError(f"register_{kind}: name {name!r}; allowed: lower-case letters, digits and '_' "
                        "(it becomes part of file names)")
    if not tracks or not set(tracks) <= set(TRACKS):
        raise UserError(f"register_{kind} {name}: tracks {tracks!r}; allowed: a non-empty subset of {TRACKS}")
    if not objectives or not set(objectives) <= set(OBJECTIVES):
        raise UserError(f"register_{kind} {name}: objectives {objectives!r}; allowed: a subset of {OBJECTIVES}")


def reserved_names() -> dict[str, str]:
    """Names a new hyperparameter may not take, each with what declares it: every option of every ``pgexp``
    command, every key of the study config, every column of the estimate and training tables -- except the
    registered hyperparameters' own (a plug-in may share ``lam`` with GAE, with the same bounds)."""
    from pgexp.tables import ESTIMATE_COLUMNS, TRAIN_COLUMNS

    out: dict[str, str] = {}
    for what, source in RESERVED_SOURCES.items():
        for n in source():
            out.setdefault(n, what)
    for c in (*ESTIMATE_COLUMNS, *TRAIN_COLUMNS):
        out.setdefault(c, "a column of the estimate and training tables")
    for h in hyperparameters():
        out.pop(h, None)
    return out


def check_new_name(kind: str, name: str, registry: Mapping[str, Any], replace: bool) -> None:
    """A registered name is refused unless the caller asks to replace it; the same module registering again (a
    plug-in imported twice) replaces its own entry."""
    previous = registry.get(name)
    if previous is None or replace:
        return
    import sys

    caller = sys._getframe(2).f_code.co_filename  # the module that called register_<kind>
    if REGISTERED_BY.get((kind, name)) == caller:
        return
    where = REGISTERED_BY.get((kind, name), "?")
    owner = "a built-in" if is_builtin(where) else f"registered by {where}"
    raise UserError(f"register_{kind} {name}: the name is taken ({owner}); choose another name, or pass "
                    "replace=True to replace it")


REGISTERED_BY: dict[tuple[str, str], str] = {}  # (kind, name) -> the file whose code registered it


def is_builtin(filename: str) -> bool:
    """Whether a registering file is pgexp's own registry of built-ins (``pgexp/estimators/__init__.py``)."""
    return Path(filename).resolve() == Path(__file__).resolve().with_name("__init__.py")


def register_estimator(name: str, fn: str | Callable, *, baselines: tuple[str, ...] | list[str] = ("none",),
                       unbiased: Unbiased = True, objectives: tuple[str, ...] | list[str] = OBJECTIVES,
                       hyperparameters: tuple[Hyperparameter, ...] | list[Hyperparameter] = (),
                       tracks: tuple[str, ...] | list[str] = TRACKS, sampling: str = "trajectories",
                       fit: str | Callable | None = None, label: str | None = None, color: str | None = None,
                       order: int | None = None, doc: str = "", vectorized: bool = False,
                       kernel: str | None = None, training_kernel: str | None = None,
                       min_group_size: int | None = None, scale: str | Callable | None = None,
                       oracle: bool = False, replace: bool = False) -> Estimator:
    """Register an estimator under ``name`` (callable from a user's module: ``pgexp.register_estimator``).

    ``fn(batch) -> w`` of shape ``(N, L)``; see :class:`Estimator` for the other fields.  A name already
    registered (a built-in, or another plug-in's) is refused unless ``replace=True`` asks to replace it.
    A hyperparameter may not take a name the command line, the config or the tables already use
    (:func:`reserved_names`).
    """
    tracks, objectives, baselines = tuple(tracks), tuple(objectives), tuple(baselines)
    _check_fields("estimator", name, tracks, objectives)
    check_new_name("estimator", name, ESTIMATORS, replace)
    unknown = [b for b in baselines if b not in BASELINES]
    if not baselines or unknown:
        raise UserError(f"register_estimator {name}: baselines {list(baselines)!r}; allowed: {', '.join(BASELINES)}")
    if sampling not in SAMPLING:
        raise UserError(f"register_estimator {name}: sampling {sampling!r}; allowed: {', '.join(SAMPLING)}")
    if kernel is not None and (kernel not in KERNEL_RULES or sampling != "trajectories"):
        raise UserError(f"register_estimator {name}: kernel {kernel!r}; allowed: one of {', '.join(KERNEL_RULES)} "
                        "(with sampling 'trajectories'), or none")
    hps = tuple(hyperparameters)
    # the built-ins' own names are those the options, keys and columns were declared for
    # (tests/estimators/test_plugins.py)
    taken = reserved_names() if hps and not is_builtin(sys_caller()) else {}
    for h in hps:
        if not NAME_RE.match(h.name):
            raise UserError(f"register_estimator {name}: hyperparameter name {h.name!r}; allowed: lower-case letters, "
                            "digits and '_'")
        if h.name in taken:
            raise UserError(f"register_estimator {name}: hyperparameter name {h.name!r} is taken ({taken[h.name]}); "
                            "allowed: a name no command option, config key or table column has")
        h.validate(h.default, f"register_estimator {name}: default of {h.name}")
        other = hyperparameter(h.name)
        if other is not None and (other.low, other.high) != (h.low, h.high):
            raise UserError(f"register_estimator {name}: hyperparameter {h.name} is already registered with bounds "
                            f"[{other.low:g}, {other.high:g}]")
    if training_kernel is not None and not NAME_RE.match(str(training_kernel)):
        raise UserError(f"register_estimator {name}: training_kernel {training_kernel!r}; allowed: None or the name "
                        "of a compiled training kernel")
    if min_group_size is not None and (isinstance(min_group_size, bool) or not isinstance(min_group_size, int)
                                       or min_group_size < 1 or sampling != "trajectories"):
        raise UserError(f"register_estimator {name}: min_group_size {min_group_size!r}; allowed: None, or a positive "
                        "integer (a group estimator, sampling 'trajectories')")
    if not (isinstance(unbiased, bool) or callable(unbiased)):
        raise UserError(f"register_estimator {name}: unbiased must be a bool or a function (baseline, params) -> bool "
                        "or (baseline, params, gamma) -> bool")
    previous = ESTIMATORS.get(name)
    est = Estimator(name=name, fn=fn, baselines=baselines, unbiased=unbiased, objectives=objectives,
                    hyperparameters=hps, tracks=tracks, sampling=sampling, fit=fit, label=label or name, color=color,
                    order=order if order is not None else (previous.order if previous else len(ESTIMATORS)), doc=doc,
                    vectorized=bool(vectorized), kernel=kernel, training_kernel=training_kernel,
                    min_group_size=min_group_size, scale=scale, oracle=bool(oracle))
    ESTIMATORS[name] = est
    REGISTERED_BY[("estimator", name)] = sys_caller()
    return est


def register_baseline(name: str, values: str | Callable | None, *, doc: str, fitted: bool = False,
                      per_coordinate: bool = False, options: tuple[str, ...] = (),
                      tracks: tuple[str, ...] | list[str] = TRACKS, min_batch_size: int = 1, label: str | None = None,
                      color: str | None = None, order: int | None = None, marker: str = "P",
                      shade: float = 0.2, vectorized: bool = False, kernel: str | None = None,
                      table: str | Callable | None = None, action_dependent: bool = False,
                      oracle: bool = False, replace: bool = False) -> Baseline:
    """Register a baseline under ``name``; see :class:`Baseline` for the fields.  A name already registered is
    refused unless ``replace=True``."""
    tracks = tuple(tracks)
    _check_fields("baseline", name, tracks)
    check_new_name("baseline", name, BASELINES, replace)
    if kernel is not None and (kernel not in BASELINE_KERNELS or (kernel == "table") != (table is not None)):
        raise UserError(f"register_baseline {name}: kernel {kernel!r}; allowed: one of {', '.join(BASELINE_KERNELS)} "
                        "(a table function exactly with 'table'), or none")
    previous = BASELINES.get(name)
    spec = Baseline(name=name, doc=doc, values=values, fitted=fitted or per_coordinate, per_coordinate=per_coordinate,
                    options=tuple(options), tracks=tracks, min_batch_size=int(min_batch_size), label=label or name,
                    color=color, order=order if order is not None else (previous.order if previous else len(BASELINES)),
                    marker=marker, shade=float(shade), vectorized=bool(vectorized), kernel=kernel, table=table,
                    action_dependent=bool(action_dependent), oracle=bool(oracle))
    BASELINES[name] = spec
    REGISTERED_BY[("baseline", name)] = sys_caller()
    return spec


def sys_caller() -> str:
    """The file of the code that called ``register_*`` (two frames up)."""
    import sys

    return sys._getframe(2).f_code.co_filename


def is_oracle(estimator: str, baseline: str) -> bool:
    """Whether the pair ``estimator~baseline`` reads exact quantities (``V``, ``Q``, ``A`` or ``b*``) -- the estimator
    or the baseline is registered ``oracle`` -- so no algorithm can run it: the report ranks it apart, as a reference.
    A name the registry does not know (a plug-in not loaded) is not an oracle."""
    est, base = ESTIMATORS.get(str(estimator)), BASELINES.get(str(baseline).partition(":")[0])
    return bool((est is not None and est.oracle) or (base is not None and base.oracle))


def get_estimator(name: str) -> Estimator:
    if name not in ESTIMATORS:
        raise UserError(f"--estimator: unknown {name!r}; allowed: {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name]


def hyperparameter(name: str) -> Hyperparameter | None:
    """The first registered estimator's :class:`Hyperparameter` called ``name``, or ``None``."""
    for est in ESTIMATORS.values():
        for h in est.hyperparameters:
            if h.name == name:
                return h
    return None


def hyperparameters() -> dict[str, Hyperparameter]:
    """Every hyperparameter name of the registry (registration order), with its first spec."""
    out: dict[str, Hyperparameter] = {}
    for est in ESTIMATORS.values():
        for h in est.hyperparameters:
            out.setdefault(h.name, h)
    return out


def users_of(name: str) -> list[str]:
    """The estimators that have hyperparameter ``name``."""
    return [e.name for e in ESTIMATORS.values() if any(h.name == name for h in e.hyperparameters)]
