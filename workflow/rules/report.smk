# results/report.html: self-contained (figures embedded), with the setup, the findings generated from
# the tables, the figures, the tables and the provenance.


rule report_html:
    input:
        unpack(training_report_inputs),
        unpack(deep_report_inputs),
        unpack(lambda_tradeoff_report_inputs),
        unpack(audit_report_inputs),
        unpack(heldout_report_inputs),
        metrics="results/tables/metrics.parquet",
        slopes="results/tables/slopes.parquet",
        exact="results/tables/exact_variance.parquet",
        comparisons="results/tables/comparisons.parquet",
        decomposition="results/tables/decomposition.parquet",
        figures=expand("results/figures/{figure}.pdf", figure=FIGURE_NAMES),
        pngs=expand("results/figures/{figure}.png", figure=FIGURE_NAMES),
    output:
        "results/report.html",
    log:
        "logs/report.log",
    params:
        config=json.dumps(config, sort_keys=False),  # the user's key order, as written
        version=PGEXP_VERSION,
        training=lambda wildcards: training_report_options(),
        deep=lambda wildcards: deep_report_options(),
        tradeoff=lambda wildcards: lambda_tradeoff_report_options(),
        audit=lambda wildcards: audit_report_options(),
        heldout=lambda wildcards: heldout_report_options(),
    shell:
        "pgexp report --config-json {params.config:q} --metrics {input.metrics} --slopes {input.slopes}"
        " --exact {input.exact} --comparisons {input.comparisons} --decomposition {input.decomposition}"
        " {params.training} {params.deep} {params.tradeoff} {params.audit} {params.heldout} --figures {input.figures} --output {output} > {log} 2>&1"
