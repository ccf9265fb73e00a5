"""Registration: :func:`register_estimator` and :func:`register_baseline` (what a plug-in calls), the checks of a
new name, and the registry's queries (:func:`get_estimator`, :func:`hyperparameters`, :func:`is_oracle`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pgexp.errors import UserError
from pgexp.estimators.baseline_spec import BASELINES, Baseline
from pgexp.estimators.estimator_spec import ESTIMATORS, Estimator, Unbiased
from pgexp.estimators.exact_spec import ExactSpec, check_exact
from pgexp.estimators.hyperparameter import Hyperparameter
from pgexp.estimators.vocabulary import BASELINE_KERNELS, KERNEL_RULES, NAME_RE, OBJECTIVES, SAMPLING, TRACKS

# Who declares names a hyperparameter would collide with (it becomes an option --NAME of every estimation
# command, a config key NAME and a table column NAME): the command line's parsers and the study config's
# schema register themselves here (pgexp.cli, pgexp.study.config), so the names come from the declarations
# themselves, never from a list kept beside them; the tables' columns are read from pgexp.tables.
RESERVED_SOURCES: dict[str, Callable[[], Iterable[str]]] = {}


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
                       oracle: bool = False, exact: ExactSpec | None = None, replace: bool = False) -> Estimator:
    """Register an estimator under ``name`` (callable from a user's module: ``pgexp.register_estimator``).

    ``fn(batch) -> w`` of shape ``(N, L)``; see :class:`Estimator` for the other fields.  A name already
    registered (a built-in, or another plug-in's) is refused unless ``replace=True`` asks to replace it.
    A hyperparameter may not take a name the command line, the config or the tables already use
    (:func:`reserved_names`).  ``exact`` (:class:`~pgexp.estimators.exact_spec.ExactSpec`) brings its exact moments.
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
    check_hyperparameters(name, hps, reserved_names() if hps and not is_builtin(sys_caller()) else {})
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
    check_exact(name, exact, baselines, sampling)
    previous = ESTIMATORS.get(name)
    est = Estimator(name=name, fn=fn, baselines=baselines, unbiased=unbiased, objectives=objectives,
                    hyperparameters=hps, tracks=tracks, sampling=sampling, fit=fit, label=label or name, color=color,
                    order=order if order is not None else (previous.order if previous else len(ESTIMATORS)), doc=doc,
                    vectorized=bool(vectorized), kernel=kernel, training_kernel=training_kernel,
                    min_group_size=min_group_size, scale=scale, oracle=bool(oracle), exact=exact)
    ESTIMATORS[name] = est
    REGISTERED_BY[("estimator", name)] = sys_caller()
    return est


def check_hyperparameters(name: str, hps: tuple[Hyperparameter, ...], taken: Mapping[str, str]) -> None:
    """Refuse a hyperparameter whose name is malformed or ``taken`` (name -> what declares it), whose default is out
    of its bounds, or that another estimator registered with other bounds."""
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
