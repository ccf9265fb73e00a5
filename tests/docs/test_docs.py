"""docs/ stays complete: every registered estimator and baseline, metric, output column, config key and
command is documented; the README and docs link only to files inside the repository.

Other streams add estimators and columns: these tests fail until the addition is documented.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from pgexp.cli import COMMANDS, main
from pgexp.estimators import BASELINES, ESTIMATORS
from pgexp.tables import KINDS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TAGS = {"env_name", "theta_name", "checkpoint"}  # the study's labels (columns.md documents them too)


def documented(page: str) -> set[str]:
    """Every ``name`` in backticks on a docs page."""
    return set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", (DOCS / page).read_text()))


def test_every_estimator_and_baseline_is_documented():
    rows = (DOCS / "estimators.md").read_text()
    for name in ESTIMATORS:
        assert re.search(rf"^\| `{name}` \|", rows, re.M), f"estimator {name!r}: no row in docs/estimators.md"
    for name in BASELINES:
        assert re.search(rf"^\| `{name}` \|", rows, re.M), f"baseline {name!r}: no row in docs/estimators.md"


def test_every_metric_is_defined():
    from pgexp.analysis.metrics import METRICS

    rows = (DOCS / "metrics.md").read_text()
    for name in METRICS:
        assert re.search(rf"^\| `{name}` \|", rows, re.M), f"metric {name!r}: no definition in docs/metrics.md"


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, list[str]]:
    """The columns of every main table, from a tiny run of each command (tags as the study sets them)."""
    d = tmp_path_factory.mktemp("tables")
    (d / "agg").mkdir()
    tag = ["--tag", "env_name=c", "--tag", "theta_name=t"]
    est = [
        "-q",
        "estimate",
        "--env",
        "short_corridor",
        "--batch-size",
        "2,4",
        "--replicates",
        "4",
        "--seed",
        "0",
        "--horizon",
        "3,5",
        *tag,
    ]
    runs = [
        [*est, "--estimator", "reinforce", "--output", f"{d}/e1.parquet"],
        [
            *est,
            "--estimator",
            "gae",
            "--baseline",
            "value_exact",
            "--tag",
            "checkpoint=0",
            "--output",
            f"{d}/e2.parquet",
        ],
        [
            "metrics",
            f"{d}/e1.parquet",
            f"{d}/e2.parquet",
            "--resamples",
            "20",
            "--reference-horizon",
            "3",
            "--reference-batch-size",
            "2",
            "--output",
            f"{d}/m.parquet",
        ],
        ["slopes", f"{d}/e1.parquet", "--resamples", "20", "--output", f"{d}/s.parquet"],
        ["compare", f"{d}/e1.parquet", f"{d}/e2.parquet", "--resamples", "20", "--output", f"{d}/c.parquet"],
        [
            "-q",
            "train",
            "--env",
            "short_corridor",
            "--horizon",
            "5",
            "--estimator",
            "reinforce",
            "--batch-size",
            "2",
            "--step-size",
            "0.1",
            "--iterations",
            "3",
            "--seed",
            "0,1",
            "--tag",
            "env_name=c",
            "--output",
            f"{d}/t.parquet",
        ],
        [
            "curves",
            f"{d}/t.parquet",
            "--resamples",
            "20",
            "--curves",
            f"{d}/lc.parquet",
            "--summary",
            f"{d}/ts.parquet",
        ],
        ["exact-curves", "--env", "short_corridor", "--horizon", "3,5", *tag, "--output", f"{d}/x.parquet"],
        ["decompose", "--env", "short_corridor", "--horizon", "3,5", *tag, "--output", f"{d}/d.parquet"],
        [
            "aggregate",
            "--metrics",
            f"{d}/m.parquet",
            "--slopes",
            f"{d}/s.parquet",
            "--exact",
            f"{d}/x.parquet",
            "--outdir",
            f"{d}/agg",
        ],
    ]
    for argv in runs:
        assert main(argv) == 0, argv
    names = {
        "estimate": "e1",
        "estimate_gae": "e2",
        "metrics": "agg/metrics",
        "slopes": "s",
        "comparisons": "c",
        "train": "t",
        "learning_curves": "lc",
        "training_summary": "ts",
        "exact_variance": "x",
        "decomposition": "d",
    }
    return {k: pq.read_table(d / f"{v}.parquet").column_names for k, v in names.items()}


def undocumented(columns: list[str] | tuple[str, ...], known: set[str]) -> list[str]:
    """Columns not on columns.md (``X_lo``/``X_hi`` count as documented with ``X``)."""
    return [c for c in columns if c not in known and re.sub(r"_(lo|hi)$", "", c) not in known]


def test_every_output_column_is_documented(tables):
    known = documented("columns.md")
    for kind, columns in tables.items():
        assert not undocumented(columns, known), f"{kind}: undocumented column(s) in docs/columns.md"
    for kind in KINDS.values():
        assert not undocumented(kind.columns + kind.required, known), f"{kind.name}: undocumented in docs/columns.md"


@pytest.mark.parametrize(
    "kind,table",
    [
        ("estimate", "estimate"),
        ("estimate", "estimate_gae"),
        ("train", "train"),
        ("exact_variance", "exact_variance"),
        ("decomposition", "decomposition"),
    ],
)
def test_tagged_tables_list_all_their_columns(kind, table, tables):
    """A ``--tag`` may not reuse a column: pgexp.tables must know every column these producers write."""
    extra = set(tables[table]) - set(KINDS[kind].columns) - TAGS
    assert not extra, f"pgexp.tables.KINDS[{kind!r}].columns lacks {sorted(extra)}"


def schema_keys(node: dict, defs: dict) -> set[str]:
    keys: set[str] = set()
    if "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    for key, sub in (node.get("properties") or {}).items():
        keys.add(key)
        keys |= schema_keys(sub, defs)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        keys |= schema_keys(extra, defs)
    return keys


def test_every_config_key_is_documented():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    keys = schema_keys(schema, schema.get("definitions", {}))
    missing = sorted(keys - documented("config.md"))
    assert not missing, f"config keys not in docs/config.md: {missing}"


def test_every_command_is_documented():
    rows = (DOCS / "cli.md").read_text()
    for name in COMMANDS:
        assert re.search(rf"^\| `{name}` \|", rows, re.M), f"command {name!r}: no row in docs/cli.md"


def tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [
        ROOT / f
        for f in out
        if f.endswith((".md", ".py", ".smk", ".yaml", ".yml", ".rst", ".toml", ".txt", ".cfg")) or f == "Snakefile"
    ]


def test_nothing_refers_outside_the_repository():
    pattern = re.compile(r"\.\./shared|DESIGN\.md|/work/(main|wt|shared)")
    offenders = [
        str(p.relative_to(ROOT))
        for p in tracked_text_files()
        if p.name != "test_docs.py" and p.is_file() and pattern.search(p.read_text(errors="ignore"))
    ]
    assert not offenders, f"references to files outside the repository in {offenders}"


@pytest.mark.parametrize(
    "page", ["README.md", *(f"docs/{p.name}" for p in sorted(DOCS.glob("*.md"))), "config/README.md"]
)
def test_relative_links_resolve(page):
    path = ROOT / page
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
        if "://" in target:
            continue
        assert (path.parent / target).exists(), f"{page}: link to {target} does not resolve"


def test_config_docs_list_the_registry():
    """docs/config.md's `estimators` and `baselines` rows name every built-in (no count typed by hand)."""
    from pgexp.estimators.spec import REGISTERED_BY, is_builtin

    page = (DOCS / "config.md").read_text()
    for key, kind, registry in (("estimators", "estimator", ESTIMATORS), ("baselines", "baseline", BASELINES)):
        names = [n for n in registry if is_builtin(REGISTERED_BY.get((kind, n), ""))]
        assert names
        row = re.search(rf"^\| `{key}` \|([^\n]*)$", page, re.M)
        assert row, f"docs/config.md: no `{key}` row"
        missing = [n for n in names if f"`{n}" not in row.group(1)]
        assert not missing, f"docs/config.md `{key}` row misses {missing}"
        assert not re.search(r"\ball (two|three|four|five|six|seven|eight|nine|ten)\b", row.group(1)), row.group(1)


def test_study_configs_point_to_the_config_docs():
    pointers = [ROOT / "config" / "studies" / p.name for p in sorted((ROOT / "config" / "studies").glob("*.yaml"))]
    pointers += [ROOT / "workflow" / "schemas" / "study.schema.yaml"]
    for path in pointers:
        text = path.read_text()
        assert "docs/config.md" in text and "config/README.md" not in text, path
    assert "## Paper studies" in (DOCS / "config.md").read_text()


def test_the_continuous_tasks_pgexp_envs_lists_are_those_the_config_accepts():
    """One description of the continuous-state tasks: what `pgexp envs` prints is what the deep config takes."""
    from pgexp.problems.continuous import gym_families
    from pgexp.study.facts import continuous_task

    families = gym_families()
    assert {"CartPole-v1", "Acrobot-v1"} <= set(families["continuous"])
    for task in families["continuous"]:
        assert continuous_task(f"gym:{task}") is not None, task
    for task in families["tabular"]:
        assert continuous_task(f"gym:{task}") is None, task
