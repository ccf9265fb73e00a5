# A named paper study (config/studies/NAME.yaml, section `study`): its training arms, learning curves,
# tables, figures and one-page report, all under results/studies/NAME/.  The mapping from the config to
# the jobs is pgexp.study.paper; every rule is a thin `pgexp ...` call.  A training study's rules are in
# training_study.smk, a variance study's (tucker2018_mirage: exact decompositions and a Monte-Carlo arm) in
# mirage_study.smk, a group study's (group estimators: pgexp group-train) in group_study.smk.

import json
import os
import sys

import pgexp
from pgexp.errors import UserError
from pgexp.study import config_hash
from pgexp.study.paper import load_paper_study
from pgexp.study.record import RECORD_DIR

# The schema, then every value and the problem built, before any job; a mistake is one line naming the key.
# The schema and the build run once per config (recorded in .snakemake/pgexp/): a no-op `snakemake -n`
# imports no numerical library.
try:
    PAPER = load_paper_study(
        config,
        schema=os.path.join(workflow.basedir, "workflow", "schemas", "study.schema.yaml"),
        record_dir=RECORD_DIR,
    )
except UserError as exc:
    sys.exit(f"invalid config: {exc}")

os.environ["PGEXP_CONFIG_HASH"] = config_hash(config)
PGEXP_VERSION = pgexp.__version__
ROOT = PAPER.root
STUDY_LOGS = f"logs/studies/{PAPER.name}"
STUDY_TABLE = {name: f"{ROOT}/tables/{name}.parquet" for name in PAPER.tables}
# what `snakemake --cores all --configfile config/studies/NAME.yaml` builds (the Snakefile's `rule all`)
STUDY_TARGETS = [
    f"{ROOT}/report.html",
    *expand(f"{ROOT}/tables/{{table}}.{{ext}}", table=PAPER.tables, ext=("parquet", "csv")),
    *expand(f"{ROOT}/figures/{{figure}}.{{ext}}", figure=PAPER.figures, ext=("pdf", "png")),
]


wildcard_constraints:
    arm=r"[A-Za-z0-9][A-Za-z0-9_]*",


if PAPER.kind == "mirage":

    include: "mirage_study.smk"

elif PAPER.kind == "groups":

    include: "group_study.smk"

else:

    include: "training_study.smk"
