# A named paper study (config/studies/NAME.yaml, section `study`): its training arms, learning curves,
# tables, figures and one-page report, all under results/studies/NAME/.  The mapping from the config to
# the jobs is pgexp.study.paper; every rule is a thin `pgexp ...` call.

import json
import os
import sys

import pgexp
from pgexp.errors import UserError
from pgexp.study import config_hash
from pgexp.study.paper import load_paper_study
from pgexp.study.record import RECORD_DIR

# The schema, then every value and the problem built, before any job; a mistake is one line naming the key.
# The schema and the build run once per config (recorded in .snakemake/pgexp/): a no-op `snakemake -n`
# imports no numerical library.
try:
    PAPER = load_paper_study(
        config,
        schema=os.path.join(workflow.basedir, "workflow", "schemas", "study.schema.yaml"),
        record_dir=RECORD_DIR,
    )
except UserError as exc:
    sys.exit(f"invalid config: {exc}")

os.environ["PGEXP_CONFIG_HASH"] = config_hash(config)
PGEXP_VERSION = pgexp.__version__
ROOT = PAPER.root
STUDY_LOGS = f"logs/studies/{PAPER.name}"
STUDY_TABLE = {name: f"{ROOT}/tables/{name}.parquet" for name in PAPER.tables}
# what `snakemake --cores all --configfile config/studies/NAME.yaml` builds (the Snakefile's `rule all`)
STUDY_TARGETS = [
    f"{ROOT}/report.html",
    *expand(f"{ROOT}/tables/{{table}}.{{ext}}", table=PAPER.tables, ext=("parquet", "csv")),
    *expand(f"{ROOT}/figures/{{figure}}.{{ext}}", figure=PAPER.figures, ext=("pdf", "png")),
]


wildcard_constraints:
    arm=r"[A-Za-z0-9][A-Za-z0-9_]*",


rule study_train:
    output:
        f"{ROOT}/training/{{arm}}.parquet",
    log:
        f"{STUDY_LOGS}/training/{{arm}}.log",
    params:
        args=lambda wildcards: PAPER.train_args(wildcards.arm),
        version=PGEXP_VERSION,
    shell:
        "pgexp train {params.args} --output {output} > {log} 2>&1"


rule study_curves:
    input:
        PAPER.training_files(),
    output:
        curves=multiext(f"{ROOT}/tables/learning_curves", ".parquet", ".csv"),
        summary=multiext(f"{ROOT}/tables/training_summary", ".parquet", ".csv"),
        traces=multiext(f"{ROOT}/tables/policy_traces", ".parquet", ".csv"),
    log:
        f"{STUDY_LOGS}/curves.log",
    params:
        args=PAPER.curves_args(),
        # each table's .parquet (`pgexp curves` writes the .csv beside it)
        curves=lambda wildcards, output: output.curves[0],
        summary=lambda wildcards, output: output.summary[0],
        traces=lambda wildcards, output: output.traces[0],
        version=PGEXP_VERSION,
    shell:
        "pgexp curves {input} --curves {params.curves} --summary {params.summary} --traces {params.traces}"
        " {params.args} > {log} 2>&1"


rule study_baseline_variance:
    output:
        table=multiext(f"{ROOT}/tables/baseline_variance", ".parquet", ".csv"),
    log:
        f"{STUDY_LOGS}/baseline_variance.log",
    params:
        args=PAPER.variance_args(),
        parquet=lambda wildcards, output: output.table[0],  # the .csv is written beside it
        version=PGEXP_VERSION,
    shell:
        "pgexp baseline-variance {params.args} --output {params.parquet} > {log} 2>&1"


rule study_report:
    input:
        **STUDY_TABLE,
    output:
        report=f"{ROOT}/report.html",
        figures=expand(f"{ROOT}/figures/{{figure}}.{{ext}}", figure=PAPER.figures, ext=("pdf", "png")),
    log:
        f"{STUDY_LOGS}/report.log",
    params:
        study=json.dumps(config["study"], sort_keys=True),
        variance=f"--variance {STUDY_TABLE['baseline_variance']}" if "baseline_variance" in STUDY_TABLE else "",
        outdir=lambda wildcards, output: os.path.dirname(output.report),
        version=PGEXP_VERSION,
    shell:
        "pgexp study-report --study-json {params.study:q} --curves {input.learning_curves}"
        " --summary {input.training_summary} --traces {input.policy_traces} {params.variance}"
        " --outdir {params.outdir} > {log} 2>&1"
