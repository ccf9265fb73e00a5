"""A study: the YAML config turned into validated job lists, path helpers and command-line options.

The workflow (``workflow/rules/*.smk``) asks this module what to run; it holds no science, only the
mapping from config keys to jobs.  Every check raises :class:`~pgexp.errors.UserError` naming the key
and what is allowed, before any job runs.  Imports stay light (no compiled kernels): Snakemake loads
this module on every call, including the no-op ``snakemake -n``.

A job is one (environment, policy point, estimator, baseline, seed); it sweeps the grid
``horizons x batch_sizes`` on common random numbers in one process (one process per cell would spend
most of the study starting Python).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

from pgexp.errors import UserError
from pgexp.estimators import BASELINES, ESTIMATORS
from pgexp.problems import REGISTRY as ENV_REGISTRY
from pgexp.problems import parse_gamma, parse_horizon
from pgexp.specs import parse_spec

SWEEP_KEYS = ("estimators", "baselines", "horizons", "batch_sizes", "seeds")
ENV_KEYS = SWEEP_KEYS + ("env", "features", "policy", "gamma", "thetas", "replicates", "lam", "reference")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def config_hash(config: dict[str, Any]) -> str:
    """A short, order-independent hash of the whole config (provenance)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def horizon_token(h: int | None) -> str:
    return "inf" if h is None else str(h)


@dataclass(frozen=True)
class Job:
    """One estimation job; ``path`` is its parquet output relative to the results directory."""

    env_name: str
    theta_name: str
    estimator: str
    baseline: str
    seed: int

    @property
    def path(self) -> str:
        return f"estimates/{self.env_name}/{self.theta_name}/{self.estimator}~{self.baseline}/seed{self.seed}.parquet"


@dataclass(frozen=True)
class EnvStudy:
    """The resolved settings of one environment (global keys with its own overrides)."""

    name: str
    env: str
    features: str | None
    policy: str | None
    gamma: float | None
    thetas: tuple[tuple[str, str], ...]
    estimators: tuple[str, ...]
    baselines: tuple[str, ...]
    horizons: tuple[int | None, ...]
    batch_sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    replicates: int
    lam: float
    reference_horizon: int | None
    reference_batch_size: int

    def pairs(self) -> list[tuple[str, str]]:
        """Estimator x baseline pairs that make sense (the registry's list), in config order."""
        return [(e, b) for e in self.estimators for b in self.baselines if b in ESTIMATORS[e].baselines]

    def jobs(self) -> list[Job]:
        return [Job(self.name, t, e, b, s) for t, _ in self.thetas for e, b in self.pairs() for s in self.seeds]

    def theta_spec(self, name: str) -> str:
        return dict(self.thetas)[name]

    def exact_pairs(self) -> list[tuple[str, str]]:
        """This environment's pairs that have an exact counterpart (see pgexp.exact_variance.EXACT_PAIRS)."""
        from pgexp.exact.moments import (
            EXACT_PAIRS,  # numpy only; keeps this module light
        )

        return [p for p in self.pairs() if p in EXACT_PAIRS] if any(h is not None for h in self.horizons) else []

    def exact_args(self, theta_name: str) -> str:
        """``pgexp exact-curves`` options for one policy point."""
        opts = [
            ("--env", self.env), ("--features", self.features), ("--policy", self.policy),
            ("--theta", self.theta_spec(theta_name)), ("--gamma", None if self.gamma is None else repr(self.gamma)),
            ("--horizon", ",".join(str(h) for h in self.horizons if h is not None)),
            ("--pairs", ",".join(f"{e}~{b}" for e, b in self.exact_pairs())),
            ("--tag", f"env_name={self.name}"), ("--tag", f"theta_name={theta_name}"),
        ]
        return " ".join(f"{k} {shlex.quote(v)}" for k, v in opts if v is not None)

    def decompose_args(self, theta_name: str) -> str:
        """``pgexp decompose`` options: the same problem and exact pairs as the exact curves."""
        return self.exact_args(theta_name)

    def estimate_args(self, job: Job) -> str:
        """The ``pgexp estimate`` options of a job (deterministic text: Snakemake's params trigger)."""
        opts = [
            ("--env", self.env), ("--features", self.features), ("--policy", self.policy),
            ("--theta", self.theta_spec(job.theta_name)), ("--gamma", None if self.gamma is None else repr(self.gamma)),
            ("--horizon", ",".join(horizon_token(h) for h in self.horizons)),
            ("--batch-size", ",".join(str(n) for n in self.batch_sizes)),
            ("--estimator", job.estimator), ("--baseline", job.baseline),
            # lambda only reaches GAE jobs, so changing it reruns nothing else
            ("--lam", repr(self.lam) if job.estimator == "gae" else None),
            ("--replicates", str(self.replicates)), ("--seed", str(job.seed)),
            ("--tag", f"env_name={self.name}"), ("--tag", f"theta_name={job.theta_name}"),
        ]
        return " ".join(f"{k} {shlex.quote(v)}" for k, v in opts if v is not None)


def _fail(key: str, message: str) -> None:
    raise UserError(f"config key '{key}': {message}")


def _names(value: Any, key: str, allowed: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        _fail(key, f"expected a non-empty list; allowed values: {', '.join(allowed)}")
    bad = [v for v in value if v not in allowed]
    if bad:
        _fail(key, f"unknown {', '.join(map(repr, bad))}; allowed: {', '.join(allowed)}")
    if len(set(value)) != len(value):
        _fail(key, "contains duplicates")
    return tuple(value)


def _ints(value: Any, key: str, *, minimum: int) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in value):
        _fail(key, f"expected a non-empty list of integers >= {minimum}, got {value!r}")
    if len(set(value)) != len(value):
        _fail(key, "contains duplicates")
    return tuple(sorted(value))


def _env_study(name: str, raw: dict[str, Any], glob: dict[str, Any]) -> EnvStudy:
    where = f"environments.{name}"
    if not NAME_RE.match(name):
        _fail(where, "environment names may contain letters, digits, '_', '.', '-' (they become directory names)")
    if not isinstance(raw, dict):
        _fail(where, "expected a mapping with at least 'env'")
    unknown = sorted(set(raw) - set(ENV_KEYS))
    if unknown:
        _fail(f"{where}.{unknown[0]}", f"unknown key; allowed: {', '.join(ENV_KEYS)}")
    merged = {**glob, **raw}
    if "env" not in raw:
        _fail(f"{where}.env", "missing; give a problem spec such as short_corridor or garnet:states=20,actions=4")
    try:
        spec = parse_spec(str(raw["env"]), what=f"{where}.env",
                          with_target=frozenset(n for n, e in ENV_REGISTRY.items() if e.takes_target))
    except UserError as exc:
        _fail(f"{where}.env", str(exc))
    if spec.name not in ENV_REGISTRY:
        _fail(f"{where}.env", f"unknown problem {spec.name!r}; allowed: {', '.join(sorted(ENV_REGISTRY))}")
    try:
        horizons = tuple(sorted({parse_horizon(h, what=f"{where}.horizons") for h in merged.get("horizons") or []},
                                key=lambda h: float("inf") if h is None else h))
    except UserError as exc:
        _fail(f"{where}.horizons", str(exc))
    if not horizons:
        _fail(f"{where}.horizons", "expected a non-empty list of positive integers or 'inf'")
    gamma = merged.get("gamma")
    if gamma is not None:
        try:
            gamma = parse_gamma(gamma, what=f"{where}.gamma")
        except UserError as exc:
            _fail(f"{where}.gamma", str(exc))
    thetas = merged.get("thetas") or {"init": "zeros"}
    if not isinstance(thetas, dict):
        _fail(f"{where}.thetas", "expected a mapping name -> theta spec (zeros | random:seed=S,scale=X | PATH.npy)")
    for tname in thetas:
        if not NAME_RE.match(str(tname)):
            _fail(f"{where}.thetas.{tname}", "names may contain letters, digits, '_', '.', '-'")
    estimators = _names(merged.get("estimators"), f"{where}.estimators", list(ESTIMATORS))
    baselines = _names(merged.get("baselines"), f"{where}.baselines", list(BASELINES))
    batch_sizes = _ints(merged.get("batch_sizes"), f"{where}.batch_sizes", minimum=1)
    seeds = _ints(merged.get("seeds"), f"{where}.seeds", minimum=0)
    replicates = merged.get("replicates")
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 3:
        _fail(f"{where}.replicates", f"expected an integer >= 3 (confidence intervals need replicates), got {replicates!r}")
    lam = merged.get("lam", 0.95)
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0.0 <= lam <= 1.0:
        _fail(f"{where}.lam", f"expected a number in [0, 1], got {lam!r}")
    ref = merged.get("reference") or {}
    ref_h = parse_horizon(ref.get("horizon", horizons[len(horizons) // 2]), what=f"{where}.reference.horizon")
    ref_n = ref.get("batch_size", batch_sizes[len(batch_sizes) // 2])
    if ref_h not in horizons:
        _fail(f"{where}.reference.horizon", f"{horizon_token(ref_h)} is not one of the horizons {[horizon_token(h) for h in horizons]}")
    if ref_n not in batch_sizes:
        _fail(f"{where}.reference.batch_size", f"{ref_n!r} is not one of the batch_sizes {list(batch_sizes)}")
    study = EnvStudy(
        name=name, env=str(raw["env"]), features=merged.get("features"), policy=merged.get("policy"), gamma=gamma,
        thetas=tuple(sorted((str(k), str(v)) for k, v in thetas.items())), estimators=estimators, baselines=baselines,
        horizons=horizons, batch_sizes=batch_sizes, seeds=seeds, replicates=int(replicates), lam=float(lam),
        reference_horizon=ref_h, reference_batch_size=int(ref_n),
    )
    if not study.pairs():
        _fail(f"{where}.baselines", "no estimator x baseline pair makes sense; e.g. every estimator accepts 'none'")
    if "constant" in baselines and min(batch_sizes) < 2:
        _fail(f"{where}.batch_sizes", "the 'constant' (leave-one-out) baseline needs batch sizes >= 2")
    _check_objectives(study, where)
    return study


def _check_objectives(study: EnvStudy, where: str) -> None:
    """Refuse estimators not defined for an objective of the sweep (needs the problem's gamma for H = inf)."""
    if None not in study.horizons:
        return
    gamma = study.gamma
    if gamma is None:
        from pgexp.problems import make_env

        try:
            gamma = make_env(study.env).gamma
        except UserError as exc:
            _fail(f"{where}.env", str(exc))
    kind = "discounted" if gamma < 1 else "episodic"
    for est in study.estimators:
        if kind not in ESTIMATORS[est].objectives:
            _fail(f"{where}.estimators", f"{est} is not defined for horizon inf with gamma = {gamma:g} ({kind}); "
                                         f"drop it for this environment or use finite horizons")


@dataclass(frozen=True)
class TrainEnv:
    """Training settings of one environment (the problem comes from ``environments.<name>``)."""

    name: str
    env: str
    features: str | None
    policy: str | None
    gamma: float | None
    theta: str
    horizon: int | None


@dataclass(frozen=True)
class TrainingStudy:
    """The ``training`` section: gradient ascent with each estimator, and variance along the exact path."""

    envs: tuple[TrainEnv, ...]
    estimators: tuple[str, ...]
    baselines: tuple[str, ...]
    step_sizes: tuple[float, ...]
    batch_size: int
    iterations: int
    seeds: tuple[int, ...]
    optimizer: str
    threshold: float
    checkpoints: tuple[int, ...]
    path_step_size: float
    replicates: int
    lam: float

    def pairs(self) -> list[tuple[str, str]]:
        return [(e, b) for e in self.estimators for b in self.baselines if b in ESTIMATORS[e].baselines]

    def env(self, name: str) -> TrainEnv:
        return {e.name: e for e in self.envs}[name]

    def problem_args(self, te: TrainEnv) -> list[tuple[str, str | None]]:
        return [("--env", te.env), ("--features", te.features), ("--policy", te.policy), ("--theta", te.theta),
                ("--gamma", None if te.gamma is None else repr(te.gamma)), ("--horizon", horizon_token(te.horizon))]

    def train_args(self, env_name: str, estimator: str, baseline: str) -> str:
        opts = self.problem_args(self.env(env_name)) + [
            ("--estimator", estimator), ("--baseline", baseline),
            ("--lam", repr(self.lam) if estimator == "gae" else None), ("--batch-size", str(self.batch_size)),
            ("--step-size", ",".join(repr(x) for x in self.step_sizes)), ("--optimizer", self.optimizer),
            ("--iterations", str(self.iterations)), ("--seed", ",".join(str(x) for x in self.seeds)),
            ("--tag", f"env_name={env_name}")]
        return _join(opts)

    def path_args(self, env_name: str) -> str:
        opts = self.problem_args(self.env(env_name)) + [
            ("--estimator", "exact"), ("--batch-size", "1"), ("--step-size", repr(self.path_step_size)),
            ("--optimizer", self.optimizer), ("--iterations", str(max(self.checkpoints))), ("--seed", "0"),
            ("--checkpoints", ",".join(str(c) for c in self.checkpoints)), ("--tag", f"env_name={env_name}")]
        return _join(opts)

    def checkpoint_args(self, env_name: str, checkpoint: int, theta_path: str, estimator: str, baseline: str) -> str:
        """Estimate at a checkpoint of the exact path: the training horizon and batch size, one cell."""
        te = self.env(env_name)
        opts = [(k, v) for k, v in self.problem_args(te) if k != "--theta"] + [
            ("--theta", theta_path), ("--estimator", estimator), ("--baseline", baseline),
            ("--lam", repr(self.lam) if estimator == "gae" else None), ("--batch-size", str(self.batch_size)),
            ("--replicates", str(self.replicates)), ("--seed", "0"),
            ("--tag", f"env_name={env_name}"), ("--tag", f"theta_name=ckpt{checkpoint}"),
            ("--tag", f"checkpoint={checkpoint}")]
        return _join(opts)


def _join(opts: list[tuple[str, str | None]]) -> str:
    return " ".join(f"{k} {shlex.quote(v)}" for k, v in opts if v is not None)


TRAIN_KEYS = ("environments", "estimators", "baselines", "step_sizes", "batch_size", "iterations", "seeds",
              "optimizer", "threshold", "checkpoints", "path_step_size", "replicates", "lam")


def _section(config: dict[str, Any], name: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """An optional config section, its unknown keys refused by name; ``None`` when absent or empty."""
    raw = config.get(name)
    if not raw:
        return None
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        _fail(f"{name}.{unknown[0]}", f"unknown key; allowed: {', '.join(keys)}")
    return raw


def load_training(config: dict[str, Any], studies: dict[str, EnvStudy]) -> TrainingStudy | None:
    """The validated ``training`` section, or ``None`` when the config has none."""
    raw = _section(config, "training", TRAIN_KEYS)
    if raw is None:
        return None
    envs_raw = raw.get("environments") or {}
    if not isinstance(envs_raw, dict) or not envs_raw:
        _fail("training.environments", "expected a mapping env name -> {horizon: H, theta: SPEC}")
    envs = []
    for name, opts in envs_raw.items():
        if name not in studies:
            _fail(f"training.environments.{name}", f"not one of the environments: {', '.join(studies)}")
        opts = opts or {}
        bad = sorted(set(opts) - {"horizon", "theta"})
        if bad:
            _fail(f"training.environments.{name}.{bad[0]}", "unknown key; allowed: horizon, theta")
        es = studies[name]
        try:
            horizon = parse_horizon(opts.get("horizon", es.reference_horizon), what=f"training.environments.{name}.horizon")
        except UserError as exc:
            _fail(f"training.environments.{name}.horizon", str(exc))
        envs.append(TrainEnv(name, es.env, es.features, es.policy, es.gamma, str(opts.get("theta", "zeros")), horizon))
    step_sizes = raw.get("step_sizes")
    if not isinstance(step_sizes, list) or not step_sizes or any(
            isinstance(x, bool) or not isinstance(x, (int, float)) or x <= 0 for x in step_sizes):
        _fail("training.step_sizes", f"expected a non-empty list of positive numbers, got {step_sizes!r}")
    iterations = raw.get("iterations", 200)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        _fail("training.iterations", f"expected a positive integer, got {iterations!r}")
    checkpoints = _ints(raw.get("checkpoints", [0, iterations]), "training.checkpoints", minimum=0)
    if max(checkpoints) > iterations:
        _fail("training.checkpoints", f"{max(checkpoints)} is beyond training.iterations = {iterations}")
    optimizer = raw.get("optimizer", "sga")
    if optimizer not in ("sga", "adam"):
        _fail("training.optimizer", f"{optimizer!r}; allowed: sga, adam")
    threshold = raw.get("threshold", 0.9)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        _fail("training.threshold", f"expected a number in (0, 1], got {threshold!r}")
    batch = raw.get("batch_size", 16)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        _fail("training.batch_size", f"expected a positive integer, got {batch!r}")
    study = TrainingStudy(
        envs=tuple(envs), estimators=_names(raw.get("estimators"), "training.estimators", list(ESTIMATORS)),
        baselines=_names(raw.get("baselines", ["none"]), "training.baselines", list(BASELINES)),
        step_sizes=tuple(sorted(float(x) for x in step_sizes)), batch_size=batch, iterations=iterations,
        seeds=_ints(raw.get("seeds", [0]), "training.seeds", minimum=0), optimizer=optimizer,
        threshold=float(threshold), checkpoints=checkpoints,
        path_step_size=float(raw.get("path_step_size", min(step_sizes))),
        replicates=int(raw.get("replicates", config.get("replicates", 200))), lam=float(raw.get("lam", config.get("lam", 0.95))),
    )
    if "constant" in study.baselines and batch < 2:
        _fail("training.batch_size", "the 'constant' (leave-one-out) baseline needs batch_size >= 2")
    for te in study.envs:
        if te.horizon is None and (te.gamma is None or te.gamma >= 1):
            gamma = te.gamma if te.gamma is not None else _problem_gamma(te.env, f"training.environments.{te.name}")
            kind = "discounted" if gamma < 1 else "episodic"
            for est in study.estimators:
                if kind not in ESTIMATORS[est].objectives:
                    _fail(f"training.environments.{te.name}.horizon",
                          f"{est} is not defined for horizon inf with gamma = {gamma:g}; give a finite horizon")
    return study


def _problem_gamma(env: str, where: str) -> float:
    from pgexp.problems import make_env

    try:
        return make_env(env).gamma
    except UserError as exc:
        _fail(f"{where}.env", str(exc))
    raise AssertionError  # unreachable


DEEP_KEYS = ("environments", "estimators", "baselines", "batch_sizes", "replicates", "reference_batch", "gamma",
             "horizon", "lam", "seeds", "training")
DEEP_TRAIN_KEYS = ("estimators", "baselines", "step_sizes", "batch_size", "iterations", "seeds", "optimizer",
                   "eval_episodes")


@dataclass(frozen=True)
class DeepStudy:
    """The ``deep`` section: MLP policies on continuous-state Gymnasium tasks (a Monte-Carlo reference)."""

    envs: tuple[tuple[str, str, str], ...]  # (name, env spec, policy spec)
    estimators: tuple[str, ...]
    baselines: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    replicates: int
    reference_batch: int
    gamma: float
    horizon: int | None
    lam: float
    seeds: tuple[int, ...]
    train: dict[str, Any] | None

    def pairs(self, which: str = "estimate") -> list[tuple[str, str]]:
        from pgexp.deep.estimators import DEEP_BASELINES, DEEP_ESTIMATORS

        src = self.train if which == "train" and self.train else {"estimators": self.estimators, "baselines": self.baselines}
        return [(e, b) for e in src["estimators"] for b in src["baselines"]
                if e in DEEP_ESTIMATORS and b in DEEP_ESTIMATORS[e].baselines and b in DEEP_BASELINES]

    def env(self, name: str) -> tuple[str, str, str]:
        return {e[0]: e for e in self.envs}[name]

    def _common(self, name: str) -> list[tuple[str, str | None]]:
        _, spec, policy = self.env(name)
        return [("--env", spec), ("--policy", policy), ("--gamma", repr(self.gamma)),
                ("--horizon", horizon_token(self.horizon) if self.horizon is not None else None), ("--threads", "1")]

    def estimate_args(self, name: str, estimator: str, baseline: str, seed: int) -> str:
        return _join(self._common(name) + [
            ("--estimator", estimator), ("--baseline", baseline), ("--lam", repr(self.lam) if estimator == "gae" else None),
            ("--batch-size", ",".join(map(str, self.batch_sizes))), ("--replicates", str(self.replicates)),
            ("--reference-batch", str(self.reference_batch)), ("--seed", str(seed)), ("--tag", f"env_name={name}"),
            ("--tag", "theta_name=init")])

    def train_args(self, name: str, estimator: str, baseline: str) -> str:
        t = self.train or {}
        return _join(self._common(name) + [
            ("--estimator", estimator), ("--baseline", baseline), ("--lam", repr(self.lam) if estimator == "gae" else None),
            ("--batch-size", str(t.get("batch_size", 16))), ("--step-size", ",".join(repr(float(x)) for x in t["step_sizes"])),
            ("--optimizer", t.get("optimizer", "adam")), ("--iterations", str(t.get("iterations", 30))),
            ("--seed", ",".join(map(str, t.get("seeds", [0])))), ("--eval-episodes", str(t.get("eval_episodes", 20))),
            ("--tag", f"env_name={name}")])


def load_deep(config: dict[str, Any]) -> DeepStudy | None:
    """The validated ``deep`` section, or ``None``."""
    raw = _section(config, "deep", DEEP_KEYS)
    if raw is None:
        return None
    from pgexp.deep import is_continuous_gym
    from pgexp.deep.estimators import DEEP_BASELINES, DEEP_ESTIMATORS

    envs = []
    for name, opts in (raw.get("environments") or {}).items():
        if not NAME_RE.match(str(name)) or not isinstance(opts, dict) or "env" not in opts:
            _fail(f"deep.environments.{name}", "expected {env: gym:CartPole-v1, policy: mlp:hidden=32,seed=0}")
        if not is_continuous_gym(str(opts["env"])):
            _fail(f"deep.environments.{name}.env", f"{opts['env']!r} is not a continuous-state Gymnasium task "
                                                   "(allowed: gym:CartPole-v1, gym:Acrobot-v1)")
        envs.append((str(name), str(opts["env"]), str(opts.get("policy", "mlp:hidden=32,seed=0"))))
    if not envs:
        _fail("deep.environments", "expected at least one {name: {env: gym:CartPole-v1, policy: mlp:...}}")
    estimators = _names(raw.get("estimators", list(DEEP_ESTIMATORS)), "deep.estimators", list(DEEP_ESTIMATORS))
    baselines = _names(raw.get("baselines", ["none"]), "deep.baselines", list(DEEP_BASELINES))
    train = raw.get("training")
    if train:
        bad = sorted(set(train) - set(DEEP_TRAIN_KEYS))
        if bad:
            _fail(f"deep.training.{bad[0]}", f"unknown key; allowed: {', '.join(DEEP_TRAIN_KEYS)}")
        train = {"estimators": list(estimators), "baselines": list(baselines), **train}
        _names(train["estimators"], "deep.training.estimators", list(DEEP_ESTIMATORS))
        if not train.get("step_sizes"):
            _fail("deep.training.step_sizes", "expected a non-empty list of positive numbers")
    batch_sizes = _ints(raw.get("batch_sizes", [2, 10, 100]), "deep.batch_sizes", minimum=1)
    if "constant" in baselines and min(batch_sizes) < 2:
        _fail("deep.batch_sizes", "the 'constant' (leave-one-out) baseline needs batch sizes >= 2")
    horizon = raw.get("horizon")
    return DeepStudy(envs=tuple(envs), estimators=estimators, baselines=baselines, batch_sizes=batch_sizes,
                     replicates=int(raw.get("replicates", 50)), reference_batch=int(raw.get("reference_batch", 2000)),
                     gamma=float(raw.get("gamma", 0.99)), horizon=None if horizon is None else parse_horizon(horizon),
                     lam=float(raw.get("lam", config.get("lam", 0.95))), seeds=_ints(raw.get("seeds", [0]), "deep.seeds", minimum=0),
                     train=train or None)


def load_study(config: dict[str, Any]) -> dict[str, EnvStudy]:
    """All environments of a (schema-validated) config, resolved and checked."""
    envs = config.get("environments")
    if not isinstance(envs, dict) or not envs:
        _fail("environments", "expected a non-empty mapping name -> {env: SPEC, ...}")
    glob = {k: v for k, v in config.items() if k in ENV_KEYS}
    return {name: _env_study(name, raw, glob) for name, raw in envs.items()}
