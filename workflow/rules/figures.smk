# One rule per figure: PDF (vector) + PNG, from the aggregated tables.  Each figure is its own target:
# `snakemake --cores all results/figures/variance_vs_horizon.pdf` builds only what it needs.


rule figure_variance_vs_horizon:
    input:
        metrics="results/tables/metrics.parquet",
        slopes="results/tables/slopes.parquet",
        exact="results/tables/exact_variance.parquet",
    output:
        pdf="results/figures/variance_vs_horizon.pdf",
        png=report(
            "results/figures/variance_vs_horizon.png",
            caption="../report/variance_vs_horizon.rst",
            category="Figures",
        ),
    log:
        "logs/figures/variance_vs_horizon.log",
    params:
        version=PGEXP_VERSION,
    shell:
        "pgexp plot variance_vs_horizon --metrics {input.metrics} --slopes {input.slopes} --exact {input.exact}"
        " --output {output.pdf} > {log} 2>&1"


rule figure_quality_vs_batch_size:
    input:
        metrics="results/tables/metrics.parquet",
        slopes="results/tables/slopes.parquet",
    output:
        pdf="results/figures/quality_vs_batch_size.pdf",
        png=report(
            "results/figures/quality_vs_batch_size.png",
            caption="../report/quality_vs_batch_size.rst",
            category="Figures",
        ),
    log:
        "logs/figures/quality_vs_batch_size.log",
    params:
        version=PGEXP_VERSION,
    shell:
        "pgexp plot quality_vs_batch_size --metrics {input.metrics} --slopes {input.slopes}"
        " --output {output.pdf} > {log} 2>&1"


rule figure_bias_variance:
    input:
        metrics="results/tables/metrics.parquet",
        slopes="results/tables/slopes.parquet",
    output:
        pdf="results/figures/bias_variance.pdf",
        png=report(
            "results/figures/bias_variance.png",
            caption="../report/bias_variance.rst",
            category="Figures",
        ),
    log:
        "logs/figures/bias_variance.log",
    params:
        version=PGEXP_VERSION,
    shell:
        "pgexp plot bias_variance --metrics {input.metrics} --slopes {input.slopes}"
        " --output {output.pdf} > {log} 2>&1"


rule figure_learning_curves:
    input:
        curves="results/tables/learning_curves.parquet",
        summary="results/tables/training_summary.parquet",
    output:
        pdf="results/figures/learning_curves.pdf",
        png=report(
            "results/figures/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="Figures",
        ),
    log:
        "logs/figures/learning_curves.log",
    params:
        version=PGEXP_VERSION,
    shell:
        "pgexp plot learning_curves --curves {input.curves} --summary {input.summary}"
        " --output {output.pdf} > {log} 2>&1"


rule figure_variance_along_training:
    input:
        metrics="results/tables/variance_along_training.parquet",
    output:
        pdf="results/figures/variance_along_training.pdf",
        png=report(
            "results/figures/variance_along_training.png",
            caption="../report/variance_along_training.rst",
            category="Figures",
        ),
    log:
        "logs/figures/variance_along_training.log",
    params:
        version=PGEXP_VERSION,
    shell:
        "pgexp plot variance_along_training --metrics {input.metrics} --output {output.pdf} > {log} 2>&1"
