"""A no-op ``snakemake`` is cheap by design: the workflow reads a checked config without numerics.

The full half of config checking (schema, every spec built) runs once per config and is recorded
(:mod:`pgexp.study.record`); the light half reads the registries' metadata only.  These tests load configs
as the Snakefile does, in a fresh process, and look at what it imported; and they check that a record
stands in for a full check only when nothing the check depends on has changed.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import pgexp
from pgexp.errors import UserError
from pgexp.study import SCHEMA, load_config, record
from pgexp.study import config as study_config

ROOT = Path(__file__).resolve().parents[2]
NUMERICS = ("numpy", "scipy", "pandas", "numba", "torch", "gymnasium", "matplotlib", "pyarrow")
CONFIGS = ["config/config.yaml", ".test/config/config.yaml",
           *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "config" / "studies").glob("*.yaml"))]

# What workflow/rules/common.smk and studies.smk do while Snakemake parses the Snakefile, then what was imported.
LOAD = """
import json, os, sys
import yaml
root, path = sys.argv[1], sys.argv[2]
config = yaml.safe_load(open(os.path.join(root, path)))
from pgexp.study import config_hash
from pgexp.study.record import RECORD_DIR
if config.get("study"):
    from pgexp.study.paper import load_paper_study
    paper = load_paper_study(config, schema=os.path.join(root, "workflow", "schemas", "study.schema.yaml"),
                             record_dir=RECORD_DIR)
    loaded = [paper, paper.tables, paper.figures]
else:
    from pgexp.figures import figures_for
    from pgexp.study import SCHEMA, load_audit, load_config
    studies, training, deep = load_config(config, os.path.join(root, SCHEMA), record_dir=RECORD_DIR)
    loaded = [studies, training, deep, load_audit(config), figures_for(config),
              [(st.exact_pairs(), st.has_lambda_tradeoff()) for st in studies.values()]]
config_hash(config)
print(json.dumps({"loaded": repr(loaded), "config": config,
                  "imported": [m for m in NUMERICS if m in sys.modules]}))
""".replace("NUMERICS", repr(NUMERICS))


def load_in_fresh_process(cwd: Path, path: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", LOAD, str(ROOT), path], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("path", CONFIGS)
def test_a_checked_config_is_read_without_numerics(path, tmp_path):
    # a study's own problem files (file:config/studies/data/...) resolve from the workflow's directory, as in a run
    shutil.copytree(ROOT / "config" / "studies" / "data", tmp_path / "config" / "studies" / "data")
    first = load_in_fresh_process(tmp_path, path)  # the full check: it builds every problem
    assert "numpy" in first["imported"]
    assert len(list((tmp_path / record.RECORD_DIR / "checked").glob("*.json"))) == 1
    again = load_in_fresh_process(tmp_path, path)  # what every later `snakemake -n` does
    assert again["imported"] == []
    assert again["loaded"] == first["loaded"]
    assert json.dumps(again["config"]) == json.dumps(first["config"])  # the defaults, in the same order


def small_config(**extra) -> dict:
    base = {"replicates": 5, "seeds": [0], "horizons": [3, "inf"], "batch_sizes": [2, 4],
            "estimators": ["reinforce", "reward_to_go"], "baselines": ["none"],
            "environments": {"corridor": {"env": "short_corridor"}}}
    return {**base, **extra}


@pytest.fixture
def full_checks(monkeypatch):
    """Count the full checks load_config runs."""
    calls = []
    real = study_config.full_checks
    monkeypatch.setattr(study_config, "full_checks", lambda *a: (calls.append(a), real(*a)))
    return calls


def load(cfg: dict, where: Path):
    return load_config(copy.deepcopy(cfg), ROOT / SCHEMA, record_dir=where)


def test_a_record_stands_for_the_same_inputs_only(tmp_path, monkeypatch, full_checks):
    from pgexp.problems import make_env
    from pgexp.problems.files import save_mdp

    monkeypatch.chdir(tmp_path)
    save_mdp(tmp_path / "mdp.npz", make_env("garnet:states=3,actions=2,branching=2,seed=0,gamma=0.5"))
    cfg = small_config(environments={"mine": {"env": "file:mdp.npz"}})
    first = load(cfg, tmp_path / "rec")
    assert len(full_checks) == 1
    assert load(cfg, tmp_path / "rec") == first and len(full_checks) == 1  # recorded: not checked again
    assert load(small_config(seeds=[1], environments=cfg["environments"]), tmp_path / "rec")  # another config
    assert len(full_checks) == 2
    # the file the config names changed: checked in full again, and its discount (a fact) read anew
    save_mdp(tmp_path / "mdp.npz", make_env("garnet:states=3,actions=2,branching=2,seed=0,gamma=1.0"))
    os.utime(tmp_path / "mdp.npz", ns=(1, 1))
    load(cfg, tmp_path / "rec")
    assert len(full_checks) == 3
    facts = [json.loads(p.read_text())["facts"] for p in (tmp_path / "rec" / "checked").glob("*.json")]
    assert {"gamma file:mdp.npz": 0.5} in facts and {"gamma file:mdp.npz": 1.0} in facts
    # another pgexp is another key
    monkeypatch.setattr(pgexp, "__version__", "0.0.0-test")
    load(cfg, tmp_path / "rec")
    assert len(full_checks) == 4


def test_a_record_answers_what_only_a_build_knows(tmp_path, monkeypatch, full_checks):
    """With a record, neither a problem nor a Gymnasium task is built: the facts come from it."""
    import pgexp.problems
    import pgexp.problems.continuous
    from pgexp.problems import make_env
    from pgexp.problems.files import save_mdp

    monkeypatch.chdir(tmp_path)
    save_mdp(tmp_path / "mdp.npz", make_env("chain:length=3,gamma=0.8"))
    cfg = small_config(environments={"mine": {"env": "file:mdp.npz"}},
                       deep={"environments": {"cartpole": {"env": "gym:CartPole-v1"}}, "estimators": ["reinforce"],
                             "baselines": ["none"], "batch_sizes": [2]})
    first = load(cfg, tmp_path / "rec")

    def no_build(*args, **kwargs):
        raise AssertionError("built although recorded")

    monkeypatch.setattr(pgexp.problems, "make_env", no_build)
    monkeypatch.setattr(pgexp.problems.continuous, "gym_task", no_build)
    again = load(cfg, tmp_path / "rec")
    assert len(full_checks) == 1 and repr(again) == repr(first)
    assert again[2].envs["cartpole"].horizons == (500,)  # CartPole's time limit, from the record


def test_a_failed_check_records_nothing(tmp_path, full_checks):
    bad = small_config(environments={"g": {"env": "garnet:states=-1"}})
    for _ in range(2):  # the mistake is found every time, never hidden by a record
        with pytest.raises(UserError, match=r"environments\.g\.env"):
            load(bad, tmp_path / "rec")
    assert not (tmp_path / "rec").exists() and len(full_checks) == 2
    with pytest.raises(UserError, match="'replicates'"):  # the schema is part of the full check
        load(small_config(replicates="many"), tmp_path / "rec")
    assert not (tmp_path / "rec").exists()


def test_a_damaged_or_foreign_record_is_not_trusted(tmp_path, full_checks):
    cfg = small_config()
    load(cfg, tmp_path / "rec")
    (path,) = (tmp_path / "rec" / "checked").glob("*.json")
    path.write_text(path.read_text()[:40])
    load(cfg, tmp_path / "rec")
    assert len(full_checks) == 2
    good = json.loads(path.read_text())
    path.write_text(json.dumps({**good, "key": "0" * 64}))
    load(cfg, tmp_path / "rec")
    assert len(full_checks) == 3


def test_a_config_json_cannot_keep_is_checked_every_time(tmp_path):
    dated = {"when": yaml.safe_load("when: 2024-01-01")["when"]}  # a YAML date: JSON would make it a string
    for _ in range(2):
        with record.full_check("test", dated, tmp_path / "rec") as due:
            assert due
    assert not (tmp_path / "rec").exists()
    assert not record.plain_json({1: "x"}) and record.plain_json({"b": [1, 2.5, "x"], "a": {"c": None}})
