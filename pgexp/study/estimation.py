"""The estimation study: ``environments`` x policy points x seeds -> jobs, each over every estimator~baseline pair.

A job is one (environment, policy point, seed); it sweeps the grid ``horizons x batch_sizes`` with every pair
of the environment on common random numbers in one process: the trajectories of a cell are drawn once for all
pairs, and the process starts once (a process per pair spent most of the study starting Python).  Changing a
pair of an environment reruns that environment's jobs, nothing else.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from pgexp.errors import UserError
from pgexp.estimators import ESTIMATORS, hyperparameters
from pgexp.estimators.practice import PLAIN, Practice, config_names, make_practice, normalizable
from pgexp.problems import REGISTRY as ENV_REGISTRY
from pgexp.problems import parse_gamma, parse_horizon
from pgexp.specs import parse_spec
from pgexp.study.common import (
    NAME_RE,
    check_baselines,
    check_fit_batch_size,
    check_ints,
    check_names,
    fail,
    horizon_token,
    hyperparameter_values,
    pair_allowed,
    pairs_options,
)

SWEEP_KEYS = ("estimators", "baselines", "horizons", "batch_sizes", "seeds")
# besides these, every hyperparameter of the registry (`lam`, a plug-in's own) is a key
ENV_KEYS = (*SWEEP_KEYS, "env", "features", "policy", "gamma", "thetas", "replicates", "reference", "fit_batch_size",
            "normalize_advantages", "truncate", "truncate_bootstrap", "min_trajectories", "policy_std", "learn_std")


@dataclass(frozen=True)
class Job:
    """One estimation job: every pair of an environment at one policy point and seed, on common random numbers
    (one process: the trajectories are drawn once for all pairs).  ``path`` is its parquet output relative to the
    results directory."""

    env_name: str
    theta_name: str
    seed: int
    heldout: bool = False  # a coverage job: the judged pairs only, on a seed not used to choose the interval method

    @property
    def path(self) -> str:
        folder = "estimates_heldout" if self.heldout else "estimates"
        return f"{folder}/{self.env_name}/{self.theta_name}/seed{self.seed}.parquet"


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
    params: tuple[tuple[str, float], ...]  # hyperparameters the config sets (the spec's defaults otherwise)
    reference_horizon: int | None
    reference_batch_size: int
    fit_batch_size: int | None = None
    track: str = "tabular"
    reference_batch: int | None = None  # continuous-state tasks: episodes of the Monte-Carlo reference
    practice: Practice = PLAIN  # normalize_advantages, truncate, truncate_bootstrap: every job of the environment
    min_trajectories: int = 0
    policy_std: float | None = None  # Gaussian policies (lqr:... problems): sigma, and whether log sigma is learned
    learn_std: bool = False
    heldout_seeds: tuple[int, ...] = ()  # ``coverage.seeds``: the intervals' coverage judged on these, not ``seeds``

    def pairs(self) -> list[tuple[str, str]]:
        """Estimator x baseline pairs that make sense (the registry's list), in config order."""
        return [(e, b) for e in self.estimators for b in self.baselines if pair_allowed(e, b, self.track)]

    def jobs(self) -> list[Job]:
        return [Job(self.name, t, s) for t, _ in self.thetas for s in self.seeds]

    def heldout_jobs(self) -> list[Job]:
        """The coverage jobs: per policy point and held-out seed, the :meth:`judged_pairs` (none without them)."""
        if not self.judged_pairs():
            return []
        return [Job(self.name, t, s, heldout=True) for t, _ in self.thetas for s in self.heldout_seeds]

    @property
    def lam(self) -> float:
        """GAE's lambda here (the config's, else the spec's default): the exact GAE commands take it too."""
        from pgexp.estimators import LAM

        return dict(self.params).get(LAM.name, LAM.default)

    def theta_spec(self, name: str) -> str:
        return dict(self.thetas)[name]

    def exact_pairs(self) -> list[tuple[str, str]]:
        """This environment's pairs with an exact counterpart (:func:`pgexp.exact.catalogue.exact_pairs`), when it
        has a finite horizon."""
        from pgexp.exact.catalogue import exact_pairs  # no numerical imports: keeps this module light

        # the exact curves are of the plain estimators (the practice_audit section has the options' exact values)
        if self.track not in ("tabular", "lqr") or all(h is None for h in self.horizons) or not self.practice.plain:
            return []
        known = set(exact_pairs(self.estimators, self.baselines))
        return [p for p in self.pairs() if p in known]

    def judged_pairs(self) -> list[tuple[str, str]]:
        """The :meth:`exact_pairs` whose interval coverage is judged: not the ``optimal`` baseline, whose exact value
        is the oracle optimum rather than the fitted estimator's (as :func:`pgexp.analysis.aggregate.join_exact`)."""
        return [(e, b) for e, b in self.exact_pairs() if b.partition(":")[0] != "optimal"]

    def _problem_options(self, theta_name: str) -> list[tuple[str, str | None]]:
        return [("--env", self.env), ("--features", self.features), ("--policy", self.policy),
                ("--theta", self.theta_spec(theta_name)), ("--gamma", None if self.gamma is None else repr(self.gamma)),
                ("--policy-std", None if self.policy_std is None else repr(self.policy_std))]

    @property
    def flags(self) -> str:
        """Problem options without a value (``--learn-std``), as command-line text."""
        return " --learn-std" if self.learn_std else ""

    def _tags(self, theta_name: str) -> list[tuple[str, str | None]]:
        return [("--tag", f"env_name={self.name}"), ("--tag", f"theta_name={theta_name}")]

    def exact_lam(self) -> str | None:
        """``--lam`` of the exact commands, only when a pair depends on it (gae, gae_common)."""
        from pgexp.exact.catalogue import reads_lambda

        return repr(self.lam) if any(reads_lambda(e) for e, _ in self.exact_pairs()) else None

    def exact_args(self, theta_name: str) -> str:
        """``pgexp exact-curves`` options for one policy point: every finite horizon x batch size."""
        lam = self.exact_lam()
        opts = [
            *self._problem_options(theta_name),
            ("--horizon", ",".join(str(h) for h in self.horizons if h is not None)),
            ("--batch-size", ",".join(str(n) for n in self.batch_sizes)),
            ("--pairs", ",".join(f"{e}~{b}" for e, b in self.exact_pairs())), ("--lam", lam),
            *self._tags(theta_name)]
        return " ".join(f"{k} {shlex.quote(v)}" for k, v in opts if v is not None) + self.flags

    def decompose_args(self, theta_name: str) -> str:
        """``pgexp decompose`` options: the same problem, horizons and exact pairs as the exact curves."""
        lam = self.exact_lam()
        opts = [
            *self._problem_options(theta_name),
            ("--horizon", ",".join(str(h) for h in self.horizons if h is not None)),
            ("--pairs", ",".join(f"{e}~{b}" for e, b in self.exact_pairs())), ("--lam", lam),
            *self._tags(theta_name)]
        return " ".join(f"{k} {shlex.quote(v)}" for k, v in opts if v is not None) + self.flags

    def has_lambda_tradeoff(self) -> bool:
        """GAE is studied here at a reference horizon the exact engine covers (finite, or discounted)."""
        return "gae" in self.estimators and self.practice.plain and self.track == "tabular" and (
            self.reference_horizon is not None
                                                                     or (self.gamma or 1.0) < 1.0)

    def lambda_tradeoff_args(self, theta_name: str) -> str:
        """``pgexp lambda-tradeoff`` options: the reference horizon, batch sizes 1 and the study's."""
        sizes = sorted({1, *self.batch_sizes})
        opts = [
            *self._problem_options(theta_name),
            ("--horizon", horizon_token(self.reference_horizon)), ("--batch-size", ",".join(map(str, sizes))),
            *self._tags(theta_name)]
        return " ".join(f"{k} {shlex.quote(v)}" for k, v in opts if v is not None) + self.flags

    def estimate_args(self, job: Job) -> str:
        """The ``pgexp estimate`` options of a job (deterministic text: Snakemake's params trigger); a held-out job
        runs the :meth:`judged_pairs` only, with the same grid, replicates and options as the study's own jobs."""
        pairs = self.judged_pairs() if job.heldout else self.pairs()
        opts = [
            ("--env", self.env), ("--features", self.features), ("--policy", self.policy),
            ("--theta", self.theta_spec(job.theta_name)), ("--gamma", None if self.gamma is None else repr(self.gamma)),
            ("--policy-std", None if self.policy_std is None else repr(self.policy_std)),
            ("--horizon", ",".join(horizon_token(h) for h in self.horizons)),
            ("--batch-size", ",".join(str(n) for n in self.batch_sizes)),
            # hyperparameters only when a pair has them, so changing one reruns nothing else
            *pairs_options(pairs, dict(self.params), self.fit_batch_size),
            ("--replicates", str(self.replicates)), ("--seed", str(job.seed)),
            ("--truncate", None if self.practice.truncate is None else str(self.practice.truncate)),
            ("--bootstrap", None if self.practice.truncate is None else self.practice.bootstrap),
            # only when set, so a study without it keeps its jobs' commands
            ("--min-trajectories", str(self.min_trajectories) if self.min_trajectories else None),
            ("--tag", f"env_name={self.name}"), ("--tag", f"theta_name={job.theta_name}"),
        ]
        if self.track == "continuous":
            opts += [("--reference-batch", str(self.reference_batch)), ("--threads", "1")]
        flag = " --normalize-advantages" if self.practice.normalize_advantages else ""
        return " ".join(f"{k} {shlex.quote(v)}" for k, v in opts if v is not None) + flag + self.flags


def check_env_entry(name: str, raw: Any, where: str) -> None:
    """Check an ``environments`` entry's name, that it is a mapping of known keys, and its ``env`` problem spec."""
    if not NAME_RE.match(name):
        fail(where, "environment names may contain letters, digits, '_', '.', '-' (they become directory names)")
    if not isinstance(raw, dict):
        fail(where, "expected a mapping with at least 'env'")
    allowed = ENV_KEYS + tuple(hyperparameters())
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        fail(f"{where}.{unknown[0]}", f"unknown key; allowed: {', '.join(allowed)}")
    if "env" not in raw:
        fail(f"{where}.env", "missing; give a problem spec such as short_corridor or garnet:states=20,actions=4")
    try:
        spec = parse_spec(str(raw["env"]), what=f"{where}.env",
                          with_target=frozenset(n for n, e in ENV_REGISTRY.items() if e.takes_target))
    except UserError as exc:
        fail(f"{where}.env", str(exc))
    if spec.name not in ENV_REGISTRY:
        fail(f"{where}.env", f"unknown problem {spec.name!r}; allowed: {', '.join(sorted(ENV_REGISTRY))}")


def env_horizons(merged: dict[str, Any], where: str) -> tuple[int | None, ...]:
    """The sweep's distinct horizons, ascending with ``None`` (H = inf) last; refuses an empty list."""
    try:
        horizons = tuple(sorted({parse_horizon(h, what=f"{where}.horizons") for h in merged.get("horizons") or []},
                                key=lambda h: float("inf") if h is None else h))
    except UserError as exc:
        fail(f"{where}.horizons", str(exc))
    if not horizons:
        fail(f"{where}.horizons", "expected a non-empty list of positive integers or 'inf'")
    return horizons


def env_gamma(merged: dict[str, Any], where: str) -> float | None:
    """The configured discount in [0, 1], or ``None`` for the problem's own."""
    gamma = merged.get("gamma")
    if gamma is None:
        return None
    try:
        return parse_gamma(gamma, what=f"{where}.gamma")
    except UserError as exc:
        fail(f"{where}.gamma", str(exc))


def env_thetas(merged: dict[str, Any], where: str) -> dict[Any, Any]:
    """The policy points, name -> theta spec (default ``{init: zeros}``); names must be directory-safe."""
    thetas = merged.get("thetas") or {"init": "zeros"}
    if not isinstance(thetas, dict):
        fail(f"{where}.thetas", "expected a mapping name -> theta spec (zeros | random:seed=S,scale=X | PATH.npy)")
    for tname in thetas:
        if not NAME_RE.match(str(tname)):
            fail(f"{where}.thetas.{tname}", "names may contain letters, digits, '_', '.', '-'")
    return thetas


def check_count(value: Any, key: str, *, minimum: int, why: str = "") -> int:
    """A single integer ``>= minimum`` (booleans refused); ``why`` is added to the message in parentheses."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        fail(key, f"expected an integer >= {minimum}{f' ({why})' if why else ''}, got {value!r}")
    return value


def env_reference(merged: dict[str, Any], where: str, horizons: tuple[int | None, ...],
                  batch_sizes: tuple[int, ...]) -> tuple[int | None, int]:
    """The reference cell ``(horizon, batch size)``: the middle of each sweep unless ``reference`` names one of it."""
    ref = merged.get("reference") or {}
    ref_h = parse_horizon(ref.get("horizon", horizons[len(horizons) // 2]), what=f"{where}.reference.horizon")
    ref_n = ref.get("batch_size", batch_sizes[len(batch_sizes) // 2])
    if ref_h not in horizons:
        fail(f"{where}.reference.horizon",
             f"{horizon_token(ref_h)} is not one of the horizons {[horizon_token(h) for h in horizons]}")
    if ref_n not in batch_sizes:
        fail(f"{where}.reference.batch_size", f"{ref_n!r} is not one of the batch_sizes {list(batch_sizes)}")
    return ref_h, int(ref_n)


def env_study(name: str, raw: dict[str, Any], glob: dict[str, Any], heldout: tuple[int, ...] = ()) -> EnvStudy:
    """One environment's resolved study: its own keys over the global ones, every key checked in a fixed order;
    ``heldout``: the ``coverage.seeds`` (:func:`heldout_seeds`)."""
    where = f"environments.{name}"
    check_env_entry(name, raw, where)
    merged = {**glob, **raw}
    horizons = env_horizons(merged, where)
    gamma = env_gamma(merged, where)
    thetas = env_thetas(merged, where)
    estimators = check_names(merged.get("estimators"), f"{where}.estimators", list(ESTIMATORS))
    baselines = check_baselines(merged.get("baselines"), f"{where}.baselines")
    batch_sizes = check_ints(merged.get("batch_sizes"), f"{where}.batch_sizes", minimum=1)
    seeds = check_ints(merged.get("seeds"), f"{where}.seeds", minimum=0)
    replicates = check_count(merged.get("replicates"), f"{where}.replicates", minimum=3,
                             why="confidence intervals need replicates")
    min_traj = check_count(merged.get("min_trajectories", 0), f"{where}.min_trajectories", minimum=0)
    params = hyperparameter_values(raw, where, hyperparameter_values(glob, ""))
    ref_h, ref_n = env_reference(merged, where, horizons, batch_sizes)
    study = EnvStudy(
        name=name, env=str(raw["env"]), features=merged.get("features"), policy=merged.get("policy"), gamma=gamma,
        thetas=tuple(sorted((str(k), str(v)) for k, v in thetas.items())), estimators=estimators, baselines=baselines,
        horizons=horizons, batch_sizes=batch_sizes, seeds=seeds, replicates=int(replicates),
        params=tuple(sorted(params.items())), reference_horizon=ref_h, reference_batch_size=ref_n,
        fit_batch_size=check_fit_batch_size(merged.get("fit_batch_size"), f"{where}.fit_batch_size"),
        practice=env_practice(merged, where),
        min_trajectories=int(min_traj),
        heldout_seeds=heldout,
        track="lqr" if str(raw["env"]).strip().partition(":")[0] == "lqr" else "tabular",
        **env_gaussian(merged, where),
    )
    if not study.pairs():
        fail(f"{where}.baselines", "no estimator x baseline pair makes sense; e.g. every estimator accepts 'none'")
    check_batch_sizes(study, where)
    check_objectives(study, where)
    check_practice_keys(study, where)
    check_env_hyperparameters(study, raw, where)
    if set(heldout) & set(seeds):
        fail(f"{where}.seeds", f"seed {min(set(heldout) & set(seeds))} is also a coverage seed (coverage.seeds): the "
                               "coverage is judged on seeds the study's own jobs do not use")
    return study


def check_env_hyperparameters(study: EnvStudy, raw: dict[str, Any], where: str) -> None:
    """A hyperparameter an environment sets (``lam``) must be one of its estimators' (it would change nothing; the
    top-level one serves every environment that has it)."""
    from pgexp.estimators.spec import users_of

    used = sorted({e for e, _ in study.pairs()})
    for name in hyperparameters():
        if raw.get(name) is not None and not any(name in ESTIMATORS[e].defaults() for e in used):
            fail(f"{where}.{name}", f"none of this environment's estimators ({', '.join(used)}) has {name}; allowed "
                                    f"only with {', '.join(users_of(name))}")


def env_gaussian(merged: dict[str, Any], where: str) -> dict[str, Any]:
    """``policy_std`` (a positive number) and ``learn_std`` (a bool): the Gaussian policy of an ``lqr:...`` problem."""
    std, learn = merged.get("policy_std"), merged.get("learn_std", False)
    if (std is not None or learn) and str(merged.get("env", "")).strip().partition(":")[0] != "lqr":
        fail(f"{where}.{'policy_std' if std is not None else 'learn_std'}", "Gaussian policies only (lqr:... problems)")
    if std is not None and (isinstance(std, bool) or not isinstance(std, (int, float)) or not std > 0):
        fail(f"{where}.policy_std", f"expected a positive number, got {std!r}")
    if not isinstance(learn, bool):
        fail(f"{where}.learn_std", f"expected true or false, got {learn!r}")
    return {"policy_std": None if std is None else float(std), "learn_std": bool(learn)}


def env_practice(merged: dict[str, Any], where: str) -> Practice:
    """The practice options an environment's jobs run with (``normalize_advantages``, ``truncate``,
    ``truncate_bootstrap``; global keys apply to every environment)."""
    return make_practice(merged.get("normalize_advantages", False), merged.get("truncate"),
                         merged.get("truncate_bootstrap"), names=config_names(where))


def check_practice_keys(study: EnvStudy, where: str) -> None:
    """Refuse a practice option where a pair or a horizon of the sweep cannot take it, naming the key."""
    p = study.practice
    if p.plain:
        return
    if study.track != "tabular":
        fail(f"{where}.{'normalize_advantages' if p.normalize_advantages else 'truncate'}", "tabular problems only")
    for e, b in study.pairs():
        est = ESTIMATORS[e]
        if est.sampling != "trajectories" or est.fit is not None:
            fail(f"{where}.estimators", f"{e} cannot take normalize_advantages / truncate (it samples or fits on its "
                                        "own); drop it for this environment")
        if p.normalize_advantages and b.partition(":")[0] not in est.normalizable:
            fail(f"{where}.normalize_advantages", f"not available for {e}~{b}; allowed: "
                 + "; ".join(f"{k} with {', '.join(v)}" for k, v in normalizable().items()))
    if p.truncate is not None and any(h is not None for h in study.horizons):
        fail(f"{where}.truncate", "cuts episodes of an infinite horizon; give horizons: [inf]")


def check_batch_sizes(study: EnvStudy, where: str) -> None:
    """Refuse a batch size below what a baseline of the sweep needs (the leave-one-out ``constant``: 2)."""
    from pgexp.estimators import BASELINES

    for b in study.baselines:
        need = BASELINES[b.partition(":")[0]].min_batch_size
        if min(study.batch_sizes) < need:
            fail(f"{where}.batch_sizes", f"the {b!r} baseline needs batch sizes >= {need}")


def check_objectives(study: EnvStudy, where: str) -> None:
    """Refuse estimators not defined for an objective of the sweep (needs the problem's gamma for H = inf)."""
    if None not in study.horizons:
        return
    gamma = study.gamma
    if gamma is None:
        from pgexp.study.facts import problem_gamma  # the registry's metadata; a build only where it cannot say

        try:
            gamma = problem_gamma(study.env)
        except UserError as exc:
            fail(f"{where}.env", str(exc))
    kind = "discounted" if gamma < 1 else "episodic"
    for est in study.estimators:
        if kind not in ESTIMATORS[est].objectives:
            fail(f"{where}.estimators", f"{est} is not defined for horizon inf with gamma = {gamma:g} ({kind}); "
                                         f"drop it for this environment or use finite horizons")



def load_study(config: dict[str, Any]) -> dict[str, EnvStudy]:
    """All environments of a (schema-validated) config, resolved and checked."""
    envs = config.get("environments")
    if not isinstance(envs, dict) or not envs:
        fail("environments", "expected a non-empty mapping name -> {env: SPEC, ...}")
    from pgexp.plugins import load_plugins

    load_plugins(config.get("plugins") or [])  # (the Snakefile has imported them already; idempotent)
    glob = {k: v for k, v in config.items() if k in ENV_KEYS or k in hyperparameters()}
    heldout = heldout_seeds(config)
    return {name: env_study(name, raw, glob, heldout) for name, raw in envs.items()}


def heldout_seeds(config: dict[str, Any]) -> tuple[int, ...]:
    """``coverage.seeds``: the seeds on which the intervals' coverage is judged (none without the section).

    The interval method was chosen by looking at the coverage of the study's own seeds; judged there, the coverage
    would be in-sample.  These seeds run the pairs with an exact value again, and nothing else reads them."""
    section = config.get("coverage")
    if section is None:
        return ()
    if not isinstance(section, dict) or set(section) - {"seeds"}:
        fail("coverage", "expected a mapping with the one key 'seeds' (a list of seeds, e.g. {seeds: [1]})")
    return check_ints(section.get("seeds"), "coverage.seeds", minimum=0)
