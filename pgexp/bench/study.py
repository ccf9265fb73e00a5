"""``pgexp bench study``: the default study from scratch, its wall and CPU time, and where the time went.

The study runs with ``snakemake --cores N`` in a fresh folder (the repository's workflow, a copy of its
config), exactly what ``snakemake --cores all`` does in a clone.  Every ``pgexp`` command a job runs logs
``computed in C s (process P s)``: ``C`` its own work, ``P`` its whole process (interpreter, imports, work).
Over the jobs' logs:

* **compute**  -- ``sum C``;
* **start-up** -- ``sum (P - C)``: starting Python and importing, paid once per job;
* **scheduling** -- ``N wall - sum P``: core time no job process used (Snakemake deciding and starting jobs,
  waiting on the critical path at the end, jobs that do not run ``pgexp``).

The split is in core-seconds (``compute + start-up + scheduling = N wall``), and each part also as a share.
"""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from pgexp.errors import UserError

TIMING = re.compile(r"computed in ([0-9.]+) s \(process ([0-9.]+) s\)")


def workflow_root() -> Path:
    """The repository around the installed package (the workflow is not part of the package)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "Snakefile").is_file():
        raise UserError(f"bench study: no Snakefile in {root}; run it from a clone (pip install -e .)")
    return root


def job_times(logs: Path) -> list[tuple[str, float, float]]:
    """``(log, compute, process)`` of every job log under ``logs`` that records its timing."""
    out = []
    for log in sorted(logs.rglob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            m = TIMING.search(line)
            if m:
                out.append((str(log.relative_to(logs)), float(m.group(1)), float(m.group(2))))
    return out


def bench_study(cores: int = 2, configfile: str | None = None, keep: str | None = None) -> dict[str, Any]:
    """Run the study and split its time (module docstring); ``keep``: run in this (new) folder and keep it."""
    root = workflow_root()
    config = Path(configfile) if configfile else root / "config" / "config.yaml"
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="pgexp-bench-study-"))
    if keep and folder.exists() and any(folder.iterdir()):
        raise UserError(f"--keep {folder}: not empty; give a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copy(config, folder / "config.yaml")
        cmd = ["snakemake", "--snakefile", str(root / "Snakefile"), "--directory", str(folder), "--cores", str(cores),
               "--configfile", str(folder / "config.yaml"), "--quiet", "all"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise UserError(f"bench study: the study failed (exit {done.returncode}): {done.stderr.strip()[-400:]}")
        times = job_times(folder / "logs")
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    compute = sum(c for _, c, _ in times)
    process = sum(p for _, _, p in times)
    budget = cores * wall
    split = {"compute": compute, "start_up": process - compute, "scheduling": budget - process}
    slowest = sorted(times, key=lambda t: -t[2])[:5]
    return {"benchmark": "study", "config": str(config), "cores": cores, "wall_seconds": wall,
            "user_seconds": after.ru_utime - before.ru_utime, "system_seconds": after.ru_stime - before.ru_stime,
            "jobs_timed": len(times), "core_seconds": budget,
            **{f"{k}_seconds": v for k, v in split.items()},
            **{f"{k}_share": v / budget for k, v in split.items()},
            "slowest_jobs": [{"log": log, "compute": c, "process": p} for log, c, p in slowest]}
