"""A named paper study (``config/studies/NAME.yaml``): one problem, a few training *arms*, one report.

A paper study regenerates a published figure: ``snakemake --cores all --configfile config/studies/NAME.yaml``
writes everything under ``results/studies/NAME/``.  Its config has one section, ``study``:

* ``name`` (the directory and the report's kind: one of :data:`STUDIES`), ``reference`` and ``claim``
  (the paper, and what it claims -- shown beside what pgexp measured);
* the problem: ``env``, optional ``features``, ``gamma``, ``horizon``, ``theta`` (e.g. ``values:-1.47;1.47``);
* ``seeds`` (reported) and ``selection_seeds`` (only to choose step sizes): lists, or ``{start, count}``;
* ``arms``: name -> the options of one ``pgexp train`` job (``estimator``, ``baseline``, ``baseline_offset``,
  ``baseline_step_size``, ``value_features``, ``optimizer``, ``update``, ``batch_size``, ``step_sizes``,
  ``iterations``, ``record_every``, ``trace_seeds``; ``seeds: [..]`` overrides the study's, e.g. one seed
  for the deterministic exact-gradient path).  Step sizes may be written ``2^-13``;
* ``threshold`` (progress a run must reach not to count as stalled), ``converged_prob``, ``bootstrap``;
* ``exact_variance: {offsets: [...]}``: the exact variance table of one-step problems at ``theta``.

A *variance* study (``tucker2018_mirage``, :mod:`pgexp.study.mirage`) has no training: problems, exact pairs and a
Monte-Carlo arm; :func:`paper_study` hands its section to :func:`pgexp.study.mirage.mirage_study`.
A *group* study (:data:`GROUP_STUDIES`: ``liu2025_length_bias``) trains group estimators instead: each arm is one
``pgexp group-train`` job (``estimator``, ``group_size``, ``batch_size`` = prompts x G, ``optimizer`` ``sga`` or
``adam``, one step size, ``iterations``, ``record_every``, the estimator's hyperparameters ``std_ddof``, ``eps``,
``length_norm``, ``dynamic_sampling``); ``reference_arm`` is the arm the others are compared with (paired over
seeds), and ``group_exact: {group_sizes, prompts, estimators}`` the exact table of every group estimator against
``G`` (``pgexp group-variance``).  Its rules are ``workflow/rules/group_study.smk``.

Checks raise :class:`~pgexp.errors.UserError` naming the key (``study.arms.NAME.KEY``).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgexp.errors import UserError
from pgexp.specs import SEED_MAX
from pgexp.study.common import fail, join_options
from pgexp.study.mirage import FIGURES as MIRAGE_FIGURES
from pgexp.study.mirage import MIRAGE_STUDIES, MirageStudy, check_mirage, mirage_study

STUDIES = ("sutton_barto_fig13_1", "sutton_barto_fig13_2", "chung2021_committal", *MIRAGE_STUDIES,
           "liu2025_length_bias")
GROUP_STUDIES = ("liu2025_length_bias",)  # group estimators: pgexp group-train arms, workflow/rules/group_study.smk
#: The figures each study draws (``pgexp.figures.<name>.draw``), written to ``results/studies/NAME/figures/``.
STUDY_FIGURES: dict[str, tuple[str, ...]] = {
    "sutton_barto_fig13_1": ("sutton_barto_fig13_1",),
    "sutton_barto_fig13_2": ("sutton_barto_fig13_2",),
    "chung2021_committal": ("chung2021_committal", "chung2021_simplex"),
    "tucker2018_mirage": MIRAGE_FIGURES,
    "liu2025_length_bias": ("liu2025_length_bias", "liu2025_group_variance"),
}
STUDY_KEYS = ("name", "reference", "claim", "env", "features", "gamma", "horizon", "theta", "seeds",
              "selection_seeds", "arms", "threshold", "converged_prob", "bootstrap", "exact_variance",
              "reference_arm", "group_exact")
ARM_KEYS = ("estimator", "baseline", "baseline_offset", "baseline_step_size", "value_features", "optimizer", "update",
            "batch_size", "step_sizes", "iterations", "record_every", "trace_seeds", "seeds", "label")
GROUP_HYPERPARAMETERS = ("std_ddof", "eps", "length_norm", "dynamic_sampling")
GROUP_ARM_KEYS = ("estimator", "group_size", "batch_size", "optimizer", "step_sizes", "iterations", "record_every",
                  "seeds", "label", *GROUP_HYPERPARAMETERS)
GROUP_EXACT_KEYS = ("group_sizes", "prompts", "estimators")
POWER = re.compile(r"^\s*2\s*\^\s*(-?\d+)\s*$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")


def step_size(value: Any, key: str) -> float:
    """A positive number, or ``"2^k"``."""
    if isinstance(value, str) and POWER.match(value):
        return 2.0 ** int(POWER.match(value).group(1))  # type: ignore[union-attr]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        fail(key, f"{value!r}; allowed: a positive number or 2^k")
    return float(value)


def seed_list(value: Any, key: str) -> tuple[int, ...]:
    """A list of distinct non-negative integers, or ``{start: S, count: N}`` (``S .. S+N-1``)."""
    if isinstance(value, dict):
        bad = sorted(set(value) - {"start", "count"})
        if bad:
            fail(f"{key}.{bad[0]}", "unknown key; allowed: start, count")
        start, count = value.get("start", 0), value.get("count")
        if not (isinstance(start, int) and isinstance(count, int)) or isinstance(start, bool) or \
                isinstance(count, bool) or start < 0 or count < 1 or start + count - 1 > SEED_MAX:
            fail(key, f"{value!r}; allowed: {{start: S >= 0, count: N >= 1}}")
        return tuple(range(start, start + count))
    if not isinstance(value, list) or not value or any(isinstance(v, bool) or not isinstance(v, int) or v < 0
                                                        or v > SEED_MAX for v in value):
        fail(key, f"expected a list of integers in [0, 2^63 - 1] or {{start, count}}, got {value!r}")
    if len(set(value)) != len(value):
        fail(key, "contains duplicates")
    return tuple(sorted(value))


@dataclass(frozen=True)
class Arm:
    """One training job of the study: ``pgexp train`` options (``None``: the command's default)."""

    name: str
    options: dict[str, Any]
    step_sizes: tuple[float, ...]
    seeds: tuple[int, ...]
    label: str


@dataclass(frozen=True)
class PaperStudy:
    """The validated ``study`` section."""

    name: str
    reference: str
    claim: str
    problem: dict[str, Any]
    seeds: tuple[int, ...]
    selection_seeds: tuple[int, ...]
    arms: tuple[Arm, ...]
    threshold: float
    converged_prob: float
    resamples: int
    confidence: float
    variance_offsets: tuple[float, ...]
    reference_arm: str | None = None
    group_exact: dict[str, Any] | None = None

    @property
    def root(self) -> str:
        return f"results/studies/{self.name}"

    @property
    def kind(self) -> str:
        """``groups`` (group estimators, :data:`GROUP_STUDIES`) or ``training``: which rules build it -- a variance
        study is a :class:`MirageStudy`."""
        return "groups" if self.name in GROUP_STUDIES else "training"

    @property
    def figures(self) -> tuple[str, ...]:
        return STUDY_FIGURES[self.name]

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables the study writes under ``results/studies/NAME/tables/`` (parquet + CSV)."""
        if self.kind == "groups":
            return ("length_curves", "length_summary", "group_variance", "prompt_weights", "difficulty_weights")
        extra = ("baseline_variance",) if self.variance_offsets else ()
        return ("learning_curves", "training_summary", "policy_traces", *extra)

    def arm(self, name: str) -> Arm:
        found = {a.name: a for a in self.arms}
        if name not in found:
            raise UserError(f"study {self.name}: no arm {name!r}; arms: {', '.join(found)}")
        return found[name]

    def problem_args(self) -> list[tuple[str, str | None]]:
        p = self.problem
        return [("--env", p["env"]), ("--features", p.get("features")), ("--theta", p.get("theta")),
                ("--gamma", None if p.get("gamma") is None else repr(float(p["gamma"]))),
                ("--horizon", None if p.get("horizon") is None else str(p["horizon"]))]

    def train_args(self, arm_name: str) -> str:
        """The ``pgexp train`` options of one arm (without ``--output``)."""
        arm = self.arm(arm_name)
        o = arm.options
        opts = self.problem_args() + [(f"--{k.replace('_', '-')}", None if v is None else str(v))
                                      for k, v in o.items()]
        opts += [("--step-size", ",".join(repr(x) for x in arm.step_sizes)),
                 ("--seed", ",".join(str(s) for s in arm.seeds)),
                 ("--tag", f"env_name={self.name}"), ("--tag", f"arm={arm.name}"), ("--tag", f"label={arm.label}")]
        return join_options(opts)

    def group_train_args(self, arm_name: str) -> str:
        """The ``pgexp group-train`` options of one arm of a group study (without ``--output``)."""
        arm = self.arm(arm_name)
        opts = self.problem_args() + [(f"--{k.replace('_', '-')}", None if v is None else str(v))
                                      for k, v in arm.options.items()]
        opts += [("--step-size", repr(arm.step_sizes[0])), ("--seed", ",".join(str(s) for s in arm.seeds)),
                 ("--tag", f"arm={arm.name}"), ("--tag", f"label={arm.label}")]
        return join_options(opts)

    def group_curves_args(self) -> str:
        return join_options([("--reference", self.reference_arm), ("--resamples", str(self.resamples)),
                             ("--confidence", repr(self.confidence))])

    def group_variance_args(self) -> str:
        g = self.group_exact or {}
        return join_options([*self.problem_args(), ("--estimators", ",".join(g.get("estimators", ()))),
                             ("--group-size", ",".join(str(x) for x in g.get("group_sizes", ()))),
                             ("--prompts", str(g.get("prompts", 1)))])

    def training_files(self) -> list[str]:
        return [f"{self.root}/training/{a.name}.parquet" for a in self.arms]

    def curves_args(self) -> str:
        return join_options([("--selection-seeds", ",".join(str(s) for s in self.selection_seeds)),
                             ("--threshold", repr(self.threshold)), ("--converged-prob", repr(self.converged_prob)),
                             ("--resamples", str(self.resamples)), ("--confidence", repr(self.confidence))])

    def variance_args(self) -> str:
        # --offsets=...: a leading minus must not read as an option
        return join_options(self.problem_args()) + " " + shlex.quote(
            "--offsets=" + ",".join(repr(x) for x in self.variance_offsets))


def _group_arm(name: str, raw: Any, study_seeds: tuple[int, ...]) -> Arm:
    """One ``pgexp group-train`` job of a group study."""
    key = f"study.arms.{name}"
    if not NAME.match(str(name)):
        fail(key, "arm names are letters, digits and underscores")
    if not isinstance(raw, dict):
        fail(key, "expected a mapping of pgexp group-train options")
    bad = sorted(set(raw) - set(GROUP_ARM_KEYS))
    if bad:
        fail(f"{key}.{bad[0]}", f"unknown key; allowed: {', '.join(GROUP_ARM_KEYS)}")
    for needed in ("estimator", "group_size", "batch_size", "step_sizes", "iterations"):
        if needed not in raw:
            fail(f"{key}.{needed}", "required")
    etas = raw["step_sizes"]
    if not isinstance(etas, list) or len(etas) != 1:
        fail(f"{key}.step_sizes", "expected one step size (a list of one positive number or 2^k)")
    steps = (step_size(etas[0], f"{key}.step_sizes"),)
    for k in ("group_size", "batch_size", "iterations", "record_every"):
        v = raw.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < (0 if k == "iterations" else 1)):
            fail(f"{key}.{k}", f"{v!r}; allowed: a positive integer")
    if raw["batch_size"] % raw["group_size"]:
        fail(f"{key}.batch_size", f"{raw['batch_size']} is not a multiple of group_size {raw['group_size']} (the batch "
                                  "size counts responses: prompts x G)")
    if raw.get("optimizer", "adam") not in ("sga", "adam"):
        fail(f"{key}.optimizer", f"{raw['optimizer']!r}; allowed: sga, adam")
    for k in GROUP_HYPERPARAMETERS:
        if k in raw and (isinstance(raw[k], bool) or not isinstance(raw[k], (int, float))):
            fail(f"{key}.{k}", f"{raw[k]!r}; allowed: a number")
    seeds = seed_list(raw["seeds"], f"{key}.seeds") if "seeds" in raw else study_seeds
    options = {k: raw[k] for k in GROUP_ARM_KEYS if k in raw and k not in ("step_sizes", "seeds", "label")}
    return Arm(str(name), options, steps, seeds, str(raw.get("label", name)))


def _group_exact(raw: Any) -> dict[str, Any]:
    """The ``group_exact`` section: group sizes, prompts per batch and the estimators (``E[~B][:k=v;...]``)."""
    if not isinstance(raw, dict):
        fail("study.group_exact", "expected {group_sizes: [...], prompts: P, estimators: [...]}")
    bad = sorted(set(raw) - set(GROUP_EXACT_KEYS))
    if bad:
        fail(f"study.group_exact.{bad[0]}", f"unknown key; allowed: {', '.join(GROUP_EXACT_KEYS)}")
    sizes, prompts, ests = raw.get("group_sizes"), raw.get("prompts", 1), raw.get("estimators")
    if not isinstance(sizes, list) or not sizes or any(isinstance(g, bool) or not isinstance(g, int) or g < 1
                                                       for g in sizes) or len(set(sizes)) != len(sizes):
        fail("study.group_exact.group_sizes", f"{sizes!r}; allowed: a list of distinct positive integers")
    if isinstance(prompts, bool) or not isinstance(prompts, int) or prompts < 1:
        fail("study.group_exact.prompts", f"{prompts!r}; allowed: a positive integer")
    if not isinstance(ests, list) or not ests or not all(isinstance(e, str) for e in ests):
        fail("study.group_exact.estimators", f"{ests!r}; allowed: a list such as [rloo, grpo, grpo:length_norm=0]")
    return {"group_sizes": tuple(sizes), "prompts": prompts, "estimators": tuple(ests)}


def _arm(name: str, raw: Any, study_seeds: tuple[int, ...], selection: tuple[int, ...]) -> Arm:
    key = f"study.arms.{name}"
    if not NAME.match(str(name)):
        fail(key, "arm names are letters, digits and underscores")
    if not isinstance(raw, dict):
        fail(key, "expected a mapping of pgexp train options")
    bad = sorted(set(raw) - set(ARM_KEYS))
    if bad:
        fail(f"{key}.{bad[0]}", f"unknown key; allowed: {', '.join(ARM_KEYS)}")
    for needed in ("estimator", "step_sizes", "iterations"):
        if needed not in raw:
            fail(f"{key}.{needed}", "required")
    etas = raw["step_sizes"]
    if not isinstance(etas, list) or not etas:
        fail(f"{key}.step_sizes", "expected a non-empty list of positive numbers (or 2^k)")
    steps = tuple(step_size(x, f"{key}.step_sizes") for x in etas)
    seeds = (seed_list(raw["seeds"], f"{key}.seeds") if "seeds" in raw
             else tuple(sorted(set(study_seeds) | set(selection))))
    options = {"batch_size": 1} | {k: raw[k] for k in ARM_KEYS if k in raw and k not in ("step_sizes", "seeds", "label",
                                                                                           "trace_seeds")}
    if "trace_seeds" in raw:
        options["trace_seeds"] = ",".join(str(s) for s in seed_list(raw["trace_seeds"], f"{key}.trace_seeds"))
    if "update" in options:
        options["update"] = str(options["update"]).replace("_", "-")
    for k in ("iterations", "batch_size", "record_every"):
        v = options.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < (0 if k == "iterations" else 1)):
            fail(f"{key}.{k}", f"{v!r}; allowed: a positive integer")
    for k in ("baseline_offset",):
        v = options.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            fail(f"{key}.{k}", f"{v!r}; allowed: a number")
    if "baseline_step_size" in options:
        options["baseline_step_size"] = step_size(options["baseline_step_size"], f"{key}.baseline_step_size")
    return Arm(str(name), options, steps, seeds, str(raw.get("label", name)))


def load_paper_study(config: dict[str, Any], *, schema: str | Path | None = None,
                     record_dir: str | Path | None = None) -> PaperStudy | MirageStudy | None:
    """The validated ``study`` section, or ``None`` when the config has none.

    The full check -- the JSON ``schema`` (a file; it fills in the defaults), then the problem built
    (:func:`check_problem`) -- runs once per config where ``record_dir`` records passed checks
    (:mod:`pgexp.study.record`; the workflow's ``.snakemake/pgexp``), on every call without one."""
    from pgexp.study.record import full_check
    from pgexp.study.schema import check_schema

    template = Path(schema).read_text() if schema is not None else ""
    with full_check("study", config, record_dir, template) as due:
        if due and schema is not None:
            check_schema(config, schema)
        study = paper_study(config)
        if due and study is not None:
            check_problem(study)
    return study


def _fraction(raw: dict[str, Any], key: str, default: float) -> float:
    """``study.KEY``, a number in (0, 1] (``default`` when absent)."""
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        fail(f"study.{key}", f"{value!r}; allowed: a number in (0, 1]")
    return float(value)


def paper_study(config: dict[str, Any]) -> PaperStudy | MirageStudy | None:
    """The ``study`` section read and checked value by value (no build: :func:`load_paper_study` builds)."""
    raw = config.get("study")
    if not raw:
        return None
    if not isinstance(raw, dict):
        fail("study", "expected a mapping")
    if raw.get("name") in MIRAGE_STUDIES:
        return mirage_study(raw)
    bad = sorted(set(raw) - set(STUDY_KEYS))
    if bad:
        fail(f"study.{bad[0]}", f"unknown key; allowed: {', '.join(STUDY_KEYS)}")
    name = raw.get("name")
    if name not in STUDIES:
        fail("study.name", f"{name!r}; allowed: {', '.join(STUDIES)}")
    if not isinstance(raw.get("env"), str):
        fail("study.env", "required: a problem spec, e.g. short_corridor")
    seeds = seed_list(raw.get("seeds"), "study.seeds")
    selection = seed_list(raw["selection_seeds"], "study.selection_seeds") if raw.get("selection_seeds") else ()
    if set(seeds) & set(selection):
        fail("study.selection_seeds", "must not share seeds with study.seeds (the choice must not see the reported "
                                      "runs)")
    arms_raw = raw.get("arms")
    if not isinstance(arms_raw, dict) or not arms_raw:
        fail("study.arms", "expected a mapping arm name -> pgexp train options")
    grouped = name in GROUP_STUDIES
    arms = tuple(_group_arm(k, v, seeds) if grouped else _arm(k, v, seeds, selection) for k, v in arms_raw.items())
    reference = raw.get("reference_arm")
    if reference is not None and reference not in arms_raw:
        fail("study.reference_arm", f"{reference!r}; allowed: one of the arms ({', '.join(arms_raw)})")
    if grouped and reference is None:
        reference = next((a.name for a in arms if a.options.get("estimator") == "dr_grpo"), arms[0].name)
    if grouped and not raw.get("group_exact"):
        fail("study.group_exact", "required for a group study: {group_sizes: [...], prompts: P, estimators: [...]}")
    group_exact = _group_exact(raw["group_exact"]) if raw.get("group_exact") else None
    if not grouped and (raw.get("group_exact") or raw.get("reference_arm")):
        fail("study.group_exact" if raw.get("group_exact") else "study.reference_arm",
             f"only for the group studies ({', '.join(GROUP_STUDIES)})")
    boot = raw.get("bootstrap") or {}
    threshold, conv = _fraction(raw, "threshold", 0.9), _fraction(raw, "converged_prob", 0.99)
    offsets = (raw.get("exact_variance") or {}).get("offsets", [])
    if not isinstance(offsets, list) or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in offsets):
        fail("study.exact_variance.offsets", f"{offsets!r}; allowed: a list of numbers")
    problem = {k: raw.get(k) for k in ("env", "features", "gamma", "horizon", "theta")}
    study = PaperStudy(name, str(raw.get("reference", "")), str(raw.get("claim", "")), problem, seeds, selection,
                       arms, float(threshold), float(conv), int(boot.get("resamples", 2000)),
                       float(boot.get("confidence", 0.95)), tuple(float(x) for x in offsets), reference, group_exact)
    return study


def check_problem(study: PaperStudy | MirageStudy) -> None:
    """Build the problem once so that a bad spec fails before any job runs (names the key)."""
    from pgexp.problems.problem import build_problem

    if isinstance(study, MirageStudy):
        check_mirage(study)
        return
    p = study.problem
    try:
        problem = build_problem(p["env"], features=p.get("features"), theta=p.get("theta"), gamma=p.get("gamma"),
                                horizon=p.get("horizon"))
    except UserError as exc:
        fail("study", str(exc))
    if study.kind == "groups":
        from pgexp.estimators import get_estimator
        from pgexp.exact.group_rules import parse_variant
        from pgexp.sampling.groups import check_groups, with_group_size

        for arm in study.arms:
            o = arm.options
            try:
                est = get_estimator(str(o["estimator"]))
                if est.min_group_size is None and est.name != "reinforce":
                    raise UserError(f"estimator {est.name}: not a group estimator (pgexp group-train trains "
                                    "rloo, grpo, dr_grpo, dapo_token_mean, reinforce_pp, remax and reinforce)")
                est.params({k: o[k] for k in GROUP_HYPERPARAMETERS if k in o})
                check_groups(with_group_size(problem, int(o["group_size"])), est, int(o["batch_size"]))
            except UserError as exc:
                fail(f"study.arms.{arm.name}", str(exc))
        for e in (study.group_exact or {}).get("estimators", ()):
            try:
                parse_variant(e)
            except UserError as exc:
                fail("study.group_exact.estimators", str(exc))
