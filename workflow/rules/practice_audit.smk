# The practice audit (the config's `practice_audit` section): what common implementation choices do to the
# gradient -- the *_common estimators (no gamma^h), normalised advantages, truncation -- against the exact
# gradient and the textbook estimator.  Thin rules; pgexp.study.audit maps the config to jobs.


rule practice_estimate:
    input:
        kernels_estimate=kernels("estimate"),
    output:
        "results/practice_audit/estimates/{env}/seed{seed}.parquet",
    log:
        "logs/practice_audit/estimates/{env}/seed{seed}.log",
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        args=lambda wildcards: AUDIT.estimate_args(wildcards.env, int(wildcards.seed)),
        version=PGEXP_VERSION,
    shell:
        "pgexp estimate {params.args} --output {output} > {log} 2>&1"


rule practice_normalization:
    input:
        kernels_exact=kernels("exact"),
        kernels_analysis=kernels("analysis"),
    output:
        "results/practice_audit/normalization/{problem}.parquet",
    log:
        "logs/practice_audit/normalization/{problem}.log",
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        args=lambda wildcards: AUDIT.normalization_args(wildcards.problem),
        resamples=RESAMPLES,
        confidence=CONFIDENCE,
        version=PGEXP_VERSION,
    shell:
        "pgexp normalization-bias {params.args} --resamples {params.resamples} --confidence {params.confidence}"
        " --output {output} > {log} 2>&1"


rule practice_sign_flip:
    input:
        kernels_exact=kernels("exact"),
        kernels_estimate=kernels("estimate"),
    output:
        multiext("results/tables/practice_audit_sign_flip", ".parquet", ".csv"),
    log:
        "logs/practice_audit/sign_flip.log",
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        args=lambda wildcards: AUDIT.sign_flip_args(),
        resamples=RESAMPLES,
        confidence=CONFIDENCE,
        version=PGEXP_VERSION,
    shell:
        "pgexp sign-flip {params.args} --confidence {params.confidence}"
        " --output results/tables/practice_audit_sign_flip.parquet > {log} 2>&1"


rule practice_audit_table:
    input:
        estimates=lambda wildcards: AUDIT.estimate_files(),
        normalization=lambda wildcards: AUDIT.normalization_files(),
        kernels_exact=kernels("exact"),
        kernels_analysis=kernels("analysis"),
    output:
        multiext("results/tables/practice_audit", ".parquet", ".csv"),
        audit_normalization_outputs(),
    log:
        "logs/practice_audit/table.log",
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        normalization=audit_normalization_options,
        resamples=RESAMPLES,
        confidence=CONFIDENCE,
        version=PGEXP_VERSION,
    shell:
        "pgexp practice-audit {input.estimates} {params.normalization} --resamples {params.resamples}"
        " --confidence {params.confidence} --output results/tables/practice_audit.parquet > {log} 2>&1"


rule practice_train:
    input:
        kernels_train=kernels("train"),
    output:
        "results/practice_audit/training/{env}/runs.parquet",
    log:
        "logs/practice_audit/training/{env}/runs.log",
    resources:
        runtime=60,
        mem_mb=2000,
    params:
        args=lambda wildcards: AUDIT.env_train_args(wildcards.env),
        version=PGEXP_VERSION,
    shell:
        "pgexp train {params.args} --output {output} > {log} 2>&1"


rule practice_curves:
    input:
        files=lambda wildcards: AUDIT.training_files(),
        kernels_analysis=kernels("analysis"),
    output:
        multiext("results/tables/practice_audit_curves", ".parquet", ".csv"),
        multiext("results/tables/practice_audit_training", ".parquet", ".csv"),
    log:
        "logs/practice_audit/curves.log",
    params:
        threshold=lambda wildcards: AUDIT.training.threshold,
        resamples=RESAMPLES,
        confidence=CONFIDENCE,
        version=PGEXP_VERSION,
    shell:
        "pgexp curves {input.files} --curves results/tables/practice_audit_curves.parquet"
        " --summary results/tables/practice_audit_training.parquet --threshold {params.threshold}"
        " --resamples {params.resamples} --confidence {params.confidence} > {log} 2>&1"
