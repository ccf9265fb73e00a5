# Training track: gradient ascent with every estimator~baseline pair of an environment (pairs x step sizes x
# seeds in one job), the exact
# gradient path whose checkpoints are declared outputs, and gradient estimation at those checkpoints
# (every training pair in one job per checkpoint, on common random numbers).


rule train:
    input:
        kernels_train=kernels("train"),
    output:
        "results/training/{env}/runs.parquet",
    log:
        "logs/training/{env}/runs.log",
    resources:
        runtime=60,
        mem_mb=2000,
    params:
        args=train_args,
        version=PGEXP_VERSION,
    shell:
        "pgexp train {params.args} --output {output} > {log} 2>&1"


rule train_path:
    input:
        kernels_train=kernels("train"),
    output:
        table="results/training/{env}/path.parquet",
        thetas=expand("results/training/{{env}}/path.theta{t}.npy", t=CHECKPOINTS),
    log:
        "logs/training/{env}/path.log",
    params:
        args=lambda wildcards: TRAINING.path_args(wildcards.env),
        version=PGEXP_VERSION,
    shell:
        "pgexp train {params.args} --output {output.table} > {log} 2>&1"


rule estimate_checkpoint:
    input:
        theta="results/training/{env}/path.theta{t}.npy",
        kernels_estimate=kernels("estimate"),
    output:
        "results/estimates_training/{env}/ckpt{t}.parquet",
    log:
        "logs/estimates_training/{env}/ckpt{t}.log",
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        args=checkpoint_args,
        version=PGEXP_VERSION,
    shell:
        "pgexp estimate {params.args} --output {output} > {log} 2>&1"


rule learning_curves:
    input:
        files=training_files,
        kernels_analysis=kernels("analysis"),
    output:
        multiext("results/tables/learning_curves", ".parquet", ".csv"),
        multiext("results/tables/training_summary", ".parquet", ".csv"),
        multiext("results/tables/performance_profiles", ".parquet", ".csv"),
    log:
        "logs/learning_curves.log",
    params:
        curves=lambda wildcards: TRAINING.curves_args(),
        resamples=RESAMPLES,
        confidence=CONFIDENCE,
        version=PGEXP_VERSION,
    shell:
        "pgexp curves {input.files} --curves results/tables/learning_curves.parquet"
        " --summary results/tables/training_summary.parquet"
        " --profiles results/tables/performance_profiles.parquet {params.curves}"
        " --resamples {params.resamples} --confidence {params.confidence} > {log} 2>&1"


rule variance_along_training:
    input:
        files=checkpoint_estimate_files,
        kernels_estimate=kernels("estimate"),
        kernels_analysis=kernels("analysis"),
    output:
        multiext("results/tables/variance_along_training", ".parquet", ".csv"),
    log:
        "logs/variance_along_training.log",
    params:
        resamples=RESAMPLES,
        confidence=CONFIDENCE,
        version=PGEXP_VERSION,
    shell:
        "pgexp metrics {input.files} --resamples {params.resamples} --confidence {params.confidence}"
        " --csv --output results/tables/variance_along_training.parquet > {log} 2>&1"
