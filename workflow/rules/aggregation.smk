# Per environment, one job reads the estimate files once and writes the metrics (one row per job cell, with
# bootstrap CIs), the variance-vs-horizon slopes and the paired comparisons at the reference cell; then the
# study-wide tables in results/tables/ (parquet + CSV).


rule metrics:
    input:
        files=lambda wildcards: estimate_files(wildcards.env),
        kernels_estimate=kernels("estimate"),
        kernels_analysis=kernels("analysis"),
    output:
        metrics="results/tables/metrics/{env}.parquet",
        slopes="results/tables/slopes/{env}.parquet",
        comparisons=multiext("results/tables/comparisons/{env}", ".parquet", ".csv"),
    log:
        "logs/metrics/{env}.log",
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        reference=reference,
        resamples=RESAMPLES,
        confidence=CONFIDENCE,
        version=PGEXP_VERSION,
    shell:
        "pgexp metrics {input.files} --reference-horizon {params.reference[horizon]}"
        " --reference-batch-size {params.reference[batch_size]} --resamples {params.resamples}"
        " --confidence {params.confidence} --output {output.metrics} --slopes {output.slopes}"
        " --comparisons {output.comparisons[0]} > {log} 2>&1"


# The held-out coverage seeds' metrics, joined with the exact curves: one job per environment with judged pairs.
# No bias reruns: the table is read for the coverage only (bias is judged on the study's own seeds).


rule metrics_heldout:
    input:
        unpack(lambda wildcards: heldout_files(wildcards.env)),
        kernels_estimate=kernels("estimate"),
        kernels_analysis=kernels("analysis"),
    output:
        "results/tables/metrics_heldout/{env}.parquet",
    log:
        "logs/metrics_heldout/{env}.log",
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        resamples=RESAMPLES,
        confidence=CONFIDENCE,
        version=PGEXP_VERSION,
    shell:
        "pgexp metrics {input.files} --exact {input.exact} --resamples {params.resamples}"
        " --confidence {params.confidence} --no-bias-rerun --variance-only --output {output} > {log} 2>&1"


rule exact_curves:
    input:
        kernels_exact=kernels("exact"),
    output:
        "results/tables/exact_variance/{env}/{theta}.parquet",
    log:
        "logs/exact_variance/{env}/{theta}.log",
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        args=lambda wildcards: STUDY[wildcards.env].exact_args(wildcards.theta),
        version=PGEXP_VERSION,
    shell:
        "pgexp exact-curves {params.args} --output {output} > {log} 2>&1"


rule decompose:
    input:
        kernels_exact=kernels("exact"),
    output:
        "results/tables/decomposition/{env}/{theta}.parquet",
    log:
        "logs/decomposition/{env}/{theta}.log",
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        args=lambda wildcards: STUDY[wildcards.env].decompose_args(wildcards.theta),
        version=PGEXP_VERSION,
    shell:
        "pgexp decompose {params.args} --output {output} > {log} 2>&1"


rule lambda_tradeoff:
    input:
        kernels_exact=kernels("exact"),
    output:
        "results/tables/gae_lambda_tradeoff/{env}/{theta}.parquet",
    log:
        "logs/gae_lambda_tradeoff/{env}/{theta}.log",
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        args=lambda wildcards: STUDY[wildcards.env].lambda_tradeoff_args(wildcards.theta),
        version=PGEXP_VERSION,
    shell:
        "pgexp lambda-tradeoff {params.args} --output {output} > {log} 2>&1"


rule aggregate:
    input:
        metrics=expand("results/tables/metrics/{env}.parquet", env=sorted(STUDY)),
        slopes=expand("results/tables/slopes/{env}.parquet", env=sorted(STUDY)),
        exact=exact_files(),
        comparisons=expand("results/tables/comparisons/{env}.parquet", env=sorted(STUDY)),
        decomposition=decomposition_files(),
        lambda_tradeoff=lambda_tradeoff_files(),
    output:
        ESTIMATION_TABLES,
    log:
        "logs/aggregate.log",
    params:
        version=PGEXP_VERSION,
    shell:
        "pgexp aggregate --metrics {input.metrics} --slopes {input.slopes} --exact {input.exact}"
        " --comparisons {input.comparisons} --decomposition {input.decomposition}"
        " --lambda-tradeoff {input.lambda_tradeoff} --outdir results/tables > {log} 2>&1"


rule aggregate_heldout:
    input:
        metrics=expand("results/tables/metrics_heldout/{env}.parquet", env=HELDOUT_ENVS),
    output:
        multiext("results/tables/metrics_heldout", ".parquet", ".csv"),
    log:
        "logs/aggregate_heldout.log",
    params:
        version=PGEXP_VERSION,
    shell:
        "pgexp aggregate --metrics-heldout {input.metrics} --outdir results/tables > {log} 2>&1"
