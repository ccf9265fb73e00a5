"""Study: a validated config -> the jobs the workflow runs and their command-line arguments.

The workflow (``workflow/rules/*.smk``) asks this package what to run; it holds no science, only the
mapping from config keys to jobs.  Every check raises :class:`~pgexp.errors.UserError` naming the key
and what is allowed, before any job runs.  Imports stay light (no numerical library): Snakemake loads
this package on every call, including the no-op ``snakemake -n``.

:func:`load_config` checks a whole config (schema, sections, every spec built; the schema and the builds
once per config: :mod:`~pgexp.study.record`); one module per config section: :mod:`~pgexp.study.estimation`
(``environments`` and the sweeps), :mod:`~pgexp.study.training` (``training``), :mod:`~pgexp.study.deep`
(``deep``), :mod:`~pgexp.study.audit` (``practice_audit``).
"""

from pgexp.study.audit import AuditStudy, load_audit
from pgexp.study.common import config_hash, horizon_token
from pgexp.study.config import SCHEMA, load_config
from pgexp.study.deep import DeepStudy, load_deep
from pgexp.study.estimation import EnvStudy, Job, load_study
from pgexp.study.training import TrainingStudy, load_training

__all__ = [
    "SCHEMA",
    "AuditStudy",
    "DeepStudy",
    "EnvStudy",
    "Job",
    "TrainingStudy",
    "config_hash",
    "horizon_token",
    "load_audit",
    "load_config",
    "load_deep",
    "load_study",
    "load_training",
]
