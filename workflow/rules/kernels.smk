# The numba kernels, compiled into numba's cache once, before the jobs that use them (a fresh clone's first jobs
# would otherwise each compile what they use, side by side). One job per family; a family already cached takes
# about a second. `kernels(FAMILY)` is the input a job waits on (ancient: a recompile never reruns a job).


rule compile_kernels:
    output:
        "results/kernels/{family}.json",
    log:
        "logs/kernels/{family}.log",
    params:
        version=PGEXP_VERSION,
    shell:
        "pgexp compile {wildcards.family} --output {output} > {log} 2>&1"
