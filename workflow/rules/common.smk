# Config -> job lists and path helpers.  The mapping lives in pgexp.study (tested there); this file
# only adapts it to Snakemake.

import json
import os

from snakemake.exceptions import WorkflowError

import pgexp
from pgexp.errors import UserError
from pgexp.study import Job, config_hash, load_study

try:
    STUDY = load_study(config)
except UserError as exc:
    raise WorkflowError(f"invalid config: {exc}") from None

# Provenance for every job's parquet metadata; an environment variable, so it never enters a command
# line (a config edit elsewhere must not make unrelated jobs look changed).
os.environ["PGEXP_CONFIG_HASH"] = config_hash(config)

BOOTSTRAP = config.get("bootstrap", {})
RESAMPLES = int(BOOTSTRAP.get("resamples", 2000))
CONFIDENCE = float(BOOTSTRAP.get("confidence", 0.95))
FIGURE_NAMES = list(config.get("figures", ["variance_vs_horizon", "quality_vs_batch_size", "bias_variance"]))
TABLES = expand("results/tables/{table}.{ext}", table=("metrics", "slopes"), ext=("parquet", "csv"))
# A code change that alters results must rerun jobs: Snakemake cannot see inside `pgexp`.
PGEXP_VERSION = pgexp.__version__


wildcard_constraints:
    env=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    theta=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    estimator=r"[a-z_]+",
    baseline=r"[a-z_]+",
    seed=r"\d+",


def estimate_files(env):
    """Every estimate file of one environment."""
    return [f"results/{job.path}" for job in STUDY[env].jobs()]


def estimate_args(wildcards):
    """The `pgexp estimate` options of the job a path names (refuses jobs the config does not declare)."""
    study = STUDY.get(wildcards.env)
    job = Job(wildcards.env, wildcards.theta, wildcards.estimator, wildcards.baseline, int(wildcards.seed))
    if study is None or job not in study.jobs():
        raise WorkflowError(f"{job.path} is not a job of the config (see config/README.md)")
    return study.estimate_args(job)


def reference(wildcards):
    study = STUDY[wildcards.env]
    return {"horizon": "inf" if study.reference_horizon is None else study.reference_horizon,
            "batch_size": study.reference_batch_size}
