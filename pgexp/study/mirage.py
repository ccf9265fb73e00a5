"""The variance study ``tucker2018_mirage`` (``config/studies/tucker2018_mirage.yaml``): no training, several problems.

Its ``study`` section:

* ``name``, ``reference``, ``claim`` -- as every paper study;
* ``problems``: name -> ``env`` and optional ``features``, ``gamma``, ``horizon``, ``theta``, ``policy_std``,
  ``label`` (a finite horizon or ``inf`` with ``gamma < 1``: the exact engines need one);
* ``exact_pairs``: ``estimator~baseline`` pairs whose exact per-step decomposition and whole-trajectory variance
  ``pgexp tucker`` computes on every problem (a pair a problem's track has no exact engine for -- ``q_optimal`` on a
  linear-quadratic problem -- is left out there and said so); ``reference_pair`` (default
  ``reward_to_go~value_exact``) is the estimator with the exact state baseline whose terms the report reads;
* ``fitted_pairs``: the Monte-Carlo arm, every pair on the same trajectories (``pgexp estimate --pairs``) with
  ``batch_size`` ``N``, ``fit_batch_size`` ``K`` (every fitted baseline draws one independent batch of ``K``
  trajectories, the same one for all, charged to each: equal sample cost), ``replicates``, ``seed``; ``lam`` for
  GAE; ``bootstrap: {resamples, confidence}`` for ``pgexp metrics`` (its metrics and its paired comparisons).

Its rules are ``workflow/rules/mirage_study.smk``: per problem ``pgexp tucker``, ``pgexp estimate`` and ``pgexp
metrics --comparisons`` (the metrics and the paired comparisons of the one cell from one read); ``pgexp aggregate``
into ``tables/``; ``pgexp study-report``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pgexp.errors import UserError
from pgexp.study.common import fail, join_options, pairs_options

MIRAGE_STUDIES = ("tucker2018_mirage",)
MIRAGE_KEYS = ("name", "reference", "claim", "problems", "exact_pairs", "reference_pair", "fitted_pairs", "batch_size",
               "fit_batch_size", "replicates", "seed", "lam", "bootstrap")
PROBLEM_KEYS = ("env", "features", "gamma", "horizon", "theta", "policy_std", "label")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")
PAIR = re.compile(r"^[a-z][a-z0-9_]*~[a-z][a-z0-9_]*$")
LQR_EXACT = {"reward_to_go": ("none", "value_exact", "q_exact"), "gae": ("none", "value_exact", "q_exact"),
             "all_action": ("q_exact",)}  # pgexp.exact.lqr_action_dependent.SUPPORTED (metadata: no numerics here)
TABLES = ("tucker_terms", "metrics", "comparisons")
FIGURES = ("tucker2018_terms", "tucker2018_variance")


@dataclass(frozen=True)
class MirageProblem:
    """One problem of the study: its ``pgexp`` problem options and the exact pairs it takes."""

    name: str
    options: dict[str, Any]
    label: str
    exact_pairs: tuple[tuple[str, str], ...]
    skipped: tuple[tuple[str, str], ...]

    @property
    def lqr(self) -> bool:
        return is_lqr(self.options["env"])


@dataclass(frozen=True)
class MirageStudy:
    """The validated ``study`` section of a variance study (module docstring)."""

    name: str
    reference: str
    claim: str
    problems: tuple[MirageProblem, ...]
    exact_pairs: tuple[tuple[str, str], ...]
    reference_pair: tuple[str, str]
    fitted_pairs: tuple[tuple[str, str], ...]
    batch_size: int
    fit_batch_size: int
    replicates: int
    seed: int
    lam: float
    resamples: int
    confidence: float

    kind = "mirage"

    @property
    def root(self) -> str:
        return f"results/studies/{self.name}"

    @property
    def figures(self) -> tuple[str, ...]:
        return FIGURES

    @property
    def tables(self) -> tuple[str, ...]:
        return TABLES

    def problem(self, name: str) -> MirageProblem:
        found = {p.name: p for p in self.problems}
        if name not in found:
            raise UserError(f"study {self.name}: no problem {name!r}; problems: {', '.join(found)}")
        return found[name]

    def problem_options(self, name: str) -> list[tuple[str, str | None]]:
        o = self.problem(name).options
        return [("--env", o["env"]), ("--features", o.get("features")), ("--theta", o.get("theta")),
                ("--gamma", None if o.get("gamma") is None else repr(float(o["gamma"]))),
                ("--horizon", None if o.get("horizon") is None else str(o["horizon"])),
                ("--policy-std", None if o.get("policy_std") is None else repr(float(o["policy_std"])))]

    def tucker_args(self, name: str) -> str:
        """``pgexp tucker`` options of one problem (without ``--output``)."""
        p = self.problem(name)
        return join_options([*self.problem_options(name),
                             ("--pairs", ",".join(f"{e}~{b}" for e, b in p.exact_pairs)), ("--lam", repr(self.lam)),
                             ("--tag", f"env_name={name}"), ("--tag", f"env_label={p.label}")]) + " --per-step"

    def estimate_args(self, name: str) -> str:
        """``pgexp estimate`` options of one problem's Monte-Carlo arm (without ``--output``)."""
        opts = pairs_options(list(self.fitted_pairs), {"lam": self.lam}, self.fit_batch_size)
        return join_options([*self.problem_options(name), *opts, ("--batch-size", str(self.batch_size)),
                             ("--replicates", str(self.replicates)), ("--seed", str(self.seed)),
                             ("--min-trajectories", "1"), ("--tag", f"env_name={name}")])

    def metrics_args(self, name: str) -> str:
        """``pgexp metrics`` options of one problem's Monte-Carlo arm (without the inputs, ``--output`` and
        ``--comparisons``): the bootstrap and the arm's one cell ``(horizon, batch_size)``, which ``--comparisons``
        compares."""
        return join_options([("--resamples", str(self.resamples)), ("--confidence", repr(self.confidence)),
                             ("--reference-horizon", str(self.problem(name).options["horizon"])),
                             ("--reference-batch-size", str(self.batch_size))])

    def problem_names(self) -> list[str]:
        return [p.name for p in self.problems]


def _pairs(value: Any, key: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and PAIR.match(v) for v in value):
        fail(key, f"{value!r}; allowed: a list of estimator~baseline pairs, e.g. [reward_to_go~value_exact]")
    if len(set(value)) != len(value):
        fail(key, "contains duplicates")
    return tuple((v.split("~", 1)[0], v.split("~", 1)[1]) for v in value)


def _count(raw: dict[str, Any], key: str, default: int, minimum: int = 1) -> int:
    v = raw.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        fail(f"study.{key}", f"{v!r}; allowed: an integer >= {minimum}")
    return int(v)


def is_lqr(spec: str) -> bool:
    """:func:`pgexp.problems.lqr.is_lqr` without importing numerics (the workflow reads this module every call)."""
    return str(spec).strip().partition(":")[0].strip() == "lqr"


def _problem(name: str, raw: Any, exact: tuple[tuple[str, str], ...]) -> MirageProblem:
    key = f"study.problems.{name}"
    if not NAME.match(str(name)):
        fail(key, "problem names are letters, digits and underscores")
    if not isinstance(raw, dict) or not isinstance(raw.get("env"), str):
        fail(key, "expected a mapping with env (a problem spec) and optional " + ", ".join(PROBLEM_KEYS[1:]))
    bad = sorted(set(raw) - set(PROBLEM_KEYS))
    if bad:
        fail(f"{key}.{bad[0]}", f"unknown key; allowed: {', '.join(PROBLEM_KEYS)}")
    if raw.get("horizon") is None:
        fail(f"{key}.horizon", "required: the exact engines need a finite horizon, or inf with gamma < 1")
    lqr = is_lqr(raw["env"])
    keep = tuple(p for p in exact if not lqr or p[1] in LQR_EXACT.get(p[0], ()))
    skipped = tuple(p for p in exact if p not in keep)
    if not keep:
        fail(f"{key}.env", "none of study.exact_pairs has an exact engine on this problem")
    options = {k: raw[k] for k in PROBLEM_KEYS if k in raw and k != "label"}
    return MirageProblem(str(name), options, str(raw.get("label", name)), keep, skipped)


def mirage_study(raw: dict[str, Any]) -> MirageStudy:
    """The ``study`` section of a variance study, read and checked value by value (no build)."""
    bad = sorted(set(raw) - set(MIRAGE_KEYS))
    if bad:
        fail(f"study.{bad[0]}", f"unknown key; allowed: {', '.join(MIRAGE_KEYS)}")
    exact = _pairs(raw.get("exact_pairs"), "study.exact_pairs")
    reference = _pairs([raw.get("reference_pair", "reward_to_go~value_exact")], "study.reference_pair")[0]
    if reference not in exact:
        fail("study.reference_pair", f"{'~'.join(reference)} must be one of study.exact_pairs")
    fitted = _pairs(raw.get("fitted_pairs"), "study.fitted_pairs")
    problems_raw = raw.get("problems")
    if not isinstance(problems_raw, dict) or not problems_raw:
        fail("study.problems", "expected a mapping problem name -> {env, gamma, horizon, theta, ...}")
    problems = tuple(_problem(k, v, exact) for k, v in problems_raw.items())
    lam = raw.get("lam", 0.95)
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0 <= lam <= 1:
        fail("study.lam", f"{lam!r}; allowed: a number in [0, 1]")
    boot = raw.get("bootstrap") or {}
    return MirageStudy(str(raw["name"]), str(raw.get("reference", "")), str(raw.get("claim", "")), problems, exact,
                       reference, fitted, _count(raw, "batch_size", 16), _count(raw, "fit_batch_size", 16),
                       _count(raw, "replicates", 400, 2), _count(raw, "seed", 0, 0), float(lam),
                       int(boot.get("resamples", 2000)), float(boot.get("confidence", 0.95)))


def check_mirage(study: MirageStudy) -> None:
    """Build every problem and check every pair against it, so that a mistake fails before any job (names the key)."""
    from pgexp.exact.tucker import supported
    from pgexp.problems.problem import build_problem
    from pgexp.runs.estimate import check_combination

    exact = supported()
    for e, b in study.exact_pairs:
        if b not in exact.get(e, ()):
            fail("study.exact_pairs", f"{e}~{b} has no exact decomposition; allowed: "
                                      + ", ".join(f"{x}~{y}" for x, ys in exact.items() for y in ys))
    for p in study.problems:
        o = p.options
        try:
            problem = build_problem(o["env"], features=o.get("features"), theta=o.get("theta"), gamma=o.get("gamma"),
                                    horizon=o.get("horizon"), policy_std=o.get("policy_std"))
        except UserError as exc:
            fail(f"study.problems.{p.name}", str(exc))
        if p.lqr and not problem.system.scalar:
            fail(f"study.problems.{p.name}.env", "the exact decomposition on a linear-quadratic problem needs a "
                                                  "scalar system (n = m = 1)")
        for e, b in study.fitted_pairs:
            try:
                check_combination(problem, e, b, study.batch_size, study.fit_batch_size)
            except UserError as exc:
                fail(f"study.fitted_pairs ({p.name})", str(exc))


__all__ = ["FIGURES", "MIRAGE_STUDIES", "TABLES", "MirageProblem", "MirageStudy", "check_mirage", "mirage_study"]
