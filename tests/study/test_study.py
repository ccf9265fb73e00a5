"""Config -> jobs without Snakemake: options come from the registries (hyperparameters, fitting batches,
parameterised baselines, plug-ins), and a continuous-state `deep` environment is an environment like
any other."""

from __future__ import annotations

import pytest

import pgexp
from pgexp.errors import UserError
from pgexp.estimators import ESTIMATORS
from pgexp.study import Job, load_deep, load_study, load_training


def config(**extra):
    base = {"replicates": 5, "seeds": [0], "horizons": [3], "batch_sizes": [2, 4],
            "estimators": ["reinforce", "gae"], "baselines": ["none", "value_learned"],
            "environments": {"corridor": {"env": "short_corridor"}}}
    return {**base, **extra}


def args_of(study, seed=0):
    return study.estimate_args(Job(study.name, "init", seed))


def test_hyperparameters_and_fit_batch_size_reach_only_the_jobs_that_use_them():
    """A job runs every pair of its environment: its command has a pair's hyperparameters and ``--fit-batch-size``
    only when one of its pairs uses them (changing one reruns no environment without such a pair)."""
    study = load_study(config(lam=0.5, fit_batch_size=64))["corridor"]
    args = args_of(study)
    assert "--pairs 'reinforce~none reinforce~value_learned gae~none gae~value_learned'" in args
    assert "--lam 0.5" in args and "--fit-batch-size 64" in args
    plain = load_study(config(lam=0.5, fit_batch_size=64, estimators=["reinforce"], baselines=["none"]))["corridor"]
    assert "--lam" not in args_of(plain) and "--fit-batch-size" not in args_of(plain)
    default = load_study(config())["corridor"]
    assert "--lam 0.95" in args_of(default)  # the spec's default, written once


@pytest.mark.parametrize("edit,match", [
    ({"lam": 1.5}, "config key 'lam'"),
    ({"baselines": ["fixed"]}, "allowed form: fixed:c=VALUE"),
    ({"environments": {"corridor": {"env": "short_corridor", "lamda": 0.3}}}, "environments.corridor.lamda"),
    ({"fit_batch_size": 0}, "fit_batch_size"),
])
def test_config_mistakes_name_the_key(edit, match):
    with pytest.raises(UserError, match=match):
        load_study(config(**edit))


def test_a_parameterised_baseline_is_a_job_with_its_canonical_name():
    study = load_study(config(baselines=["none", "fixed:c=0.50"]))["corridor"]
    assert ("reinforce", "fixed:c=0.5") in study.pairs() and ("gae", "fixed:c=0.5") in study.pairs()
    assert "reinforce~fixed:c=0.5 " in args_of(study) and Job("corridor", "init", 0).path.endswith("init/seed0.parquet")


def test_a_plugins_estimator_and_hyperparameter_are_config_values(tmp_path, monkeypatch):
    (tmp_path / "alpha_plugin.py").write_text(
        "import pgexp\n"
        "pgexp.register_estimator('scaled', lambda b: b.params['alpha'] * b.discount * b.rewards,\n"
        "    hyperparameters=[pgexp.Hyperparameter('alpha', 1.0, 'a scale', 0.0, 2.0)], unbiased=False)\n")
    monkeypatch.chdir(tmp_path)
    try:
        study = load_study(config(plugins=["alpha_plugin.py"], estimators=["scaled"], baselines=["none"], alpha=0.25))
        assert "--alpha 0.25" in args_of(study["corridor"])
    finally:
        ESTIMATORS.pop("scaled", None)


def test_training_takes_hyperparameters_generically():
    cfg = config(training={"environments": {"corridor": {"horizon": 5}}, "estimators": ["gae"],
                           "step_sizes": [0.1], "lam": 0.7, "baselines": ["none"]})
    training = load_training(cfg, load_study(cfg))
    assert training is not None and "--lam 0.7" in training.train_args("corridor", "gae", "none")


def test_one_training_job_per_environment_runs_every_pair_with_its_own_options():
    """``env_train_args``: ``--pairs`` with every pair, and each pair's job options (hyperparameters, the fitting
    batch) as its own job has them -- the runs are the same (``tests/runs/test_training.py``)."""
    import shlex

    from pgexp.cli import build_parser

    cfg = config(training={"environments": {"corridor": {"horizon": 5}}, "step_sizes": [0.1, 0.3], "lam": 0.7,
                           "estimators": ["reinforce", "gae", "actor_critic"], "baselines": ["none", "value_learned"],
                           "fit_batch_size": 5})
    training = load_training(cfg, load_study(cfg))
    parser = build_parser()

    def parsed(args: str) -> dict:
        return vars(parser.parse_args(["train", *shlex.split(args), "--output", "x.parquet"]))

    env = parsed(training.env_train_args("corridor"))
    assert env["pairs"] == [" ".join(f"{e}~{b}" for e, b in training.pairs())] and env["estimator"] is None
    assert env["lam"] == 0.7 and env["fit_batch_size"] == 5
    for est, base in training.pairs():
        one = parsed(training.train_args("corridor", est, base))
        assert (one["estimator"], one["baseline"]) == (est, base)
        for key, value in one.items():  # every option the pair's own job gives, the environment's job gives alike
            if key not in ("estimator", "baseline", "pairs", "func") and value is not None:
                assert env[key] == value, key


def test_deep_environments_are_continuous_track_environments():
    cfg = config(deep={"environments": {"cartpole": {"env": "gym:CartPole-v1", "policy": "mlp:hidden=8,seed=0"}},
                       "estimators": ["reward_to_go", "advantage_exact"], "baselines": ["none", "value_exact"],
                       "batch_sizes": [2], "horizon": 50, "reference_batch": 100})
    with pytest.raises(UserError, match=r"deep\.estimators"):  # advantage_exact needs the exact values
        load_deep(cfg, ("corridor",))
    cfg["deep"]["estimators"] = ["reward_to_go"]
    deep = load_deep(cfg, ("corridor",))
    study = deep.envs["cartpole"]
    assert study.track == "continuous" and study.pairs() == [("reward_to_go", "none")]  # value_exact: tabular only
    args = args_of(study)
    assert "--reference-batch 100" in args and "--threads 1" in args and "--horizon 50" in args
    assert study.jobs()[0].path == "estimates/cartpole/init/seed0.parquet"
    assert study.exact_pairs() == []
    with pytest.raises(UserError, match="names must differ"):
        load_deep(cfg, ("cartpole",))
    assert pgexp.ESTIMATORS["reward_to_go"].tracks == ("tabular", "continuous", "lqr")


def test_coverage_seeds_run_the_judged_pairs_again_on_their_own_paths():
    """``coverage: {seeds: [1]}``: per policy point one held-out job with the pairs whose interval coverage is judged
    (an exact per-trajectory variance, not the oracle ``optimal``), the study's grid and replicates, on its own path;
    the study's own jobs and their commands are unchanged."""
    cfg = config(estimators=["reinforce", "reward_to_go", "actor_critic"],
                 baselines=["none", "value_exact", "value_learned", "optimal"])
    plain = load_study(cfg)["corridor"]
    study = load_study({**cfg, "coverage": {"seeds": [1, 2]}})["corridor"]
    assert study.jobs() == plain.jobs() and args_of(study) == args_of(plain)  # nothing of the study changes
    assert study.heldout_jobs() == [Job("corridor", "init", 1, heldout=True), Job("corridor", "init", 2, heldout=True)]
    assert study.heldout_jobs()[0].path == "estimates_heldout/corridor/init/seed1.parquet"
    assert study.judged_pairs() == [("reinforce", "none"), ("reinforce", "value_exact"), ("reward_to_go", "none"),
                                    ("reward_to_go", "value_exact")]
    held = study.estimate_args(study.heldout_jobs()[0])
    assert "--pairs 'reinforce~none reinforce~value_exact reward_to_go~none reward_to_go~value_exact'" in held
    assert "--seed 1" in held and "--replicates 5" in held
    # the same command as the study's own job on that seed, but for the pairs (and any option only a dropped pair takes)
    own = args_of(plain, seed=1)

    def pairs(args: str) -> str:
        return args.split("--pairs ")[1].split(" --replicates")[0]

    assert pairs(held) != pairs(own) and held.replace(pairs(held), pairs(own)) == own
    assert plain.heldout_jobs() == []  # no coverage section: no held-out jobs
    no_exact = load_study({**cfg, "estimators": ["actor_critic"], "coverage": {"seeds": [1]}})["corridor"]
    assert no_exact.heldout_jobs() == []  # nothing to judge: nothing runs


@pytest.mark.parametrize("coverage,match", [
    ({"seeds": [0]}, r"environments.corridor.seeds'?: seed 0 is also a coverage seed"),
    ({"seeds": []}, "coverage.seeds"),
    ({"seed": [1]}, "'coverage': expected a mapping with the one key 'seeds'"),
    ([1], "'coverage': expected a mapping"),
])
def test_coverage_seeds_are_disjoint_from_the_studys_and_named_when_wrong(coverage, match):
    with pytest.raises(UserError, match=match):
        load_study(config(coverage=coverage))
