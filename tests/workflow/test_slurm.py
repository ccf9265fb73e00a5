"""The `.test` study on SLURM, through snakemake-executor-plugin-slurm and profiles/slurm (issue 8).

A single-node cluster with accounting comes up on localhost via scripts/local-slurm.sh (installing
SLURM, munge and MariaDB from Debian packages on a fresh machine; needs root or password-less sudo, and
apt-get).  Where that cannot be -- no Snakemake SLURM plugin, no apt-get, not root -- or the cluster does not
start, the test is skipped with the reason (printed by ``-ra``); CI sets ``PGEXP_REQUIRE_SYSTEM_TESTS=1``,
which makes that a failure with the script's log (:mod:`system_tools`).

Checked: the run succeeds; every SLURM job Snakemake submitted is in `sacct`, COMPLETED, under this
run's name, with its log kept; the estimation jobs went in batches (groups); and the tables equal
those of a plain local run bit for bit.  The wall times of both runs and the number of SLURM jobs
are printed (`pytest -s`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from system_tools import can_install_packages, unavailable
from test_workflow import TEST_CONFIG, copy_workflow

pytestmark = [pytest.mark.slurm, pytest.mark.slow]  # minutes: in CI, not in the quick selection

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "local-slurm.sh"
ACCOUNT = "pgexp"       # created by the script
PARTITION = "debug"     # the script's partition, and the profile's default
RUN_TIMEOUT = 15 * 60   # seconds for either run
START_TIMEOUT = 30 * 60  # first start on a fresh machine installs packages


def _script(action: str, timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["bash", str(SCRIPT), action], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = (exc.stderr or b"").decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        pytest.fail(f"scripts/local-slurm.sh {action} did not finish in {timeout:.0f}s:\n{out}\n{err}")


@pytest.fixture(scope="module")
def cluster():
    """The local cluster, started for this module and stopped after it (left as found if it was up); a skip with the
    reason where it cannot come up (a failure under PGEXP_REQUIRE_SYSTEM_TESTS=1)."""
    import importlib.util

    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        unavailable("snakemake-executor-plugin-slurm is not installed (the test extra installs it: "
                    "pip install -e '.[test]')")
    was_up = _script("status", 60).returncode == 0
    if not was_up and shutil.which("slurmctld") is None:
        ok, why = can_install_packages()
        if not ok:
            unavailable(f"no local SLURM, and scripts/local-slurm.sh cannot install one here ({why})")
    proc = _script("start", START_TIMEOUT)
    if proc.returncode != 0:
        tail = " ".join((proc.stdout + proc.stderr).split())[-600:]
        unavailable(f"the local SLURM cluster did not start (scripts/local-slurm.sh start, exit {proc.returncode}): "
                    f"{tail}")
    yield
    if not was_up:
        stop = _script("stop", 300)
        assert stop.returncode == 0, f"scripts/local-slurm.sh stop failed:\n{stop.stdout}\n{stop.stderr}"


def _snakemake(cwd: Path, *args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    cmd = [sys.executable, "-m", "snakemake", *args, "--configfile", TEST_CONFIG]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                              env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        pytest.fail(f"{' '.join(cmd)} ran past {RUN_TIMEOUT}s:\n{out[-4000:]}\n{err[-6000:]}")
    return proc, time.perf_counter() - start


def _slurm_logs_tail(cwd: Path) -> str:
    parts = []
    for path in sorted((cwd / ".snakemake" / "slurm_logs").rglob("*.log"))[-5:]:
        parts.append(f"--- {path.relative_to(cwd)} ---\n{path.read_text(errors='replace')[-2000:]}")
    return "\n".join(parts)


def _sacct(run_name: str) -> list[dict[str, str]]:
    """This run's SLURM jobs (allocations, not steps) as sacct records them in slurmdbd."""
    fields = ["JobID", "JobName", "State", "ExitCode", "Account", "Partition", "Comment", "Elapsed"]
    proc = subprocess.run(["sacct", "-n", "-X", "-P", "-S", "now-1days", "--name", run_name,
                           "-o", ",".join(f"{f}%200" for f in fields)],
                          capture_output=True, text=True, timeout=60, check=True)
    return [dict(zip(fields, line.split("|"))) for line in proc.stdout.splitlines() if line.strip()]


def _tables(cwd: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(cwd / "results" / "tables" / f"{name}.parquet") for name in ("metrics", "slopes")}


def test_study_on_slurm_matches_a_local_run(cluster, tmp_path):
    local = copy_workflow(_mkdir(tmp_path / "local"))
    remote = copy_workflow(_mkdir(tmp_path / "slurm"))

    proc, local_s = _snakemake(local, "--cores", "2")
    assert proc.returncode == 0, f"local run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"

    env = {"PGEXP_SLURM_ACCOUNT": ACCOUNT, "PGEXP_SLURM_PARTITION": PARTITION}
    proc, slurm_s = _snakemake(remote, "--workflow-profile", "profiles/slurm", env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"SLURM run failed:\n{out[-8000:]}\n{_slurm_logs_tail(remote)}"

    # Every job Snakemake submitted ran as a SLURM job of this run (job name = the run's ID) and
    # completed; sacct answers from slurmdbd, so this is the accounting record, not Snakemake's word.
    run_name = re.search(r"SLURM run ID: (\S+)", out).group(1)
    submitted = {jobid: log for _, jobid, log in
                 re.findall(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.", out)}
    assert submitted, f"no SLURM submission in the log:\n{out[-4000:]}"
    jobs = _sacct(run_name)
    assert {j["JobID"] for j in jobs} == set(submitted), (jobs, submitted)
    not_completed = [j for j in jobs if j["State"] != "COMPLETED" or j["ExitCode"] != "0:0"]
    assert not not_completed, not_completed
    assert {j["Account"] for j in jobs} == {ACCOUNT}
    assert {j["Partition"] for j in jobs} == {PARTITION}
    # the plugin's per-job logs, kept for successful jobs too (slurm-keep-successful-logs)
    for jobid, log in submitted.items():
        assert Path(log).is_file(), f"SLURM log of job {jobid} missing: {log}"
        assert Path(log).is_relative_to(remote / ".snakemake" / "slurm_logs")

    # the estimation jobs went in batches: fewer submissions than estimate jobs
    comments = [j["Comment"] for j in jobs]
    batches = [c for c in comments if c.startswith("rule_estimate_batch")]
    n_estimate = len(list((remote / "results" / "estimates").rglob("*.parquet")))
    assert batches and len(batches) < n_estimate, comments
    assert not any(c.startswith("rule_estimate_wildcards") for c in comments), comments

    # the same numbers, bit for bit
    a, b = _tables(local), _tables(remote)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)

    elapsed = {j["JobID"]: j["Elapsed"] for j in jobs}
    print(f"\n[slurm] local run (--cores 2): {local_s:.1f} s; SLURM run (--workflow-profile profiles/slurm): "
          f"{slurm_s:.1f} s")
    print(f"[slurm] {len(jobs)} SLURM jobs (sacct, all COMPLETED) for {len(submitted)} submissions; "
          f"{n_estimate} estimate jobs in {len(batches)} batches")
    print("[slurm] " + ", ".join(f"{j['JobID']}:{j['Comment'].split('_wildcards_')[0]}({elapsed[j['JobID']]})"
                                 for j in sorted(jobs, key=lambda j: int(j["JobID"]))))


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path
