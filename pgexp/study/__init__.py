"""Study: a validated config -> the jobs the workflow runs and their command-line arguments."""

from pgexp.study.config import (
    Job,
    config_hash,
    load_deep,
    load_study,
    load_training,
)

__all__ = ["Job", "config_hash", "load_deep", "load_study", "load_training"]
