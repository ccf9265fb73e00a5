# Continuous-state tasks (the config's `deep` section): their estimation and training jobs run through
# the `estimate` and `train` rules like every other; here only their own tables (no exact gradient:
# each job measures its estimates against the mean of a large independent batch, the reference).


rule deep_quality:
    input:
        files=deep_estimate_files,
        kernels_analysis=kernels("analysis"),
    output:
        multiext("results/tables/deep_quality", ".parquet", ".csv"),
    log:
        "logs/deep/quality.log",
    params:
        reference_n=lambda wildcards: max(next(iter(DEEP.envs.values())).batch_sizes),
        resamples=RESAMPLES,
        confidence=CONFIDENCE,
        version=PGEXP_VERSION,
    shell:
        "pgexp metrics {input.files} --reference-horizon any --reference-batch-size {params.reference_n}"
        " --resamples {params.resamples}"
        " --confidence {params.confidence} --csv --output results/tables/deep_quality.parquet > {log} 2>&1"


rule deep_curves:
    input:
        files=deep_training_files,
        kernels_analysis=kernels("analysis"),
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
        "pgexp curves {input.files} --curves results/tables/deep_learning_curves.parquet"
        " --summary results/tables/deep_training_summary.parquet --resamples {params.resamples}"
        " --confidence {params.confidence} > {log} 2>&1"
