"""The ``practice_audit`` section: what common implementation choices do to the gradient.

Its own small problems (not the estimation study's), each with the choices it illustrates
(:mod:`pgexp.audit.variants`): ``common`` (finite horizon), ``normalize``, ``truncate`` (infinite horizon,
``truncate: T``).  Jobs:

* one estimation job per (environment, variant, seed): ``results/practice_audit/estimates/{env}/{variant}/
  seed{seed}.parquet`` (``pgexp estimate`` with the variant's options; every batch size in one process, on
  the same streams as the reference);
* one exact normalisation-bias job per ``normalization.problems`` entry (``pgexp normalization-bias``);
* one sign-flip search (``pgexp sign-flip``);
* with ``training``: one ``pgexp train`` job per (environment, estimator), results under
  ``results/practice_audit/training/{env}/{estimator}~{baseline}.parquet``, and their learning curves.

The tables ``practice_audit``, ``practice_audit_normalization``, ``practice_audit_sign_flip`` and (with
``training``) ``practice_audit_curves``, ``practice_audit_training`` go to ``results/tables/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgexp.audit.variants import CHOICES, Variant, variants
from pgexp.errors import UserError
from pgexp.estimators import hyperparameters
from pgexp.problems import parse_gamma, parse_horizon
from pgexp.study.common import (
    NAME_RE,
    check_baselines,
    check_ints,
    check_names,
    estimator_options,
    fail,
    horizon_token,
    hyperparameter_values,
    join_options,
    optional_section,
    pairs_options,
)

AUDIT_KEYS = ("environments", "baseline", "batch_sizes", "replicates", "seeds", "normalization", "sign_flip",
              "training")
ENV_KEYS = ("env", "features", "gamma", "horizon", "theta", "choices", "truncate")
NORM_KEYS = ("problems", "replicates")
NORM_PROBLEM_KEYS = ("env", "features", "gamma", "horizon", "theta", "pairs", "batch_sizes")
FLIP_KEYS = ("features", "gammas", "horizon", "samples", "seed", "theta_scale", "confirm_batch_size",
             "confirm_replicates")
TRAIN_KEYS = ("environments", "estimators", "step_sizes", "batch_size", "iterations", "seeds", "threshold")
DEFAULT_THETA = "random:seed=0,scale=1"


@dataclass(frozen=True)
class AuditEnv:
    """One audited problem and the choices it illustrates."""

    name: str
    env: str
    features: str | None
    gamma: float | None
    horizon: int | None
    theta: str
    choices: tuple[str, ...]
    truncate: int | None

    def problem_args(self, theta: str | None = None) -> list[tuple[str, str | None]]:
        return [("--env", self.env), ("--features", self.features), ("--theta", theta or self.theta),
                ("--gamma", None if self.gamma is None else repr(self.gamma)),
                ("--horizon", horizon_token(self.horizon))]


@dataclass(frozen=True)
class NormProblem:
    """A problem small enough to enumerate normalised batches on (a bandit, a short horizon)."""

    name: str
    env: str
    features: str | None
    gamma: float | None
    horizon: int
    theta: str
    pairs: tuple[str, ...]
    batch_sizes: tuple[int, ...]


@dataclass(frozen=True)
class SignFlip:
    features: tuple[str, ...]
    gammas: tuple[float, ...]
    horizon: int
    samples: int
    seed: int
    theta_scale: float
    confirm_batch_size: int
    confirm_replicates: int


@dataclass(frozen=True)
class AuditTraining:
    envs: tuple[str, ...]
    estimators: tuple[str, ...]
    step_sizes: tuple[float, ...]
    batch_size: int
    iterations: int
    seeds: tuple[int, ...]
    threshold: float


@dataclass(frozen=True)
class AuditStudy:
    """The validated ``practice_audit`` section."""

    envs: tuple[AuditEnv, ...]
    baseline: str
    batch_sizes: tuple[int, ...]
    replicates: int
    seeds: tuple[int, ...]
    params: tuple[tuple[str, float], ...]
    normalization: tuple[NormProblem, ...]
    normalization_replicates: int
    sign_flip: SignFlip
    training: AuditTraining | None

    def env(self, name: str) -> AuditEnv:
        return {e.name: e for e in self.envs}[name]

    def variants(self, env_name: str) -> list[Variant]:
        e = self.env(env_name)
        return variants(e.choices, self.baseline, e.truncate)

    def estimate_files(self) -> list[str]:
        return [f"results/practice_audit/estimates/{e.name}/seed{s}.parquet" for e in self.envs for s in self.seeds]

    def estimate_args(self, env_name: str, seed: int) -> str:
        """``pgexp estimate`` options of one job: every variant of the environment (``--pairs
        estimator~baseline~option``) on common random numbers; refuses a job the config does not declare."""
        if env_name not in {e.name for e in self.envs} or seed not in self.seeds:
            raise UserError(f"practice_audit/estimates/{env_name}/seed{seed}: not a job of the config")
        e = self.env(env_name)
        variants = self.variants(env_name)
        hyper = pairs_options([(v.estimator, v.baseline) for v in variants], dict(self.params), None)[1:]
        opts = [*e.problem_args(), ("--pairs", " ".join(v.key for v in variants)), *hyper,
                ("--batch-size", ",".join(str(n) for n in self.batch_sizes)),
                ("--replicates", str(self.replicates)), ("--seed", str(seed)),
                ("--tag", f"env_name={env_name}"), ("--tag", "theta_name=audit")]
        return join_options(opts)

    def normalization_files(self) -> list[str]:
        return [f"results/practice_audit/normalization/{p.name}.parquet" for p in self.normalization]

    def normalization_args(self, name: str) -> str:
        match = [p for p in self.normalization if p.name == name]
        if not match:
            raise UserError(f"practice_audit/normalization/{name}: not a problem of the config")
        p = match[0]
        # the pairs' hyperparameters only (every one, default or given), so changing lam reruns only a
        # problem with a GAE pair
        from pgexp.estimators import ESTIMATORS

        params = dict(self.params)
        hyper = {h.option: repr(float(params.get(h.name, h.default)))
                 for pair in p.pairs for h in ESTIMATORS[pair.partition("~")[0]].hyperparameters}
        opts = [("--env", p.env), ("--features", p.features), ("--theta", p.theta),
                ("--gamma", None if p.gamma is None else repr(p.gamma)), ("--horizon", str(p.horizon)),
                ("--pairs", ",".join(p.pairs)), ("--batch-size", ",".join(str(n) for n in p.batch_sizes)),
                *hyper.items(),
                ("--replicates", str(self.normalization_replicates)), ("--tag", f"problem={name}")]
        return join_options(opts)

    def sign_flip_args(self) -> str:
        f = self.sign_flip
        opts = [("--features", ",".join(f.features)), ("--gamma", ",".join(repr(g) for g in f.gammas)),
                ("--horizon", str(f.horizon)), ("--samples", str(f.samples)), ("--seed", str(f.seed)),
                ("--theta-scale", repr(f.theta_scale)), ("--confirm-batch-size", str(f.confirm_batch_size)),
                ("--confirm-replicates", str(f.confirm_replicates))]
        return join_options(opts)

    def training_files(self) -> list[str]:
        t = self.training
        if t is None:
            return []
        return [f"results/practice_audit/training/{e}/runs.parquet" for e in t.envs]

    def train_args(self, env_name: str, estimator: str, baseline: str) -> str:
        t = self.training
        if t is None or env_name not in t.envs or estimator not in t.estimators or baseline != self.baseline:
            raise UserError(f"practice_audit/training/{env_name}/{estimator}~{baseline}: not a run of the config")
        return self.job_args(t, env_name, [("--estimator", estimator), ("--baseline", baseline),
                                           *estimator_options(estimator, baseline, dict(self.params), None)])

    def env_train_args(self, env_name: str) -> str:
        """One environment's training job with every estimator of the section (``--pairs``)."""
        t = self.training
        if t is None or env_name not in t.envs:
            raise UserError(f"practice_audit/training/{env_name}: not an environment of the config's training")
        return self.job_args(t, env_name, pairs_options([(e, self.baseline) for e in t.estimators],
                                                        dict(self.params), None))

    def job_args(self, t: AuditTraining, env_name: str, which: list[tuple[str, str | None]]) -> str:
        e = self.env(env_name)  # training starts at theta = 0, the uniform policy
        opts = [*e.problem_args(theta="zeros"), *which,
                ("--batch-size", str(t.batch_size)), ("--step-size", ",".join(repr(x) for x in t.step_sizes)),
                ("--iterations", str(t.iterations)), ("--seed", ",".join(str(s) for s in t.seeds)),
                ("--tag", f"env_name={env_name}")]
        return join_options(opts)


def _env(name: str, raw: Any, where: str) -> AuditEnv:
    if not NAME_RE.match(name):
        fail(where, "names may contain letters, digits, '_', '.', '-' (they become directory names)")
    if not isinstance(raw, dict) or "env" not in raw:
        fail(where, "expected a mapping with at least 'env' and 'choices'")
    bad = sorted(set(raw) - set(ENV_KEYS))
    if bad:
        fail(f"{where}.{bad[0]}", f"unknown key; allowed: {', '.join(ENV_KEYS)}")
    choices = check_names(raw.get("choices"), f"{where}.choices", list(CHOICES))
    try:
        horizon = parse_horizon(raw.get("horizon"), what=f"{where}.horizon")
        gamma = None if raw.get("gamma") is None else parse_gamma(raw["gamma"], what=f"{where}.gamma")
    except UserError as exc:
        fail(where, str(exc))
    if "horizon" not in raw:
        fail(f"{where}.horizon", "missing; a positive integer (common, normalize) or inf (truncate)")
    truncate = raw.get("truncate")
    if "truncate" in choices:
        if horizon is not None:
            fail(f"{where}.horizon", "the truncate choice cuts an infinite horizon; give horizon: inf")
        if isinstance(truncate, bool) or not isinstance(truncate, int) or truncate < 1:
            fail(f"{where}.truncate", f"expected a positive integer (steps before the cut), got {truncate!r}")
    elif truncate is not None:
        fail(f"{where}.truncate", "only with the truncate choice")
    if "common" in choices and horizon is None:
        fail(f"{where}.choices", "common needs a finite horizon (the common variants are defined for the finite and "
                                 "episodic objectives and differ from the textbook form only for gamma < 1)")
    if "normalize" in choices and horizon is None:
        fail(f"{where}.choices", "normalize: give a finite horizon here (the audit compares it on finite problems)")
    return AuditEnv(name, str(raw["env"]), raw.get("features"), gamma, horizon, str(raw.get("theta", DEFAULT_THETA)),
                    choices, None if truncate is None else int(truncate))


def _norm(raw: Any, glob_replicates: int) -> tuple[tuple[NormProblem, ...], int]:
    from pgexp.estimators.practice import normalizable

    if raw is None:
        return (), glob_replicates
    where = "practice_audit.normalization"
    if not isinstance(raw, dict):
        fail(where, "expected a mapping with 'problems'")
    bad = sorted(set(raw) - set(NORM_KEYS))
    if bad:
        fail(f"{where}.{bad[0]}", f"unknown key; allowed: {', '.join(NORM_KEYS)}")
    probs = raw.get("problems") or {}
    if not isinstance(probs, dict) or not probs:
        fail(f"{where}.problems", "expected a mapping name -> {env, horizon, pairs, batch_sizes}")
    out = []
    allowed = [f"{e}~{b}" for e, bs in normalizable().items() for b in bs if b != "fixed"]
    for name, p in probs.items():
        w = f"{where}.problems.{name}"
        if not NAME_RE.match(str(name)) or not isinstance(p, dict) or "env" not in p:
            fail(w, "expected a name (letters, digits, '_', '.', '-') -> {env, horizon, pairs, batch_sizes}")
        bad = sorted(set(p) - set(NORM_PROBLEM_KEYS))
        if bad:
            fail(f"{w}.{bad[0]}", f"unknown key; allowed: {', '.join(NORM_PROBLEM_KEYS)}")
        h = p.get("horizon")
        if isinstance(h, bool) or not isinstance(h, int) or h < 1:
            fail(f"{w}.horizon", f"expected a (short) positive integer, got {h!r}")
        out.append(NormProblem(str(name), str(p["env"]), p.get("features"), p.get("gamma"), int(h),
                               str(p.get("theta", DEFAULT_THETA)),
                               check_names(p.get("pairs", ["reward_to_go~value_exact"]), f"{w}.pairs", allowed),
                               check_ints(p.get("batch_sizes"), f"{w}.batch_sizes", minimum=1)))
    reps = raw.get("replicates", glob_replicates)
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 3:
        fail(f"{where}.replicates", f"expected an integer >= 3, got {reps!r}")
    return tuple(out), int(reps)


def _flip(raw: Any) -> SignFlip:
    where = "practice_audit.sign_flip"
    raw = raw or {}
    if not isinstance(raw, dict):
        fail(where, "expected a mapping")
    bad = sorted(set(raw) - set(FLIP_KEYS))
    if bad:
        fail(f"{where}.{bad[0]}", f"unknown key; allowed: {', '.join(FLIP_KEYS)}")
    gammas = raw.get("gammas", [0.3, 0.6, 0.9])
    if not isinstance(gammas, list) or not gammas or any(
            isinstance(g, bool) or not isinstance(g, (int, float)) or not 0 <= g < 1 for g in gammas):
        fail(f"{where}.gammas", f"expected a non-empty list of discounts in [0, 1), got {gammas!r}")
    feats = raw.get("features", ["tabular", "random:d=2"])
    if not isinstance(feats, list) or not feats or any(
            not (f == "tabular" or (isinstance(f, str) and f.startswith("random:d="))) for f in feats):
        fail(f"{where}.features", f"expected a list of 'tabular' and 'random:d=D', got {feats!r}")
    ints = {}
    for key, default, low in (("horizon", 20, 1), ("samples", 200, 1), ("seed", 0, 0), ("confirm_batch_size", 64, 1),
                              ("confirm_replicates", 1000, 3)):
        v = raw.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            fail(f"{where}.{key}", f"expected an integer >= {low}, got {v!r}")
        ints[key] = int(v)
    scale = raw.get("theta_scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
        fail(f"{where}.theta_scale", f"expected a positive number, got {scale!r}")
    from pgexp.audit.search_cost import check_search_cost

    try:  # what the job would refuse, refused here (its options named as the keys)
        check_search_cost(ints["samples"], len(feats) * len(gammas), ints["horizon"], ints["confirm_replicates"],
                          ints["confirm_batch_size"])
    except UserError as exc:
        message = str(exc)
        for option in ("--samples", "--horizon", "--confirm-replicates", "--confirm-batch-size"):
            message = message.replace(option, option[2:].replace("-", "_"))
        fail(where, f"the job: {message}")
    return SignFlip(tuple(feats), tuple(float(g) for g in gammas), ints["horizon"], ints["samples"], ints["seed"],
                    float(scale), ints["confirm_batch_size"], ints["confirm_replicates"])


def _training(raw: Any, envs: tuple[AuditEnv, ...]) -> AuditTraining | None:
    from pgexp.estimators import ESTIMATORS

    if raw is None:
        return None
    where = "practice_audit.training"
    if not isinstance(raw, dict):
        fail(where, "expected a mapping")
    bad = sorted(set(raw) - set(TRAIN_KEYS))
    if bad:
        fail(f"{where}.{bad[0]}", f"unknown key; allowed: {', '.join(TRAIN_KEYS)}")
    finite = [e.name for e in envs if e.horizon is not None]
    names = check_names(raw.get("environments"), f"{where}.environments", finite)
    steps = raw.get("step_sizes")
    if not isinstance(steps, list) or not steps or any(
            isinstance(x, bool) or not isinstance(x, (int, float)) or x <= 0 for x in steps):
        fail(f"{where}.step_sizes", f"expected a non-empty list of positive numbers, got {steps!r}")
    ints = {}
    for key, default in (("batch_size", 16), ("iterations", 200)):
        v = raw.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            fail(f"{where}.{key}", f"expected a positive integer, got {v!r}")
        ints[key] = int(v)
    thr = raw.get("threshold", 0.9)
    if isinstance(thr, bool) or not isinstance(thr, (int, float)) or not 0 < thr <= 1:
        fail(f"{where}.threshold", f"expected a number in (0, 1], got {thr!r}")
    return AuditTraining(names, check_names(raw.get("estimators", ["reward_to_go", "reward_to_go_common"]),
                                            f"{where}.estimators", list(ESTIMATORS)),
                         tuple(sorted(float(x) for x in steps)), ints["batch_size"], ints["iterations"],
                         check_ints(raw.get("seeds", [0]), f"{where}.seeds", minimum=0), float(thr))


def load_audit(config: dict[str, Any]) -> AuditStudy | None:
    """The validated ``practice_audit`` section, or ``None`` when the config has none."""
    raw = optional_section(config, "practice_audit", AUDIT_KEYS + tuple(hyperparameters()))
    if raw is None:
        return None
    envs_raw = raw.get("environments")
    if not isinstance(envs_raw, dict) or not envs_raw:
        fail("practice_audit.environments", "expected a mapping name -> {env, horizon, choices, ...}")
    envs = tuple(_env(str(n), r, f"practice_audit.environments.{n}") for n, r in envs_raw.items())
    baseline = check_baselines([raw.get("baseline", "value_exact")], "practice_audit.baseline")[0]
    if baseline.partition(":")[0] not in ("none", "value_exact"):
        fail("practice_audit.baseline", f"{baseline!r}; allowed: none, value_exact (every variant takes it, and the "
                                        "exact engine has their moments)")
    replicates = raw.get("replicates", config.get("replicates", 200))
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 3:
        fail("practice_audit.replicates", f"expected an integer >= 3, got {replicates!r}")
    norm, norm_reps = _norm(raw.get("normalization"), int(replicates))
    study = AuditStudy(
        envs=envs, baseline=baseline,
        batch_sizes=check_ints(raw.get("batch_sizes", [4, 16, 64]), "practice_audit.batch_sizes", minimum=2),
        replicates=int(replicates), seeds=check_ints(raw.get("seeds", [0]), "practice_audit.seeds", minimum=0),
        params=tuple(sorted(hyperparameter_values(raw, "practice_audit", hyperparameter_values(config, "")).items())),
        normalization=norm, normalization_replicates=norm_reps, sign_flip=_flip(raw.get("sign_flip")),
        training=_training(raw.get("training"), envs))
    return study


def check_audit_problems(study: AuditStudy) -> None:
    """Build every problem of the section and check every job's options, naming the config key."""
    from pgexp.estimators.practice import check_practice
    from pgexp.estimators.spec import get_estimator
    from pgexp.problems.problem import build_problem
    from pgexp.runs.context import make_context

    for e in study.envs:
        where = f"practice_audit.environments.{e.name}"
        try:
            prob = build_problem(e.env, features=e.features, theta=e.theta, gamma=e.gamma, horizon=e.horizon)
        except UserError as exc:
            fail(where, str(exc))
        kind = make_context(prob).kind
        if "common" in e.choices and kind == "finite" and prob.mdp.gamma >= 1:
            fail(f"{where}.gamma", "the common variants equal the textbook ones at gamma = 1; give gamma < 1")
        for v in study.variants(e.name):
            est = get_estimator(v.estimator)
            try:
                est.check(v.baseline, kind, "tabular")
                check_practice(v.practice, est, v.baseline, kind, "tabular")
            except UserError as exc:
                fail(where, str(exc))
    from pgexp.audit.normalization import check_enumerable

    for p in study.normalization:
        where = f"practice_audit.normalization.problems.{p.name}"
        try:
            prob = build_problem(p.env, features=p.features, theta=p.theta, gamma=p.gamma, horizon=p.horizon)
        except UserError as exc:
            fail(where, str(exc))
        try:
            check_enumerable(prob, "the problem")
        except UserError as exc:
            fail(where, str(exc))


__all__ = ["AuditEnv", "AuditStudy", "AuditTraining", "NormProblem", "SignFlip", "check_audit_problems", "load_audit"]
