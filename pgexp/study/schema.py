"""The config schema with its name lists filled in from the registries (plug-ins included).

``workflow/schemas/config.schema.yaml`` is a template: it gives the structure and defaults but no list of
estimator or baseline names and no hyperparameter keys -- those come from the registries here (the
estimator names as an enum; baselines, which may carry options, are described and then parsed by the
registry in :mod:`pgexp.study.common`), after
the config's ``plugins`` are imported, so a plug-in's estimator, baselines and hyperparameters are valid
config values like the built-ins.  The Snakefile validates the config against :func:`derived_schema`
(written by :func:`write_derived_schema`, because ``snakemake.utils.validate`` reads a file).
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import yaml

from pgexp.estimators import ESTIMATORS, hyperparameters
from pgexp.estimators.spec import baseline_usage


def hyperparameter_properties(*, defaults: bool) -> dict[str, dict[str, Any]]:
    out = {}
    for name, h in hyperparameters().items():
        prop: dict[str, Any] = {"type": "number", "description": f"{h.doc} (estimators: "
                                f"{', '.join(e for e, est in ESTIMATORS.items() if h in est.hyperparameters)})"}
        if math.isfinite(h.low):
            prop["minimum"] = h.low
        if math.isfinite(h.high):
            prop["maximum"] = h.high
        if defaults:
            prop["default"] = h.default
        out[name] = prop
    return out


def derived_schema(template: dict[str, Any]) -> dict[str, Any]:
    """``template`` with the estimator and baseline names, and the hyperparameter keys, from the registries."""
    s = copy.deepcopy(template)
    defs = s["definitions"]
    defs["estimator"]["enum"] = list(ESTIMATORS)
    # baselines may carry options (fixed:c=VALUE): the list is described here and each one is parsed by
    # the registry (pgexp.study.common.check_baselines), whose error names the key and the allowed forms
    defs["baseline"]["description"] = f"a registered baseline: {', '.join(baseline_usage())}"
    s["properties"].update(hyperparameter_properties(defaults=True))
    defs["environment"]["properties"].update(hyperparameter_properties(defaults=False))
    for section in ("training", "deep"):
        if section in s["properties"]:
            s["properties"][section]["properties"].update(hyperparameter_properties(defaults=False))
    deep = s["properties"].get("deep", {}).get("properties", {})
    for key in ("estimators", "baselines"):
        for where in (deep, deep.get("training", {}).get("properties", {})):
            if key in where:
                if key == "estimators":
                    where[key]["items"] = {"type": "string", "enum": [e for e, est in ESTIMATORS.items()
                                                                      if "continuous" in est.tracks]}
                else:
                    where[key]["items"] = {"type": "string", "description": "a baseline available on continuous-state "
                                           f"tasks: {', '.join(baseline_usage('continuous'))}"}
    return s


def write_derived_schema(template_path: str | Path, out_dir: str | Path | None = None) -> str:
    """Write :func:`derived_schema` of the YAML template as JSON and return its absolute path.

    The file is named by its content's hash, in the temporary directory unless ``out_dir`` says
    otherwise: written once, never in the study's directory, and concurrent ``snakemake`` calls (a
    cluster's jobs) never race on it.
    """
    import hashlib
    import tempfile

    from pgexp.io import atomic_write_text

    schema = derived_schema(yaml.safe_load(Path(template_path).read_text()))
    text = json.dumps(schema, indent=1, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = (Path(out_dir or tempfile.gettempdir()) / f"pgexp-config-schema-{digest}.json").resolve()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    return str(path)
