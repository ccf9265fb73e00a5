"""Estimators users bring without editing pgexp: a plug-in module registers one, and it runs through
``pgexp estimate`` and ``pgexp check-estimator`` (and, in tests/workflow/test_workflow.py, the ``.test`` study via
``plugins:``) like a built-in.  A deliberately biased plug-in that claims to be unbiased fails the check
with a line naming the problem, the objective and the z-score.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pgexp
from pgexp.errors import UserError
from pgexp.estimators import ESTIMATORS

ROOT = Path(__file__).resolve().parents[2]

# The README's example, verbatim: reward-to-go in ten lines.
REWARD_TO_GO = '''
import numpy as np
import pgexp

def my_reward_to_go(batch):
    """w[i, h] = gamma^h (R_h - b_h(s_h)): the return from step h, minus the baseline."""
    R, ahead = np.zeros(batch.shape), np.zeros(batch.num)
    for h in reversed(range(batch.shape[1])):  # rewards are zero on padding
        ahead = batch.rewards[:, h] + batch.gamma * ahead
        R[:, h] = ahead
    return batch.gamma ** np.arange(batch.shape[1]) * (R - batch.baseline)

pgexp.register_estimator("my_reward_to_go", my_reward_to_go, baselines=["none", "value_exact"], unbiased=True)
'''

# Immediate rewards only: biased wherever actions have later consequences, but it claims otherwise.
MYOPIC = '''
import pgexp

pgexp.register_estimator("myopic", lambda batch: batch.discount * batch.rewards, baselines=["none"], unbiased=True)
'''


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return path


def pgexp_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "pgexp", *args], capture_output=True, text=True, cwd=cwd, env=full)


ESTIMATE = ("estimate", "--env", "garnet:states=5,actions=3,branching=3,seed=0", "--gamma", "1", "--horizon", "6",
            "--theta", "random:seed=0,scale=0.7", "--batch-size", "4", "--replicates", "5", "--seed", "0")


@pytest.mark.slow  # an end-to-end run (seconds): in CI, not in the quick selection
def test_a_plugin_runs_through_estimate_like_the_builtin(tmp_path):
    write(tmp_path, "rtg_plugin", REWARD_TO_GO)
    # a module name (imported with the working directory on the path) ...
    proc = pgexp_cli(*ESTIMATE, "--estimator", "my_reward_to_go", "--baseline", "value_exact",
                     "--output", "mine.parquet", "--plugin", "rtg_plugin", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # ... and the built-in on the same job stream: the same trajectories, the same numbers
    proc = pgexp_cli(*ESTIMATE, "--estimator", "reward_to_go", "--baseline", "value_exact",
                     "--output", "builtin.parquet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    mine, builtin = (pd.read_parquet(tmp_path / f) for f in ("mine.parquet", "builtin.parquet"))
    assert (mine["estimator"] == "my_reward_to_go").all() and bool(mine["unbiased"].iloc[0])
    np.testing.assert_allclose(np.stack(mine["grad"]), np.stack(builtin["grad"]), rtol=1e-12, atol=1e-12)
    assert mine["env_steps"].tolist() == builtin["env_steps"].tolist()
    # the environment variable (how the workflow passes a study's plug-ins) and a .py path work too
    proc = pgexp_cli(*ESTIMATE, "--estimator", "my_reward_to_go", "--output", "env.parquet", cwd=tmp_path,
                     env={"PGEXP_PLUGINS": str(tmp_path / "rtg_plugin.py")})
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow  # an end-to-end run (seconds): in CI, not in the quick selection
def test_check_estimator_passes_a_correct_plugin_and_fails_a_biased_one(tmp_path):
    write(tmp_path, "rtg_plugin", REWARD_TO_GO)
    write(tmp_path, "myopic_plugin", MYOPIC)
    good = pgexp_cli("check-estimator", "my_reward_to_go", "--plugin", "rtg_plugin", cwd=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    lines = good.stdout.splitlines()
    assert all(line.startswith("PASS") for line in lines[:-1]) and "all" in lines[-1]
    assert {line.split(":")[0] for line in lines[:-1]} >= {
        "PASS  registration", "PASS  shapes", "PASS  finite", "PASS  determinism", "PASS  common_random_numbers",
        "PASS  unbiased"}
    bad = pgexp_cli("check-estimator", "myopic", "--plugin", "myopic_plugin.py", cwd=tmp_path)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    fails = [line for line in bad.stdout.splitlines() if line.startswith("FAIL  unbiased")]
    assert fails and "garnet-finite (finite objective): max |z| = " in "\n".join(fails)
    assert "biased although registered unbiased" in fails[0]
    # the README's example is this run: its quoted line, its count of failures and problems
    from pgexp.runs.check import CHECK_PROBLEMS

    readme = " ".join((ROOT / "README.md").read_text().split())
    quoted = readme.split("among them `")[1].split("`")[0]
    assert quoted in [" ".join(line.split()) for line in fails], quoted
    words = {3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}
    assert f"gives {words[len(fails)]} failures, one per problem" in readme
    assert f"on {words[len(CHECK_PROBLEMS)]} problems (" in readme and len(fails) == len(CHECK_PROBLEMS)


ALL_NAN = '''
import numpy as np
import pgexp

pgexp.register_estimator("all_nan", lambda batch: np.full(batch.shape, np.nan), baselines=["none"])
'''


@pytest.mark.slow  # runs the checks (seconds)
def test_check_estimator_fails_non_finite_output_first_and_never_passes_on_nan(tmp_path):
    write(tmp_path, "nan_plugin", ALL_NAN)
    proc = pgexp_cli("check-estimator", "all_nan", "--plugin", "nan_plugin.py", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("PASS  registration") and lines[1].startswith("FAIL  finite: non-finite"), lines
    assert not [line for line in lines if line.startswith("PASS  unbiased") or "max |z| = 0.00" in line]
    assert [line for line in lines if line.startswith("FAIL  unbiased") and "non-finite" in line]
    assert lines[-1] == "all_nan: FAILED"


def test_estimate_refuses_to_write_a_plugins_non_finite_gradient(tmp_path):
    """Every reader refuses a non-finite gradient, so estimate names the estimator instead of writing the table."""
    write(tmp_path, "nan_plugin", ALL_NAN)
    proc = pgexp_cli(*ESTIMATE, "--estimator", "all_nan", "--output", "o.parquet", "--plugin", "nan_plugin.py",
                     cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("pgexp estimate: error: estimator all_nan~none: a non-finite grad (horizon 6"), lines
    assert "allowed: an estimator whose weights are finite" in lines[0]
    assert not (tmp_path / "o.parquet").exists()


def test_max_z_of_non_finite_estimates_is_infinite():
    from pgexp.runs.check import max_z

    G = np.zeros((10, 3))
    G[4, 2] = np.nan
    assert max_z(G, np.zeros(3)) == (float("inf"), 2)


@pytest.mark.parametrize("text,must", [
    ("import pgexp\npgexp.register_estimator('reinforce', lambda b: b.rewards)\n",
     ["register_estimator reinforce", "the name is taken (a built-in)", "replace=True"]),
    ("import pgexp\npgexp.register_baseline('constant', None, doc='mine')\n",
     ["register_baseline constant", "the name is taken (a built-in)"]),
    ("import sys\nsys.exit(0)\n", ["import failed", "sys.exit(0)"]),
    ("import sys\nsys.exit('bye')\n", ["import failed", "sys.exit('bye')"]),
    ("raise KeyError('x')\n", ["import failed (KeyError"]),
    ("import pgexp\npgexp.register_estimator('eng', lambda b: b.rewards,\n"
     "    hyperparameters=[pgexp.Hyperparameter('engine', 1.0, 'clash')])\n",
     ["hyperparameter name 'engine' is taken", "an option of a pgexp command"]),
    ("import pgexp\npgexp.register_estimator('mt', lambda b: b.rewards,\n"
     "    hyperparameters=[pgexp.Hyperparameter('min_trajectories', 1.0, 'clash')])\n",
     ["'min_trajectories' is taken", "an option of a pgexp command"]),
    ("import pgexp\npgexp.register_estimator('up', lambda b: b.rewards,\n"
     "    hyperparameters=[pgexp.Hyperparameter('update', 1.0, 'clash')])\n", ["'update' is taken"]),
    ("import pgexp\npgexp.register_estimator('col', lambda b: b.rewards,\n"
     "    hyperparameters=[pgexp.Hyperparameter('env_steps', 1.0, 'clash')])\n",
     ["'env_steps' is taken", "a column of the estimate and training tables"]),
])
def test_a_bad_plugin_is_refused_in_one_line_before_anything_runs(text, must, tmp_path):
    write(tmp_path, "bad_plugin", text)
    proc = pgexp_cli("estimators", "--plugin", "bad_plugin.py", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr and proc.stdout == "", proc.stderr
    assert lines[0].startswith("pgexp: error: --plugin bad_plugin.py: ")
    for word in must:
        assert word in lines[0], (word, lines[0])


def test_a_plugin_may_replace_a_name_when_it_asks_to(tmp_path):
    write(tmp_path, "mine", "import pgexp\npgexp.register_estimator('reinforce', 'pgexp.estimators.trajectory:"
                            "reinforce', baselines=['none'], doc='my REINFORCE', replace=True)\n")
    proc = pgexp_cli("estimators", "--plugin", "mine.py", cwd=tmp_path)
    assert proc.returncode == 0 and "my REINFORCE" in proc.stdout, proc.stdout + proc.stderr


def test_a_plugin_imported_twice_replaces_its_own_entry():
    """The same file registering again (a reload) is no clash; another file taking its name is."""
    import importlib.util
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "twice_plugin.py"
        path.write_text("import pgexp\npgexp.register_estimator('twice_probe', lambda b: b.rewards)\n")
        try:
            for _ in range(2):
                spec = importlib.util.spec_from_file_location("twice_plugin", path)
                spec.loader.exec_module(importlib.util.module_from_spec(spec))
            assert "twice_probe" in ESTIMATORS
            with pytest.raises(UserError, match="twice_probe: the name is taken"):
                pgexp.register_estimator("twice_probe", lambda b: b.rewards)
        finally:
            ESTIMATORS.pop("twice_probe", None)


def test_reserved_names_are_read_off_the_real_parsers_and_the_schema():
    """Every option of every command and every config key a hyperparameter would become is taken; nothing is
    typed twice: the names come from the built parsers (pgexp.cli.option_names) and the schema template."""
    import yaml

    from pgexp.cli import build_parser, declare_options, option_names
    from pgexp.estimators import hyperparameters
    from pgexp.estimators.spec import RESERVED_SOURCES, reserved_names
    from pgexp.study.config import declare_config_keys
    from pgexp.study.schema import config_keys

    declare_options()
    declare_config_keys((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    try:
        taken = reserved_names()
        parsers = {opt[2:].replace("-", "_") for sub in build_parser().commands.values() for a in sub._actions
                   for opt in a.option_strings if opt.startswith("--")}
        assert parsers - set(hyperparameters()) == option_names() and option_names() <= set(taken)
        for name in ("engine", "update", "min_trajectories", "reference_batch", "threads", "eval_episodes", "pairs",
                     "normalize_advantages", "resamples"):
            assert name in taken, name
        schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
        assert config_keys(schema) - set(hyperparameters()) <= set(taken)
        assert {"environments", "thetas", "plugins", "figures"} <= set(taken)
        assert "lam" not in taken  # a hyperparameter of its own: a plug-in may share it
        with pytest.raises(UserError, match="'thetas' is taken \\(a key of the study config\\)"):
            pgexp.register_estimator("k", lambda b: b.rewards,
                                     hyperparameters=[pgexp.Hyperparameter("thetas", 1.0, "x")])
    finally:
        RESERVED_SOURCES.pop("a key of the study config", None)
    assert "k" not in ESTIMATORS


def test_every_command_parser_builds_with_a_plugin_hyperparameter():
    """A plug-in's hyperparameter is an option of every estimation command: no command may clash with it."""
    from pgexp.cli import build_parser

    try:
        pgexp.register_estimator("alpha_probe", lambda b: b.rewards,
                                 hyperparameters=[pgexp.Hyperparameter("alpha_probe_h", 0.5, "a probe", 0.0, 1.0)])
        parser = build_parser()
        assert any("--alpha-probe-h" in a.option_strings for a in parser.commands["train"]._actions)
    finally:
        ESTIMATORS.pop("alpha_probe", None)


def test_plugin_errors_are_one_line(tmp_path):
    write(tmp_path, "broken", "raise RuntimeError('oops')\n")
    proc = pgexp_cli("check-estimator", "reinforce", "--plugin", "broken", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "--plugin broken: import failed (RuntimeError: oops)" in proc.stderr
    proc = pgexp_cli("estimate", "--plugin", "no_such_module_xyz", "--help", cwd=tmp_path)
    assert proc.returncode == 2 and "no_such_module_xyz" in proc.stderr
    proc = pgexp_cli(*ESTIMATE, "--estimator", "my_reward_to_go", "--output", "x.parquet", cwd=tmp_path)
    assert proc.returncode == 2 and "invalid choice: 'my_reward_to_go'" in proc.stderr  # not registered


@pytest.mark.parametrize("kwargs,match", [
    ({"baselines": ["nonsense"]}, "baselines"),
    ({"tracks": ["quantum"]}, "tracks"),
    ({"sampling": "somehow"}, "sampling"),
    ({"hyperparameters": [pgexp.Hyperparameter("batch_size", 1.0, "clash")]}, "is taken"),
    ({"hyperparameters": [pgexp.Hyperparameter("alpha", 2.0, "out of range", 0.0, 1.0)]}, "default of alpha"),
])
def test_bad_registrations_are_refused_by_name(kwargs, match):
    with pytest.raises(UserError, match=match):
        pgexp.register_estimator("bad_one", lambda batch: batch.rewards, **kwargs)
    assert "bad_one" not in ESTIMATORS


def test_registering_in_process_and_the_weights_shape_is_checked():
    from pgexp.problems.problem import build_problem
    from pgexp.runs.estimate import run_estimate

    try:
        pgexp.register_estimator("wrong_shape", lambda batch: batch.rewards[:, :1], doc="one column only")
        prob = build_problem("short_corridor", horizon=4)
        with pytest.raises(UserError, match=r"estimator wrong_shape: returned weights of shape \(3, 1\)"):
            run_estimate(prob, "wrong_shape", batch_size=3, replicates=1, seed=0, progress=False)
    finally:
        ESTIMATORS.pop("wrong_shape", None)


def test_the_registry_and_the_study_import_without_compiled_kernels_or_torch():
    """The workflow reads them at every `snakemake` call: no numba, no torch at import."""
    code = ("import sys, pgexp.estimators, pgexp.study, pgexp.study.schema, pgexp.plugins; "
            "print(sorted(m for m in ('numba', 'torch') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_the_config_schema_lists_come_from_the_registry():
    import yaml

    from pgexp.study.schema import derived_schema

    template = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert "enum" not in template["definitions"]["estimator"]  # nothing typed twice
    try:
        pgexp.register_estimator("schema_probe", lambda batch: batch.rewards,
                                 hyperparameters=[pgexp.Hyperparameter("alpha", 0.5, "a probe", 0.0, 1.0)])
        s = derived_schema(template)
        assert s["definitions"]["estimator"]["enum"] == list(ESTIMATORS) and "schema_probe" in ESTIMATORS
        assert s["properties"]["alpha"] == {"type": "number", "description": "a probe (estimators: schema_probe)",
                                            "minimum": 0.0, "maximum": 1.0, "default": 0.5}
        assert s["properties"]["lam"]["default"] == 0.95
        assert "fixed:c=VALUE" in s["definitions"]["baseline"]["description"]
    finally:
        ESTIMATORS.pop("schema_probe", None)


def test_the_readme_example_is_the_tested_plugin():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("Reward-to-go, as a plug-in:\n\n```python\n")[1].split("```")[0]
    assert block.strip() == REWARD_TO_GO.strip()


GROUP_MEAN = '''
import numpy as np
import pgexp

def group_mean(batch):
    """c_i = r_i - mean of its group's rewards (r_i included): unbiased up to (G - 1)/G."""
    r = batch.first_returns.reshape(-1, batch.group_size)
    c = (r - r.mean(axis=1, keepdims=True)).ravel()
    return np.broadcast_to(c[:, None], batch.shape)

pgexp.register_estimator("group_mean", group_mean, min_group_size=2, objectives=["finite", "episodic"],
                         unbiased=False, scale=lambda G, H, params: (G - 1) / G, vectorized=True)
'''


def test_the_readme_group_example_is_the_tested_plugin():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("groups by the checks):\n\n```python\n")[1].split("```")[0]
    assert block.strip() == GROUP_MEAN.strip()


def test_a_group_plugin_claim_is_checked_exactly():
    """The README's group plug-in: its claim E g = ((G - 1)/G) grad J holds exactly (every batch listed); the same
    function registered as unbiased fails."""
    from pgexp.runs.check import check_exact_claim

    namespace: dict = {}
    try:
        exec(GROUP_MEAN, namespace)
        ok = check_exact_claim(ESTIMATORS["group_mean"], {})
        assert ok.passed and "G = 2: |E g - 0.5 grad J|" in ok.detail, ok.detail
        import pgexp

        pgexp.register_estimator("group_mean", namespace["group_mean"], min_group_size=2, unbiased=True,
                                 objectives=["finite", "episodic"], vectorized=True, replace=True)
        bad = check_exact_claim(ESTIMATORS["group_mean"], {})
        assert not bad.passed and "registered unbiased, but it is not" in bad.detail, bad.detail
    finally:
        ESTIMATORS.pop("group_mean", None)


@pytest.mark.slow  # end-to-end runs (seconds): in CI, not in the quick selection
def test_a_group_plugin_passes_check_estimator_and_estimates_in_groups(tmp_path):
    write(tmp_path, "my_group", GROUP_MEAN)
    good = pgexp_cli("check-estimator", "group_mean", "--plugin", "my_group.py", cwd=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "PASS  exact_claim" in good.stdout and "PASS  scaled" in good.stdout
    proc = pgexp_cli("estimate", "--env", "tokens:vocab=2,length=4,needs=1;2", "--group-size", "4", "--estimator",
                     "group_mean", "--batch-size", "8", "--replicates", "3", "--seed", "0", "--output", "g.parquet",
                     "--plugin", "my_group.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    t = pd.read_parquet(tmp_path / "g.parquet")
    assert (t["group_size"] == 4).all() and not bool(t["unbiased"].iloc[0])
