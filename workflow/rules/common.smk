# Config -> job lists and path helpers.  The mapping lives in pgexp.study (tested there); this file
# only adapts it to Snakemake.

import json
import os
import sys

from snakemake.exceptions import WorkflowError

import pgexp
from pgexp.cli import declare_options
from pgexp.errors import UserError
from pgexp.figures import FIGURES, figures_for, option
from pgexp.plugins import ENV_VAR as PLUGINS_VAR
from pgexp.study import SCHEMA, Job, config_hash, load_audit, load_config
from pgexp.study.record import RECORD_DIR

# The schema (with its defaults), every section and every spec string built, before any job.  A mistake
# is one line naming the key (sys.exit: a WorkflowError would add Snakemake's file/line frame to it).
# The schema and the builds run once per config (recorded in .snakemake/pgexp/); a later call reads the
# config against the registries' metadata only, so a no-op `snakemake -n` imports no numerical library.
declare_options()  # a plug-in's hyperparameter may not take a command's option name (read off the parsers)
try:
    STUDY, TRAINING, DEEP = load_config(config, os.path.join(workflow.basedir, SCHEMA), record_dir=RECORD_DIR)
    AUDIT = load_audit(config)  # the practice_audit section (checked by load_config), or None
    # the registered figures of the config's sections (narrowed by its `figures` key)
    FIGURE_NAMES = figures_for(config)
except UserError as exc:
    sys.exit(f"invalid config: {exc}")
# Every estimation job, tabular or continuous-state: one `estimate` rule serves both.
ESTIMATE_ENVS = {**STUDY, **(DEEP.envs if DEEP else {})}

# Provenance for every job's parquet metadata; an environment variable, so it never enters a command
# line (a config edit elsewhere must not make unrelated jobs look changed).
os.environ["PGEXP_CONFIG_HASH"] = config_hash(config)
# The study's plug-ins reach every `pgexp` call the same way (jobs inherit the environment).
if config.get("plugins"):
    os.environ[PLUGINS_VAR] = ",".join(config["plugins"])
# Snakemake runs jobs side by side on every core: a multi-threaded BLAS inside each job only oversubscribes
# them (measured: the exact curves of the default garnet take 24.6 s with OpenBLAS's own threads on a loaded
# 2-core machine, 7.5 s with one).  numpy's BLAS only (torch's threads are set per job); a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

BOOTSTRAP = config.get("bootstrap", {})
RESAMPLES = int(BOOTSTRAP.get("resamples", 2000))
CONFIDENCE = float(BOOTSTRAP.get("confidence", 0.95))
ESTIMATION_TABLES = expand(
    "results/tables/{table}.{ext}",
    table=("metrics", "slopes", "exact_variance", "comparisons", "decomposition"),
    ext=("parquet", "csv"),
)
if any(st.has_lambda_tradeoff() for st in STUDY.values()):  # GAE's exact lambda trade-off
    ESTIMATION_TABLES += expand("results/tables/gae_lambda_tradeoff.{ext}", ext=("parquet", "csv"))
TRAINING_TABLE_NAMES = (
    ["learning_curves", "training_summary", "performance_profiles", "variance_along_training"] if TRAINING else []
)
TABLES = ESTIMATION_TABLES + expand("results/tables/{table}.{ext}", table=TRAINING_TABLE_NAMES, ext=("parquet", "csv"))
CHECKPOINTS = list(TRAINING.checkpoints) if TRAINING else []
DEEP_TABLE_NAMES = (
    (["deep_quality"] + (["deep_learning_curves", "deep_training_summary"] if DEEP.train else [])) if DEEP else []
)
TABLES += expand("results/tables/{table}.{ext}", table=DEEP_TABLE_NAMES, ext=("parquet", "csv"))
AUDIT_TABLE_NAMES = (
    (
        ["practice_audit", "practice_audit_sign_flip"]
        + (["practice_audit_normalization"] if AUDIT.normalization else [])
        + (["practice_audit_curves", "practice_audit_training"] if AUDIT.training else [])
    )
    if AUDIT
    else []
)
TABLES += expand("results/tables/{table}.{ext}", table=AUDIT_TABLE_NAMES, ext=("parquet", "csv"))
# The coverage judged on the held-out seeds (`coverage: {seeds: [...]}`): environments with judged pairs only.
HELDOUT_ENVS = sorted(name for name, st in STUDY.items() if st.heldout_jobs())
HELDOUT_TABLE = "results/tables/metrics_heldout.parquet"
TABLES += multiext("results/tables/metrics_heldout", ".parquet", ".csv") if HELDOUT_ENVS else []
# A code change that alters results must rerun jobs: Snakemake cannot see inside `pgexp`.
PGEXP_VERSION = pgexp.__version__


wildcard_constraints:
    env=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    theta=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    estimator=r"[a-z][a-z0-9_]*",
    variant=r"[a-z][a-z0-9_]*~[a-z][a-z0-9_]*(:[A-Za-z0-9_=.,+-]+)?~[a-z0-9_+-]+",
    problem=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    baseline=r"[a-z][a-z0-9_]*(:[A-Za-z0-9_=.,+-]+)?",
    seed=r"\d+",
    figure=r"[a-z][a-z0-9_]*",
    family=r"estimate|train|exact|analysis",


def kernels(family):
    """The compiled-kernels record a job waits on (rule compile_kernels); ancient: its time never reruns a job."""
    return ancient(f"results/kernels/{family}.json")


def estimate_files(env):
    """Every estimate file of one environment."""
    return [f"results/{job.path}" for job in STUDY[env].jobs()]


def estimate_args(wildcards):
    """The `pgexp estimate` options of the job a path names (refuses jobs the config does not declare)."""
    study = ESTIMATE_ENVS.get(wildcards.env)
    job = Job(wildcards.env, wildcards.theta, int(wildcards.seed))
    if study is None or job not in study.jobs():
        raise WorkflowError(f"{job.path} is not a job of the config (see docs/config.md)")
    return study.estimate_args(job)


def heldout_estimate_args(wildcards):
    """The `pgexp estimate` options of a held-out coverage job (refuses jobs the config does not declare)."""
    study = STUDY.get(wildcards.env)
    job = Job(wildcards.env, wildcards.theta, int(wildcards.seed), heldout=True)
    if study is None or job not in study.heldout_jobs():
        raise WorkflowError(f"{job.path} is not a coverage job of the config (see docs/config.md, coverage)")
    return study.estimate_args(job)


def heldout_files(env):
    """Every held-out estimate file of one environment, and its exact curves (the cells they are judged against)."""
    return {
        "files": [f"results/{job.path}" for job in STUDY[env].heldout_jobs()],
        "exact": [f"results/tables/exact_variance/{env}/{theta}.parquet" for theta, _ in STUDY[env].thetas],
    }


def heldout_report_inputs(wildcards):
    return {"metrics_heldout": HELDOUT_TABLE} if HELDOUT_ENVS else {}


def heldout_report_options():
    return f"--metrics-heldout {HELDOUT_TABLE}" if HELDOUT_ENVS else ""


def reference(wildcards):
    study = STUDY[wildcards.env]
    return {
        "horizon": "inf" if study.reference_horizon is None else study.reference_horizon,
        "batch_size": study.reference_batch_size,
    }


def train_args(wildcards):
    """The `pgexp train` options of an environment's training job: every pair of its section (refuses others)."""
    if DEEP and DEEP.train and wildcards.env in DEEP.envs:
        return DEEP.env_train_args(wildcards.env)
    if TRAINING is None or wildcards.env not in {te.name for te in TRAINING.envs}:
        raise WorkflowError(f"training run {wildcards.env} is not in the config")
    return TRAINING.env_train_args(wildcards.env)


def training_files(wildcards):
    return [f"results/training/{te.name}/runs.parquet" for te in TRAINING.envs]


def checkpoint_estimate_files(wildcards):
    return [
        f"results/estimates_training/{te.name}/ckpt{t}.parquet" for te in TRAINING.envs for t in TRAINING.checkpoints
    ]


def checkpoint_args(wildcards):
    return TRAINING.checkpoint_args(
        wildcards.env, int(wildcards.t), f"results/training/{wildcards.env}/path.theta{wildcards.t}.npy"
    )


TRAINING_TABLES = {
    "curves": "results/tables/learning_curves.parquet",
    "summary": "results/tables/training_summary.parquet",
    "profiles": "results/tables/performance_profiles.parquet",
    "training_variance": "results/tables/variance_along_training.parquet",
}


def training_report_inputs(wildcards):
    return TRAINING_TABLES if TRAINING else {}


def training_report_options():
    if not TRAINING:
        return ""
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in TRAINING_TABLES.items())


def exact_files(wildcards=None):
    """Exact variance curves of every (environment, policy point) that has exact pairs."""
    return [
        f"results/tables/exact_variance/{name}/{theta}.parquet"
        for name, st in sorted(STUDY.items())
        if st.exact_pairs()
        for theta, _ in st.thetas
    ]


def decomposition_files(wildcards=None):
    return [
        f"results/tables/decomposition/{name}/{theta}.parquet"
        for name, st in sorted(STUDY.items())
        if st.exact_pairs() and st.track == "tabular"  # the Doob decomposition: finite MDPs
        for theta, _ in st.thetas
    ]


def lambda_tradeoff_files(wildcards=None):
    """GAE's exact lambda trade-off of every (environment, policy point) that studies GAE."""
    return [
        f"results/tables/gae_lambda_tradeoff/{name}/{theta}.parquet"
        for name, st in sorted(STUDY.items())
        if st.has_lambda_tradeoff()
        for theta, _ in st.thetas
    ]


def lambda_tradeoff_report_inputs(wildcards):
    made = "results/tables/gae_lambda_tradeoff.parquet"
    return {"lambda_tradeoff": made} if made in ESTIMATION_TABLES else {}


def lambda_tradeoff_report_options():
    return " ".join(f"--lambda-tradeoff {p}" for p in lambda_tradeoff_report_inputs(None).values())


def deep_estimate_files(wildcards=None):
    return [f"results/{job.path}" for study in DEEP.envs.values() for job in study.jobs()]


def deep_training_files(wildcards=None):
    return [f"results/training/{name}/runs.parquet" for name in DEEP.envs]


DEEP_REPORT_TABLES = {
    "deep_quality": "results/tables/deep_quality.parquet",
    "deep_summary": "results/tables/deep_training_summary.parquet",
}


def deep_report_inputs(wildcards):
    if not DEEP:
        return {}
    return {k: v for k, v in DEEP_REPORT_TABLES.items() if DEEP.train or k == "deep_quality"}


def deep_report_options():
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in deep_report_inputs(None).items())


def figure_tables(wildcards):
    """Table role -> `results/tables/<table>.parquet` of the figure a path names: its required tables, and
    the optional ones this study makes (refuses figures the config does not build)."""
    if wildcards.figure not in FIGURE_NAMES:
        raise WorkflowError(
            f"results/figures/{wildcards.figure}: not a figure of the config; "
            f"its figures: {', '.join(FIGURE_NAMES)} (see docs/config.md)"
        )
    spec = FIGURES[wildcards.figure]
    paths = {role: f"results/tables/{table}.parquet" for role, table in spec.tables.items()}
    return {role: path for role, path in paths.items() if role in spec.required or path in TABLES}


def figure_options(wildcards, input):
    """The `pgexp plot` table options, `--ROLE PATH`, of a figure's inputs."""
    return " ".join(f"{option(role)} {path}" for role, path in input.items())


def figure_caption(wildcards):
    """The figure's one caption (the registry's), rendered by workflow/report/figure.rst."""
    return FIGURES[wildcards.figure].caption


def audit_normalization_outputs():
    """The practice audit's normalisation-bias table, when the section has normalisation problems."""
    if AUDIT and AUDIT.normalization:
        return multiext("results/tables/practice_audit_normalization", ".parquet", ".csv")
    return []


def audit_normalization_options(wildcards, input):
    if not (AUDIT and AUDIT.normalization):
        return ""
    return (
        f"--normalization {' '.join(input.normalization)}"
        " --normalization-output results/tables/practice_audit_normalization.parquet"
    )


AUDIT_REPORT_TABLES = {
    "practice_audit": "results/tables/practice_audit.parquet",
    "practice_audit_normalization": "results/tables/practice_audit_normalization.parquet",
    "practice_audit_sign_flip": "results/tables/practice_audit_sign_flip.parquet",
    "practice_audit_training": "results/tables/practice_audit_training.parquet",
}


def audit_report_inputs(wildcards):
    return {k: v for k, v in AUDIT_REPORT_TABLES.items() if v in TABLES}


def audit_report_options():
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in audit_report_inputs(None).items())
