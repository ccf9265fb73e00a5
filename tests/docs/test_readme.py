"""Every command in README.md's fenced ``bash`` blocks is run, as a user would type it.

``pgexp`` commands run for real, in README order, in one temporary directory (later examples read what
earlier ones wrote).  ``snakemake`` commands run as dry runs (``-n``) in a temporary copy of the
workflow: the config is validated and the whole DAG planned; the study itself runs end to end in
``tests/workflow/test_workflow.py`` on the `.test` config.  The few commands a test cannot run (installing
packages, the test suite itself, a SLURM cluster) are listed in :data:`NOT_RUN` with the test that
covers them; a README command in none of these classes fails the test, so a new example must be
runnable.  The examples are kept small (seconds each) so that they can run here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

NOT_RUN = {
    'pip install torch==2.13.0 -e ".[test]"': "installs pgexp itself: the test environment is that installation",
    "python -m pytest": "the test suite itself",
    'python -m pip install "snakemake-executor-plugin-slurm>=2.8,<2.9"': "the SLURM plugin (test extra)",
    "PGEXP_SLURM_PARTITION=<partition> PGEXP_SLURM_ACCOUNT=<account> snakemake --workflow-profile profiles/slurm": (
        "needs a SLURM cluster: tests/workflow/test_slurm.py runs the .test study through one"
    ),
}


def readme_commands() -> list[str]:
    """Every command of the README's ``bash`` blocks: continuation lines joined, ``&&`` chains split."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        text = re.sub(r"\\\n\s*", " ", block)
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands += [c.strip() for c in line.split("&&")]
    return commands


def test_every_readme_command_is_classified():
    commands = readme_commands()
    assert any(c.startswith("pgexp ") for c in commands)
    unclassified = [c for c in commands if not c.startswith(("pgexp ", "snakemake ")) and c not in NOT_RUN]
    assert not unclassified, f"README commands no test runs: {unclassified}"
    assert set(NOT_RUN) <= set(commands), "NOT_RUN lists a command the README no longer has"


def test_readme_pgexp_commands_run(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    outputs = []
    for command in (c for c in readme_commands() if c.startswith("pgexp ")):
        proc = subprocess.run(
            ["bash", "-c", command.replace("pgexp ", f"{sys.executable} -m pgexp ", 1)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        assert proc.returncode == 0, f"{command}\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr
        outputs += re.findall(r"--(?:output|curves|summary) (\S+)", command)
    for out in outputs:
        assert (tmp_path / out).is_file(), out


def test_readme_exact_example_prints_what_the_readme_shows(tmp_path):
    """The JSON the README shows for the corridor (Sutton & Barto Example 13.1 at p = 1/2)."""
    import json

    proc = subprocess.run(
        [sys.executable, "-m", "pgexp", "exact", "--env", "short_corridor", "--theta", "zeros"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    out = json.loads(proc.stdout)
    shown = json.loads(re.search(r"```json\n(\{.*?\"grad_norm\": [0-9.]+),", README.read_text(), re.S).group(1) + "}")
    assert {k: out[k] for k in shown} == shown


@pytest.mark.parametrize("command", [c for c in readme_commands() if c.startswith("snakemake ")])
def test_readme_snakemake_commands_plan(command, tmp_path):
    for item in ("Snakefile", "workflow", "config", ".test", "profiles"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / item)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    args = command.split()[1:]
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *args, "-n"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "report_html" in proc.stdout and not (tmp_path / "results").exists()
