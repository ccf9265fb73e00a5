# The rules of a group paper study (config/studies/liu2025_length_bias.yaml): one pgexp group-train job per arm
# (exact response lengths along training), pgexp group-curves (bands over seeds, paired differences), pgexp
# group-variance (every group estimator against G, exactly) and pgexp study-report.  Included by studies.smk,
# which loads PAPER and defines ROOT, STUDY_LOGS, STUDY_TABLE and PGEXP_VERSION.


rule group_study_train:
    output:
        f"{ROOT}/training/{{arm}}.parquet",
    log:
        f"{STUDY_LOGS}/training/{{arm}}.log",
    params:
        args=lambda wildcards: PAPER.group_train_args(wildcards.arm),
        version=PGEXP_VERSION,
    shell:
        "pgexp group-train {params.args} --output {output} > {log} 2>&1"


rule group_study_curves:
    input:
        PAPER.training_files(),
    output:
        curves=multiext(f"{ROOT}/tables/length_curves", ".parquet", ".csv"),
        summary=multiext(f"{ROOT}/tables/length_summary", ".parquet", ".csv"),
    log:
        f"{STUDY_LOGS}/curves.log",
    params:
        args=PAPER.group_curves_args(),
        curves=lambda wildcards, output: output.curves[0],
        summary=lambda wildcards, output: output.summary[0],
        version=PGEXP_VERSION,
    shell:
        "pgexp group-curves {input} --curves {params.curves} --summary {params.summary} {params.args} > {log} 2>&1"


rule group_study_variance:
    output:
        variance=multiext(f"{ROOT}/tables/group_variance", ".parquet", ".csv"),
        prompts=multiext(f"{ROOT}/tables/prompt_weights", ".parquet", ".csv"),
        difficulty=multiext(f"{ROOT}/tables/difficulty_weights", ".parquet", ".csv"),
    log:
        f"{STUDY_LOGS}/group_variance.log",
    params:
        args=PAPER.group_variance_args(),
        variance=lambda wildcards, output: output.variance[0],
        prompts=lambda wildcards, output: output.prompts[0],
        difficulty=lambda wildcards, output: output.difficulty[0],
        version=PGEXP_VERSION,
    shell:
        "pgexp group-variance {params.args} --output {params.variance} --prompt-output {params.prompts}"
        " --difficulty-output {params.difficulty} > {log} 2>&1"


rule group_study_report:
    input:
        **STUDY_TABLE,
    output:
        report=f"{ROOT}/report.html",
        figures=expand(f"{ROOT}/figures/{{figure}}.{{ext}}", figure=PAPER.figures, ext=("pdf", "png")),
    log:
        f"{STUDY_LOGS}/report.log",
    params:
        study=json.dumps(config["study"], sort_keys=True),
        outdir=lambda wildcards, output: os.path.dirname(output.report),
        version=PGEXP_VERSION,
    shell:
        "pgexp study-report --study-json {params.study:q} --length-curves {input.length_curves}"
        " --length-summary {input.length_summary} --group-variance {input.group_variance}"
        " --prompt-weights {input.prompt_weights} --difficulty {input.difficulty_weights}"
        " --outdir {params.outdir} > {log} 2>&1"
