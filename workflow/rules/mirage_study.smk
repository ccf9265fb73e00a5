# The rules of a variance paper study (config/studies/tucker2018_mirage.yaml): per problem, pgexp tucker (the exact
# per-step decomposition and whole-trajectory variances), pgexp estimate (the Monte-Carlo arm at equal sample cost),
# pgexp metrics --comparisons; pgexp aggregate into tables/; pgexp study-report.  Included by studies.smk, which
# loads PAPER and defines ROOT, STUDY_LOGS, STUDY_TABLE and PGEXP_VERSION.


wildcard_constraints:
    problem=r"[A-Za-z0-9][A-Za-z0-9_]*",
    family=r"estimate|exact|analysis",


# The numba kernels compiled once into numba's cache before the jobs that use them (a fresh clone's first jobs would
# otherwise compile them side by side); ancient: a recompile never reruns a job.
rule mirage_compile:
    output:
        f"{ROOT}/kernels/{{family}}.json",
    log:
        f"{STUDY_LOGS}/kernels/{{family}}.log",
    params:
        version=PGEXP_VERSION,
    shell:
        "pgexp compile {wildcards.family} --output {output} > {log} 2>&1"


rule mirage_tucker:
    input:
        ancient(f"{ROOT}/kernels/exact.json"),
    output:
        f"{ROOT}/tucker/{{problem}}.parquet",
    log:
        f"{STUDY_LOGS}/tucker/{{problem}}.log",
    params:
        args=lambda wildcards: PAPER.tucker_args(wildcards.problem),
        version=PGEXP_VERSION,
    shell:
        "pgexp tucker {params.args} --output {output} > {log} 2>&1"


rule mirage_estimate:
    input:
        ancient(f"{ROOT}/kernels/estimate.json"),
    output:
        f"{ROOT}/estimates/{{problem}}.parquet",
    log:
        f"{STUDY_LOGS}/estimates/{{problem}}.log",
    params:
        args=lambda wildcards: PAPER.estimate_args(wildcards.problem),
        version=PGEXP_VERSION,
    shell:
        "pgexp estimate {params.args} --output {output} > {log} 2>&1"


# One read of the estimates, one process: the metrics and the paired comparisons of the arm's one cell.
rule mirage_metrics:
    input:
        estimates=f"{ROOT}/estimates/{{problem}}.parquet",
        kernels=ancient(f"{ROOT}/kernels/analysis.json"),
    output:
        metrics=f"{ROOT}/metrics/{{problem}}.parquet",
        comparisons=multiext(f"{ROOT}/comparisons/{{problem}}", ".parquet", ".csv"),
    log:
        f"{STUDY_LOGS}/metrics/{{problem}}.log",
    params:
        args=lambda wildcards: PAPER.metrics_args(wildcards.problem),
        version=PGEXP_VERSION,
    shell:
        "pgexp metrics {input.estimates} {params.args} --output {output.metrics}"
        " --comparisons {output.comparisons[0]} > {log} 2>&1"


rule mirage_tables:
    input:
        tucker=expand(f"{ROOT}/tucker/{{problem}}.parquet", problem=PAPER.problem_names()),
        metrics=expand(f"{ROOT}/metrics/{{problem}}.parquet", problem=PAPER.problem_names()),
        comparisons=expand(f"{ROOT}/comparisons/{{problem}}.parquet", problem=PAPER.problem_names()),
    output:
        multiext(f"{ROOT}/tables/tucker_terms", ".parquet", ".csv"),
        multiext(f"{ROOT}/tables/metrics", ".parquet", ".csv"),
        multiext(f"{ROOT}/tables/comparisons", ".parquet", ".csv"),
    log:
        f"{STUDY_LOGS}/tables.log",
    params:
        outdir=f"{ROOT}/tables",
        version=PGEXP_VERSION,
    shell:
        "mkdir -p {params.outdir} && pgexp aggregate --tucker {input.tucker} --metrics {input.metrics}"
        " --comparisons {input.comparisons} --outdir {params.outdir} > {log} 2>&1"


rule mirage_report:
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
        "pgexp study-report --study-json {params.study:q} --tucker {input.tucker_terms} --metrics {input.metrics}"
        " --comparisons {input.comparisons} --outdir {params.outdir} > {log} 2>&1"
