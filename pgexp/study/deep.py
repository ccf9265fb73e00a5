"""The ``deep`` section: MLP policies on continuous-state Gymnasium tasks (a Monte-Carlo reference)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgexp.problems import parse_horizon
from pgexp.study.common import NAME_RE, check_ints, check_names, fail, horizon_token, join_options, optional_section

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
        return join_options(self._common(name) + [
            ("--estimator", estimator), ("--baseline", baseline), ("--lam", repr(self.lam) if estimator == "gae" else None),
            ("--batch-size", ",".join(map(str, self.batch_sizes))), ("--replicates", str(self.replicates)),
            ("--reference-batch", str(self.reference_batch)), ("--seed", str(seed)), ("--tag", f"env_name={name}"),
            ("--tag", "theta_name=init")])

    def train_args(self, name: str, estimator: str, baseline: str) -> str:
        t = self.train or {}
        return join_options(self._common(name) + [
            ("--estimator", estimator), ("--baseline", baseline), ("--lam", repr(self.lam) if estimator == "gae" else None),
            ("--batch-size", str(t.get("batch_size", 16))), ("--step-size", ",".join(repr(float(x)) for x in t["step_sizes"])),
            ("--optimizer", t.get("optimizer", "adam")), ("--iterations", str(t.get("iterations", 30))),
            ("--seed", ",".join(map(str, t.get("seeds", [0])))), ("--eval-episodes", str(t.get("eval_episodes", 20))),
            ("--tag", f"env_name={name}")])


def load_deep(config: dict[str, Any]) -> DeepStudy | None:
    """The validated ``deep`` section, or ``None``."""
    raw = optional_section(config, "deep", DEEP_KEYS)
    if raw is None:
        return None
    from pgexp.deep import is_continuous_gym
    from pgexp.deep.estimators import DEEP_BASELINES, DEEP_ESTIMATORS

    envs = []
    for name, opts in (raw.get("environments") or {}).items():
        if not NAME_RE.match(str(name)) or not isinstance(opts, dict) or "env" not in opts:
            fail(f"deep.environments.{name}", "expected {env: gym:CartPole-v1, policy: mlp:hidden=32,seed=0}")
        if not is_continuous_gym(str(opts["env"])):
            fail(f"deep.environments.{name}.env", f"{opts['env']!r} is not a continuous-state Gymnasium task "
                                                   "(allowed: gym:CartPole-v1, gym:Acrobot-v1)")
        envs.append((str(name), str(opts["env"]), str(opts.get("policy", "mlp:hidden=32,seed=0"))))
    if not envs:
        fail("deep.environments", "expected at least one {name: {env: gym:CartPole-v1, policy: mlp:...}}")
    estimators = check_names(raw.get("estimators", list(DEEP_ESTIMATORS)), "deep.estimators", list(DEEP_ESTIMATORS))
    baselines = check_names(raw.get("baselines", ["none"]), "deep.baselines", list(DEEP_BASELINES))
    train = raw.get("training")
    if train:
        bad = sorted(set(train) - set(DEEP_TRAIN_KEYS))
        if bad:
            fail(f"deep.training.{bad[0]}", f"unknown key; allowed: {', '.join(DEEP_TRAIN_KEYS)}")
        train = {"estimators": list(estimators), "baselines": list(baselines), **train}
        check_names(train["estimators"], "deep.training.estimators", list(DEEP_ESTIMATORS))
        if not train.get("step_sizes"):
            fail("deep.training.step_sizes", "expected a non-empty list of positive numbers")
    batch_sizes = check_ints(raw.get("batch_sizes", [2, 10, 100]), "deep.batch_sizes", minimum=1)
    if "constant" in baselines and min(batch_sizes) < 2:
        fail("deep.batch_sizes", "the 'constant' (leave-one-out) baseline needs batch sizes >= 2")
    horizon = raw.get("horizon")
    return DeepStudy(envs=tuple(envs), estimators=estimators, baselines=baselines, batch_sizes=batch_sizes,
                     replicates=int(raw.get("replicates", 50)), reference_batch=int(raw.get("reference_batch", 2000)),
                     gamma=float(raw.get("gamma", 0.99)), horizon=None if horizon is None else parse_horizon(horizon),
                     lam=float(raw.get("lam", config.get("lam", 0.95))), seeds=check_ints(raw.get("seeds", [0]), "deep.seeds", minimum=0),
                     train=train or None)


