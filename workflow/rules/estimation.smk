# Gradient-estimation jobs: one per (environment, policy point, seed), every estimator~baseline pair of the
# environment on common random numbers, sweeping the horizons x batch sizes grid.


rule estimate:
    input:
        kernels_estimate=kernels("estimate"),
    output:
        "results/estimates/{env}/{theta}/seed{seed}.parquet",
    log:
        "logs/estimate/{env}/{theta}/seed{seed}.log",
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        args=estimate_args,
        version=PGEXP_VERSION,
    shell:
        "pgexp estimate {params.args} --output {output} > {log} 2>&1"


# The coverage's held-out seeds (`coverage: {seeds: [...]}`): per environment with judged pairs and policy point,
# those pairs again on each seed, with the study's grid and replicates (their metrics: aggregation.smk).  Nothing
# else reads them: changing the seeds reruns these jobs only.


rule estimate_heldout:
    input:
        kernels_estimate=kernels("estimate"),
    output:
        "results/estimates_heldout/{env}/{theta}/seed{seed}.parquet",
    log:
        "logs/estimate_heldout/{env}/{theta}/seed{seed}.log",
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        args=heldout_estimate_args,
        version=PGEXP_VERSION,
    shell:
        "pgexp estimate {params.args} --output {output} > {log} 2>&1"
