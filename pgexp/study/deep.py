"""The ``deep`` section: MLP policies on continuous-state Gymnasium tasks (a Monte-Carlo reference).

A config grouping only: each of its environments becomes an :class:`~pgexp.study.estimation.EnvStudy` of the
continuous track, whose jobs run through the same ``estimate`` and ``train`` rules, commands and code as
the tabular ones (``results/estimates/{env}/init/...``, ``results/training/{env}/...``); only its tables
(``deep_quality``, ``deep_learning_curves``) are its own, because its truth is a reference, not exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgexp.problems import parse_horizon
from pgexp.study.common import (
    NAME_RE,
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
from pgexp.study.estimation import EnvStudy, check_batch_sizes

DEEP_KEYS = ("environments", "estimators", "baselines", "batch_sizes", "replicates", "reference_batch", "gamma",
             "horizon", "seeds", "training", "fit_batch_size")
DEEP_TRAIN_KEYS = ("estimators", "baselines", "step_sizes", "batch_size", "iterations", "seeds", "optimizer",
                   "eval_episodes")
DEFAULT_POLICY = "mlp:hidden=32,seed=0"


@dataclass(frozen=True)
class DeepStudy:
    """The ``deep`` section: its environments (continuous-track :class:`EnvStudy`) and optional training."""

    envs: dict[str, EnvStudy]
    train: dict[str, Any] | None

    def pairs(self, which: str = "estimate") -> list[tuple[str, str]]:
        """The estimate pairs (``which="estimate"``, every environment has the same) or the training pairs."""
        if which == "train" and self.train:
            return [(e, b) for e in self.train["estimators"] for b in self.train["baselines"]
                    if pair_allowed(e, b, "continuous")]
        return next(iter(self.envs.values())).pairs()

    def train_args(self, name: str, estimator: str, baseline: str) -> str:
        """``pgexp train`` options of one (environment, estimator, baseline): curves of the evaluation return."""
        es = self.envs[name]
        return self.job_args(name, [("--estimator", estimator), ("--baseline", baseline),
                                    *estimator_options(estimator, baseline, dict(es.params), es.fit_batch_size)])

    def env_train_args(self, name: str) -> str:
        """``pgexp train`` options of one environment's job with every training pair (``--pairs``)."""
        es = self.envs[name]
        return self.job_args(name, pairs_options(self.pairs("train"), dict(es.params), es.fit_batch_size))

    def job_args(self, name: str, which: list[tuple[str, str | None]]) -> str:
        es, t = self.envs[name], self.train or {}
        return join_options([
            ("--env", es.env), ("--policy", es.policy), ("--gamma", repr(es.gamma)),
            ("--horizon", horizon_token(es.horizons[0])), ("--threads", "1"), *which,
            ("--batch-size", str(t.get("batch_size", 16))),
            ("--step-size", ",".join(repr(float(x)) for x in t["step_sizes"])),
            ("--optimizer", t.get("optimizer", "adam")), ("--iterations", str(t.get("iterations", 30))),
            ("--seed", ",".join(map(str, t.get("seeds", [0])))), ("--eval-episodes", str(t.get("eval_episodes", 20))),
            ("--tag", f"env_name={name}")])


def load_deep(config: dict[str, Any], taken: tuple[str, ...] = ()) -> DeepStudy | None:
    """The validated ``deep`` section, or ``None``; ``taken``: names of the tabular environments (the
    results directories are shared, so names must differ)."""
    from pgexp.estimators import ESTIMATORS, hyperparameters
    from pgexp.problems.continuous import DEFAULT_GAMMA
    from pgexp.study.facts import continuous_task  # gymnasium only when no record of this config has it

    raw = optional_section(config, "deep", DEEP_KEYS + tuple(hyperparameters()))
    if raw is None:
        return None
    continuous = [e for e, est in ESTIMATORS.items() if "continuous" in est.tracks]
    estimators = check_names(raw.get("estimators", continuous), "deep.estimators", continuous)
    baselines = check_baselines(raw.get("baselines", ["none"]), "deep.baselines")
    batch_sizes = check_ints(raw.get("batch_sizes", [2, 10, 100]), "deep.batch_sizes", minimum=1)
    horizon = raw.get("horizon")
    params = hyperparameter_values(raw, "deep", hyperparameter_values(config, ""))
    envs: dict[str, EnvStudy] = {}
    for name, opts in (raw.get("environments") or {}).items():
        where = f"deep.environments.{name}"
        if not NAME_RE.match(str(name)) or not isinstance(opts, dict) or "env" not in opts:
            fail(where, "expected {env: gym:CartPole-v1, policy: mlp:hidden=32,seed=0}")
        if name in taken:
            fail(where, "a name of `environments` too; results/estimates/NAME/ is shared, so names must differ")
        task = continuous_task(str(opts["env"]))
        if task is None:
            from pgexp.problems.continuous import continuous_choices

            fail(f"{where}.env", f"{opts['env']!r} is not a continuous-state Gymnasium task "
                                 f"(allowed: {continuous_choices()}; pgexp envs lists them)")
        cap = task.horizon(None if horizon is None else parse_horizon(horizon))
        study = EnvStudy(
            name=str(name), env=str(opts["env"]), features=None, policy=str(opts.get("policy", DEFAULT_POLICY)),
            gamma=float(raw.get("gamma", DEFAULT_GAMMA)), thetas=(("init", "init"),), estimators=estimators,
            baselines=baselines, horizons=(cap,), batch_sizes=batch_sizes,
            seeds=check_ints(raw.get("seeds", [0]), "deep.seeds", minimum=0), replicates=int(raw.get("replicates", 50)),
            params=tuple(sorted(params.items())), reference_horizon=cap, reference_batch_size=max(batch_sizes),
            fit_batch_size=check_fit_batch_size(raw.get("fit_batch_size", config.get("fit_batch_size")),
                                                "deep.fit_batch_size"),
            track="continuous", reference_batch=int(raw.get("reference_batch", 2000)))
        if not study.pairs():
            fail("deep.baselines", "no estimator x baseline pair is available for continuous-state tasks")
        check_batch_sizes(study, "deep")
        envs[str(name)] = study
    if not envs:
        fail("deep.environments", "expected at least one {name: {env: gym:CartPole-v1, policy: mlp:...}}")
    train = raw.get("training")
    if train:
        bad = sorted(set(train) - set(DEEP_TRAIN_KEYS))
        if bad:
            fail(f"deep.training.{bad[0]}", f"unknown key; allowed: {', '.join(DEEP_TRAIN_KEYS)}")
        train = {"estimators": list(estimators), "baselines": list(baselines), **train}
        check_names(train["estimators"], "deep.training.estimators", continuous)
        train["baselines"] = list(check_baselines(train["baselines"], "deep.training.baselines"))
        if not train.get("step_sizes"):
            fail("deep.training.step_sizes", "expected a non-empty list of positive numbers")
    return DeepStudy(envs=envs, train=train or None)
