# Neural track: MLP policies on continuous-state Gymnasium tasks.  No exact gradient: each job
# measures its estimates against the mean of a large independent batch (the reference).


rule deep_estimate:
    output:
        "results/deep/estimates/{env}/{estimator}~{baseline}/seed{seed}.parquet",
    log:
        "logs/deep/estimates/{env}/{estimator}~{baseline}/seed{seed}.log",
    params:
        args=lambda wildcards: DEEP.estimate_args(wildcards.env, wildcards.estimator, wildcards.baseline,
                                                  int(wildcards.seed)),
        version=PGEXP_VERSION,
    threads: 1
    resources:
        runtime=60,
        mem_mb=4000,
    shell:
        "pgexp estimate {params.args} --output {output} > {log} 2>&1"


rule deep_quality:
    input:
        deep_estimate_files,
    output:
        multiext("results/tables/deep_quality", ".parquet", ".csv"),
    log:
        "logs/deep/quality.log",
    params:
        reference_n=lambda wildcards: max(DEEP.batch_sizes),
        resamples=RESAMPLES,
        confidence=CONFIDENCE,
        version=PGEXP_VERSION,
    shell:
        "pgexp metrics {input} --reference-horizon any --reference-batch-size {params.reference_n}"
        " --resamples {params.resamples}"
        " --confidence {params.confidence} --csv --output results/tables/deep_quality.parquet > {log} 2>&1"


rule deep_train:
    output:
        "results/deep/training/{env}/{estimator}~{baseline}.parquet",
    log:
        "logs/deep/training/{env}/{estimator}~{baseline}.log",
    params:
        args=lambda wildcards: DEEP.train_args(wildcards.env, wildcards.estimator, wildcards.baseline),
        version=PGEXP_VERSION,
    threads: 1
    resources:
        runtime=120,
        mem_mb=4000,
    shell:
        "pgexp train {params.args} --output {output} > {log} 2>&1"


rule deep_curves:
    input:
        deep_training_files,
    output:
        multiext("results/tables/deep_learning_curves", ".parquet", ".csv"),
        multiext("results/tables/deep_training_summary", ".parquet", ".csv"),
    log:
        "logs/deep/curves.log",
    params:
        resamples=RESAMPLES,
        confidence=CONFIDENCE,
        version=PGEXP_VERSION,
    shell:
        "pgexp curves {input} --curves results/tables/deep_learning_curves.parquet"
        " --summary results/tables/deep_training_summary.parquet --resamples {params.resamples}"
        " --confidence {params.confidence} > {log} 2>&1"
