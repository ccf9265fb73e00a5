"""A whole study config checked before any job: the schema, every section, and every spec *built*.

:func:`load_config` is what the workflow calls (``workflow/rules/common.smk``) on every ``snakemake``
invocation, ``-n`` included:

0. the config's ``plugins`` imported (:mod:`pgexp.plugins`): their estimators, baselines and
   hyperparameters are then valid names and keys like the built-ins;
1. the JSON schema (``workflow/schemas/config.schema.yaml``, a template whose name lists and hyperparameter
   keys come from the registries: :func:`pgexp.study.schema.check_schema`), which also fills in its
   defaults; a violation is one line naming the key path (:func:`~pgexp.study.schema.schema_message`), not
   jsonschema's dump of the schema;
2. each section (:func:`~pgexp.study.estimation.load_study`, :func:`~pgexp.study.training.load_training`,
   :func:`~pgexp.study.deep.load_deep`, :func:`~pgexp.study.audit.load_audit`) and the ``figures`` the config
   names (:func:`pgexp.figures.figures_for`), against the registries' metadata; what only a build knows (a
   file problem's discount, a Gymnasium task's time limit) comes from :mod:`pgexp.study.facts`;
3. every spec string *built* (:func:`full_checks`): each environment's problem, features, policy and every
   θ point, the training start points, the deep section's policies, the practice audit's problems and its
   variants' options -- so ``garnet:states=-1``, ``thetas: {init: ones}`` or ``gym:CartPole-v1`` in the
   tabular section fail ``snakemake -n`` naming the config key, not at run time once per job.  Problems are
   tiny and built once per spec (cached); torch is imported only when a tabular environment asks for an MLP
   policy.

Steps 1 and 3 are the *full half*: they run once per config.  Given ``record_dir`` (the workflow's
``.snakemake/pgexp``), a passed full half is recorded there (:mod:`pgexp.study.record`: keyed by the config,
the schema template, pgexp's source and the files the config names) and a later call with the same key
skips it; steps 0 and 2 read metadata only (no numpy, scipy, pandas, gymnasium, torch or matplotlib:
``tests/study/test_study.py`` checks), so a no-op ``snakemake -n`` stays cheap.  A check a job would otherwise
fail on belongs in :func:`full_checks`, where it costs the no-op nothing.

Every mistake is a :class:`~pgexp.errors.UserError` ``config key 'a.b.c': what is wrong; what is allowed``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from pgexp.errors import UserError
from pgexp.study.audit import AuditStudy, check_audit_problems, load_audit
from pgexp.study.common import fail
from pgexp.study.deep import DeepStudy, load_deep
from pgexp.study.estimation import EnvStudy, load_study
from pgexp.study.schema import check_schema, derived_schema, parse_schema, schema_message
from pgexp.study.training import TrainingStudy, load_training

SCHEMA = Path("workflow") / "schemas" / "config.schema.yaml"  # relative to the workflow's directory


def plain(exc: UserError) -> str:
    """A builder's message without its CLI option prefix (``--theta: 'ones'; ...`` -> ``'ones'; ...``)."""
    return re.sub(r"^--[a-z-]+:?\s*", "", str(exc))


@cache
def _env(env: str):
    from pgexp.problems import make_env

    return make_env(env)


@cache
def _policy(env: str, features: str | None, policy: str | None, where: str):
    """The features and policy of an environment (built once per spec); errors name ``where``'s key."""
    from pgexp.policies import make_features, make_policy

    mdp = _env(env)
    try:
        feats = make_features(features, mdp)
    except UserError as exc:
        fail(f"{where}.features", plain(exc))
    try:
        return make_policy(policy, feats)
    except UserError as exc:
        fail(f"{where}.policy", plain(exc))


def check_problem(
    where: str,
    env: str,
    features: str | None,
    policy: str | None,
    gamma: float | None,
    horizons: tuple[int | None, ...],
    thetas: dict[str, str],
    theta_key: str = "thetas",
) -> None:
    """Build one environment's problem, features, policy and θ points; a failure names the config key."""
    from pgexp.policies.theta import make_theta
    from pgexp.problems.problem import require_horizon_memory

    try:
        mdp = _env(env)
    except UserError as exc:
        fail(f"{where}.env", plain(exc))
    finite = [h for h in horizons if h is not None]
    if finite:
        try:
            require_horizon_memory(mdp.replace(horizon=max(finite)))
        except UserError as exc:
            fail(f"{where}.horizons" if theta_key == "thetas" else f"{where}.horizon", plain(exc))
    pol = _policy(env, features, policy, where)
    points: dict[str, Any] = {}
    for name, spec in thetas.items():
        key = f"{where}.{theta_key}.{name}" if theta_key == "thetas" else f"{where}.{theta_key}"
        try:
            points[name] = make_theta(spec, pol.dim, pol)
        except UserError as exc:
            fail(key, plain(exc))
        same = [other for other, point in points.items() if other != name and (point == points[name]).all()]
        if same:  # two names for one point: every job of it would run twice
            fail(key, f"{spec!r} is the same point as {where}.{theta_key}.{same[0]}; allowed: distinct points")
    if None in horizons:
        check_episodic(where, theta_key, env, features, policy, gamma, thetas)


def check_episodic(where: str, theta_key: str, env: str, features: str | None, policy: str | None,
                   gamma: float | None, thetas: dict[str, str]) -> None:
    """``inf`` among the horizons with ``gamma = 1`` is the episodic objective: every policy point must end its
    episodes with probability one (the exact values a job computes first), else the job would fail."""
    from pgexp.exact import gradient
    from pgexp.problems.problem import build_problem

    mdp = _env(env)
    if (gamma if gamma is not None else mdp.gamma) < 1.0:
        return
    key = f"{where}.horizons" if theta_key == "thetas" else f"{where}.horizon"
    for name, spec in thetas.items():
        try:
            prob = build_problem(env, features=features, policy=policy, theta=spec, gamma=gamma, horizon="inf",
                                 track="tabular")
            gradient(prob.mdp, prob.policy, prob.theta)
        except UserError as exc:
            reason = plain(exc).replace("; give --horizon H or --gamma < 1", "")
            fail(key, f"inf with gamma = 1 at {theta_key} {name}: {reason}; allowed: finite horizons, or gamma < 1")


def check_lqr_problem(where: str, st: EnvStudy) -> None:
    """Build a linear-quadratic environment at every horizon and policy point (a discounted ``inf`` needs a
    stabilising gain); a failure names the config key."""
    from pgexp.problems.problem import build_problem

    try:
        build_problem(st.env, features=st.features, policy=st.policy, gamma=st.gamma, policy_std=st.policy_std,
                      learn_std=st.learn_std)
    except UserError as exc:
        fail(f"{where}.env", plain(exc))
    for name, spec in st.thetas:
        for h in st.horizons:
            try:
                from pgexp.exact.lqr import simulation_steps

                simulation_steps(build_problem(st.env, policy=st.policy, theta=spec, gamma=st.gamma,
                                               horizon="inf" if h is None else h, policy_std=st.policy_std,
                                               learn_std=st.learn_std))
            except UserError as exc:
                fail(f"{where}.thetas.{name}", plain(exc))


def check_problems(studies: dict[str, EnvStudy], training: TrainingStudy | None, deep: DeepStudy | None) -> None:
    """Build every spec string of the config (see the module docstring)."""
    for name, st in studies.items():
        if st.track == "lqr":
            check_lqr_problem(f"environments.{name}", st)
            continue
        check_problem(f"environments.{name}", st.env, st.features, st.policy, st.gamma, st.horizons, dict(st.thetas))
    for te in training.envs if training else ():
        check_problem(
            f"training.environments.{te.name}",
            te.env,
            te.features,
            te.policy,
            te.gamma,
            (te.horizon,),
            {"theta": te.theta},
            theta_key="theta",
        )
    for name, st in (deep.envs if deep else {}).items():
        check_deep_policy(f"deep.environments.{name}.policy", str(st.policy))


def check_deep_policy(key: str, spec: str) -> None:
    """A continuous-state policy spec, ``linear`` or ``mlp:...``, checked without importing torch."""
    from pgexp.policies.mlp_spec import parse_mlp_spec
    from pgexp.specs import parse_spec

    try:
        parsed = parse_spec(spec, what="--policy")
        if parsed.name == "mlp":
            parse_mlp_spec(parsed)
        elif parsed.name != "linear" or parsed.options:
            raise UserError(f"{spec!r}; allowed: mlp:hidden=32,activation=tanh|relu,seed=0 or linear")
    except UserError as exc:
        fail(key, plain(exc))


def check_budgets(studies: dict[str, EnvStudy], training: TrainingStudy | None) -> None:
    """Every estimation job's and training job's memory and work estimated as the job will (:mod:`pgexp.memory`):
    a job the command would refuse is refused here, naming the config key."""
    from pgexp.memory import train_cost
    from pgexp.problems.problem import build_problem
    from pgexp.runs.estimate import cell_replicates, check_grid_budget

    for name, st in studies.items():
        if st.track != "tabular":
            continue
        try:
            probs = [build_problem(st.env, features=st.features, policy=st.policy, gamma=st.gamma,
                                   horizon="inf" if h is None else h, track="tabular") for h in st.horizons]
            counts = {n: cell_replicates(st.replicates, n, st.min_trajectories) for n in st.batch_sizes}
            check_grid_budget([(p, n) for p in probs for n in st.batch_sizes], counts, st.replicates,
                              st.min_trajectories, len(st.pairs()), st.fit_batch_size, 0, st.practice.truncate)
        except UserError as exc:
            words = {"--replicates": "replicates", "--batch-size": "batch size",
                     "--min-trajectories": "min_trajectories", "--horizon": "horizon", "--gamma": "gamma",
                     "--truncate": "truncate"}
            message = str(exc)
            for option, key in words.items():
                message = message.replace(option, key)
            fail(f"environments.{name}", f"a job of it: {message}")
    if training is not None and training.envs:
        runs = len(training.step_sizes) * len(set(training.seeds) | set(training.selection_seeds))
        try:
            train_cost(training.iterations, runs, training.batch_size, 0.0,
                       f"{training.iterations} iterations x {runs} runs (step sizes x seeds)")
        except UserError as exc:
            fail("training.iterations", plain(exc))


def full_checks(studies: dict[str, EnvStudy], training: TrainingStudy | None, deep: DeepStudy | None,
                audit: AuditStudy | None) -> None:
    """The full half of the check (module docstring): everything that builds, once per config."""
    check_problems(studies, training, deep)
    check_budgets(studies, training)
    if audit is not None:
        check_audit_problems(audit)


def declare_config_keys(template: str) -> None:
    """Tell the estimator registry that the config's keys are taken (a plug-in's hyperparameter becomes a key;
    :data:`pgexp.estimators.spec.RESERVED_SOURCES`), read off the schema template when a plug-in asks."""
    from pgexp.estimators.spec import RESERVED_SOURCES
    from pgexp.study.schema import config_keys

    RESERVED_SOURCES["a key of the study config"] = lambda: config_keys(parse_schema(template))


def load_config(
    config: dict[str, Any], schema: str | Path, *, record_dir: str | Path | None = None
) -> tuple[dict[str, EnvStudy], TrainingStudy | None, DeepStudy | None]:
    """The schema, every section and every spec of a study config, checked; ``(studies, training, deep)``.

    ``record_dir``: where passed full checks are recorded (the workflow's ``.snakemake/pgexp``,
    :data:`pgexp.study.record.RECORD_DIR`); ``None``: check in full, record nothing.  The schema and the
    builds are the full half (:func:`full_checks`): with a record of this config, ``config`` gets its
    recorded defaults instead."""
    from pgexp.figures import figures_for  # the registry only, no matplotlib
    from pgexp.plugins import load_plugins
    from pgexp.study.record import full_check

    plugins = config.get("plugins") or []
    if not isinstance(plugins, list):
        fail("plugins", f"expected a list of module names or .py paths, got {plugins!r}")
    template = Path(schema).read_text()
    declare_config_keys(template)
    try:
        load_plugins(plugins)  # first: the schema's name lists and keys come from the registries
    except UserError as exc:
        fail("plugins", str(exc).removeprefix("--plugin "))
    with full_check("config", config, record_dir, template) as due:
        if due:
            check_schema(config, derived_schema(parse_schema(template)))
        studies = load_study(config)
        training = load_training(config, studies)
        deep = load_deep(config, tuple(studies))
        try:
            figures_for(config)
        except UserError as exc:
            fail("figures", re.sub(r"^figures:\s*", "", str(exc)))
        audit = load_audit(config)  # the practice_audit section (the workflow reads it with load_audit)
        if due:
            full_checks(studies, training, deep, audit)
    return studies, training, deep


__all__ = ["SCHEMA", "check_problems", "check_schema", "full_checks", "load_config", "schema_message"]
