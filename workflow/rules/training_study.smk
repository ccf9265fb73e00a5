# The rules of a training paper study (pgexp train arms -> pgexp curves -> pgexp study-report); included by
# studies.smk, which loads PAPER and defines ROOT, STUDY_LOGS, STUDY_TABLE and PGEXP_VERSION.


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
