# One rule for every figure of the registry (pgexp.figures): PDF (vector) + PNG, from the tables the figure
# declares.  Each figure is its own target: `snakemake --cores all results/figures/variance_vs_horizon.pdf`
# builds only what it needs.  The caption is the registry's, rendered through workflow/report/figure.rst.


rule figure:
    input:
        unpack(figure_tables),
    output:
        pdf="results/figures/{figure}.pdf",
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels=lambda wildcards: {"figure": wildcards.figure},
        ),
    log:
        "logs/figures/{figure}.log",
    params:
        tables=figure_options,
        caption=figure_caption,
        version=PGEXP_VERSION,
    shell:
        "pgexp plot {wildcards.figure} {params.tables} --output {output.pdf} > {log} 2>&1"
