# Gradient-estimation jobs: one per (environment, policy point, estimator, baseline, seed), sweeping
# the horizons x batch sizes grid on common random numbers.


rule estimate:
    output:
        "results/estimates/{env}/{theta}/{estimator}~{baseline}/seed{seed}.parquet",
    log:
        "logs/estimate/{env}/{theta}/{estimator}~{baseline}/seed{seed}.log",
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        args=estimate_args,
        version=PGEXP_VERSION,
    shell:
        "pgexp estimate {params.args} --output {output} > {log} 2>&1"
