# pgexp: how noisy are policy-gradient estimators, and why.
# `snakemake --cores all` runs the study in config/config.yaml and ends with results/report.html.
# Rules are thin `pgexp ...` calls; the science lives in the package.

import sys

from snakemake.utils import min_version

from pgexp.errors import UserError
from pgexp.study.files import read_config_file

min_version("9.0")


# Every config file read strictly first: a syntax error, a tab, a repeated key, an empty file or a list at the
# top level is one line naming the file and the line (Snakemake's own loader lets a repeated key win).
for path in workflow.config_settings.configfiles or ["config/config.yaml"]:
    try:
        read_config_file(path)
    except UserError as exc:
        sys.exit(f"invalid config: {exc}")


# The default study, unless `--configfile` names another: Snakemake would otherwise merge the two, and
# the default's environments would leak into e.g. the `.test` study.
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


if config.get("study"):  # a named paper study (config/studies/NAME.yaml): its own rules, results/studies/NAME/

    include: "workflow/rules/studies.smk"

    TARGETS = STUDY_TARGETS

else:

    report: "workflow/report/workflow.rst"

    include: "workflow/rules/common.smk"
    include: "workflow/rules/kernels.smk"
    include: "workflow/rules/estimation.smk"
    include: "workflow/rules/aggregation.smk"
    include: "workflow/rules/training.smk"
    include: "workflow/rules/deep.smk"
    include: "workflow/rules/practice_audit.smk"
    include: "workflow/rules/figures.smk"
    include: "workflow/rules/report.smk"

    TARGETS = [
        "results/report.html",
        *TABLES,
        *expand("results/figures/{figure}.{ext}", figure=FIGURE_NAMES, ext=("pdf", "png")),
    ]


rule all:
    default_target: True
    input:
        TARGETS,
