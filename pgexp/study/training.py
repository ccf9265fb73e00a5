"""The training study: gradient ascent with each estimator, and estimator quality along the exact path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgexp.errors import UserError
from pgexp.estimators import BASELINES, ESTIMATORS, hyperparameters
from pgexp.problems import parse_horizon
from pgexp.study.common import (
    check_baselines,
    check_fit_batch_size,
    check_ints,
    check_names,
    estimator_options,
    fail,
    horizon_token,
    hyperparameter_values,
    join_options,
    optional_section,
    pair_allowed,
    pairs_options,
)
from pgexp.study.estimation import EnvStudy


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
    params: tuple[tuple[str, float], ...]
    fit_batch_size: int | None = None
    selection_seeds: tuple[int, ...] = ()

    def pairs(self) -> list[tuple[str, str]]:
        return [(e, b) for e in self.estimators for b in self.baselines if pair_allowed(e, b)]

    def env(self, name: str) -> TrainEnv:
        return {e.name: e for e in self.envs}[name]

    def problem_args(self, te: TrainEnv) -> list[tuple[str, str | None]]:
        return [("--env", te.env), ("--features", te.features), ("--policy", te.policy), ("--theta", te.theta),
                ("--gamma", None if te.gamma is None else repr(te.gamma)), ("--horizon", horizon_token(te.horizon))]

    def train_args(self, env_name: str, estimator: str, baseline: str) -> str:
        """``pgexp train`` options of one (environment, estimator, baseline)."""
        return self.job_args(env_name, [("--estimator", estimator), ("--baseline", baseline),
                                        *estimator_options(estimator, baseline, dict(self.params),
                                                           self.fit_batch_size)])

    def env_train_args(self, env_name: str) -> str:
        """``pgexp train`` options of one environment's job with every pair (``--pairs``): the same runs and
        numbers as :meth:`train_args` of each pair, in one process and one table."""
        return self.job_args(env_name, pairs_options(self.pairs(), dict(self.params), self.fit_batch_size))

    def job_args(self, env_name: str, which: list[tuple[str, str | None]]) -> str:
        opts = [
            *self.problem_args(self.env(env_name)), *which,
            ("--batch-size", str(self.batch_size)),
            ("--step-size", ",".join(repr(x) for x in self.step_sizes)), ("--optimizer", self.optimizer),
            ("--iterations", str(self.iterations)),
            ("--seed", ",".join(str(x) for x in sorted(set(self.seeds) | set(self.selection_seeds)))),
            ("--tag", f"env_name={env_name}")]
        return join_options(opts)

    def curves_args(self) -> str:
        """``pgexp curves`` options: the threshold and the seeds that choose the step size (not reported)."""
        sel = self.selection_seeds
        return join_options([("--threshold", repr(self.threshold)),
                             ("--selection-seeds", ",".join(str(x) for x in sel) if sel else None)])

    def path_args(self, env_name: str) -> str:
        opts = [
            *self.problem_args(self.env(env_name)),
            ("--estimator", "exact"), ("--batch-size", "1"), ("--step-size", repr(self.path_step_size)),
            ("--optimizer", self.optimizer), ("--iterations", str(max(self.checkpoints))), ("--seed", "0"),
            ("--checkpoints", ",".join(str(c) for c in self.checkpoints)), ("--tag", f"env_name={env_name}")]
        return join_options(opts)

    def checkpoint_args(self, env_name: str, checkpoint: int, theta_path: str) -> str:
        """Estimate at a checkpoint of the exact path with every training pair: the training horizon and batch
        size, one cell."""
        te = self.env(env_name)
        opts = [(k, v) for k, v in self.problem_args(te) if k != "--theta"] + [
            ("--theta", theta_path), *pairs_options(self.pairs(), dict(self.params), self.fit_batch_size),
            ("--batch-size", str(self.batch_size)),
            ("--replicates", str(self.replicates)), ("--seed", "0"),
            ("--tag", f"env_name={env_name}"), ("--tag", f"theta_name=ckpt{checkpoint}"),
            ("--tag", f"checkpoint={checkpoint}")]
        return join_options(opts)


TRAIN_KEYS = ("environments", "estimators", "baselines", "step_sizes", "batch_size", "iterations", "seeds",
              "selection_seeds", "optimizer", "threshold", "checkpoints", "path_step_size", "replicates",
              "fit_batch_size")


def train_envs(raw: dict[str, Any], studies: dict[str, EnvStudy]) -> tuple[TrainEnv, ...]:
    """``training.environments``: each an environment of the study, trained at its own ``horizon`` (default: the
    environment's reference horizon) from its own ``theta`` (default ``zeros``)."""
    envs_raw = raw.get("environments") or {}
    if not isinstance(envs_raw, dict) or not envs_raw:
        fail("training.environments", "expected a mapping env name -> {horizon: H, theta: SPEC}")
    envs = []
    for name, opts in envs_raw.items():
        if name not in studies:
            fail(f"training.environments.{name}", f"not one of the environments: {', '.join(studies)}")
        opts = opts or {}
        bad = sorted(set(opts) - {"horizon", "theta"})
        if bad:
            fail(f"training.environments.{name}.{bad[0]}", "unknown key; allowed: horizon, theta")
        es = studies[name]
        try:
            horizon = parse_horizon(opts.get("horizon", es.reference_horizon),
                                    what=f"training.environments.{name}.horizon")
        except UserError as exc:
            fail(f"training.environments.{name}.horizon", str(exc))
        envs.append(TrainEnv(name, es.env, es.features, es.policy, es.gamma, str(opts.get("theta", "zeros")), horizon))
    return tuple(envs)


def positive_int(raw: dict[str, Any], key: str, default: int) -> int:
    """``training.<key>``: a positive integer (booleans refused), ``default`` when the section does not give it."""
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        fail(f"training.{key}", f"expected a positive integer, got {value!r}")
    return value


def check_step_sizes(step_sizes: Any) -> list[float]:
    """``training.step_sizes``: a non-empty list of positive numbers (booleans refused), returned as given."""
    if not isinstance(step_sizes, list) or not step_sizes or any(
            isinstance(x, bool) or not isinstance(x, (int, float)) or x <= 0 for x in step_sizes):
        fail("training.step_sizes", f"expected a non-empty list of positive numbers, got {step_sizes!r}")
    return step_sizes


def check_training_objectives(study: TrainingStudy) -> None:
    """Refuse an estimator not defined for the objective of an environment trained at horizon inf (discounted
    for gamma < 1, episodic for gamma = 1; the problem's own gamma unless the config sets one)."""
    for te in study.envs:
        if te.horizon is None and (te.gamma is None or te.gamma >= 1):
            gamma = te.gamma if te.gamma is not None else problem_gamma(te.env, f"training.environments.{te.name}")
            kind = "discounted" if gamma < 1 else "episodic"
            for est in study.estimators:
                if kind not in ESTIMATORS[est].objectives:
                    fail(f"training.environments.{te.name}.horizon",
                          f"{est} is not defined for horizon inf with gamma = {gamma:g}; give a finite horizon")


def load_training(config: dict[str, Any], studies: dict[str, EnvStudy]) -> TrainingStudy | None:
    """The validated ``training`` section, or ``None`` when the config has none."""
    raw = optional_section(config, "training", TRAIN_KEYS + tuple(hyperparameters()))
    if raw is None:
        return None
    envs = train_envs(raw, studies)
    step_sizes = check_step_sizes(raw.get("step_sizes"))
    iterations = positive_int(raw, "iterations", 200)
    checkpoints = check_ints(raw.get("checkpoints", [0, iterations]), "training.checkpoints", minimum=0)
    if max(checkpoints) > iterations:
        fail("training.checkpoints", f"{max(checkpoints)} is beyond training.iterations = {iterations}")
    optimizer = raw.get("optimizer", "sga")
    if optimizer not in ("sga", "adam"):
        fail("training.optimizer", f"{optimizer!r}; allowed: sga, adam")
    threshold = raw.get("threshold", 0.9)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        fail("training.threshold", f"expected a number in (0, 1], got {threshold!r}")
    batch = positive_int(raw, "batch_size", 16)
    study = TrainingStudy(
        envs=envs, estimators=check_names(raw.get("estimators"), "training.estimators", list(ESTIMATORS)),
        baselines=check_baselines(raw.get("baselines", ["none"]), "training.baselines"),
        step_sizes=tuple(sorted(float(x) for x in step_sizes)), batch_size=batch, iterations=iterations,
        seeds=check_ints(raw.get("seeds", [0]), "training.seeds", minimum=0), optimizer=optimizer,
        threshold=float(threshold), checkpoints=checkpoints,
        path_step_size=float(raw.get("path_step_size", min(step_sizes))),
        replicates=int(raw.get("replicates", config.get("replicates", 200))),
        params=tuple(sorted(hyperparameter_values(raw, "training", hyperparameter_values(config, "")).items())),
        fit_batch_size=check_fit_batch_size(raw.get("fit_batch_size", config.get("fit_batch_size")),
                                            "training.fit_batch_size"),
        selection_seeds=selection_seeds(raw),
    )
    if any(batch < BASELINES[b.partition(":")[0]].min_batch_size for b in study.baselines):
        fail("training.batch_size", "the 'constant' (leave-one-out) baseline needs batch_size >= 2")
    check_training_objectives(study)
    return study


def selection_seeds(raw: dict[str, Any]) -> tuple[int, ...]:
    """``training.selection_seeds``: disjoint from ``training.seeds`` (the step size is chosen on seeds that are
    not reported); empty when not given (``pgexp curves`` then splits the seeds)."""
    if not raw.get("selection_seeds"):
        return ()
    chosen = check_ints(raw["selection_seeds"], "training.selection_seeds", minimum=0)
    if set(chosen) & set(raw.get("seeds", [0])):
        fail("training.selection_seeds", "must not share seeds with training.seeds (the step size is chosen on "
                                         "seeds that are not reported)")
    return chosen


def problem_gamma(env: str, where: str) -> float:
    import pgexp.study.facts as facts  # the registry's metadata; a build only where it cannot say

    try:
        return facts.problem_gamma(env)
    except UserError as exc:
        fail(f"{where}.env", str(exc))
    raise AssertionError  # unreachable


