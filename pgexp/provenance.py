"""Provenance recorded with every output: package and library versions, the command, the config hash."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

from pgexp import __version__
from pgexp.plugins import LOADED

LIBRARIES = ("numpy", "scipy", "numba", "pandas", "pyarrow", "gymnasium", "torch", "snakemake")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def provenance(**extra: Any) -> dict[str, Any]:
    """``{"pgexp_version", "libraries", "command", "config_hash", ...extra}``.

    ``config_hash`` comes from ``PGEXP_CONFIG_HASH`` (set by the workflow) so that it never enters a
    job's command line -- a config edit elsewhere must not make this job look changed.
    """
    return {
        "pgexp_version": __version__,
        "libraries": library_versions(),
        "command": (" ".join(["pgexp", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith("pgexp")
                    else " ".join(sys.argv)),
        "config_hash": os.environ.get("PGEXP_CONFIG_HASH"),
        "plugins": list(LOADED),
        **extra,
    }
