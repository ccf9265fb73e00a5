"""The config schema with its name lists filled in from the registries (plug-ins included).

``workflow/schemas/config.schema.yaml`` is a template: it gives the structure and defaults but no list of
estimator or baseline names and no hyperparameter keys -- those come from the registries here (the
estimator names as an enum; baselines, which may carry options, are described and then parsed by the
registry in :mod:`pgexp.study.common`), after
the config's ``plugins`` are imported, so a plug-in's estimator, baselines and hyperparameters are valid
config values like the built-ins.  :func:`check_schema` validates a config against :func:`derived_schema` in
memory with jsonschema and fills in its defaults, as ``snakemake.utils.validate`` does -- without its pandas
import, and without writing the derived schema to a file.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

from pgexp.errors import UserError
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
    for section in ("training", "deep", "practice_audit"):
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


MAX_MESSAGE = 160


def schema_message(err: Any) -> str:
    """One line from a :class:`jsonschema.ValidationError`: the key path, what is wrong, what the key is for."""
    path = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    message = re.sub(r"\s+", " ", str(err.message))
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "..."
    desc = err.schema.get("description") if isinstance(err.schema, dict) else None
    desc = re.sub(r"\s+", " ", desc).strip() if isinstance(desc, str) else ""
    about = f" ({desc})" if desc and len(desc) <= MAX_MESSAGE else ""
    return f"config key '{path}': {message}{about}"


def config_keys(template: dict[str, Any]) -> set[str]:
    """The keys of the config where a hyperparameter becomes a key too (the top level, an environment, the training,
    deep and practice-audit sections), as the schema template declares them: a hyperparameter may not take one."""
    props = template.get("properties", {})
    keys = set(props) | set(template.get("definitions", {}).get("environment", {}).get("properties", {}))
    for section in ("training", "deep", "practice_audit"):
        keys |= set(props.get(section, {}).get("properties", {}))
    return keys


def parse_schema(text: str) -> dict[str, Any]:
    """A YAML (or JSON) schema's text, parsed (libyaml's loader where installed: the template is long)."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def read_schema(path: str | Path) -> dict[str, Any]:
    """A YAML (or JSON) schema file."""
    return parse_schema(Path(path).read_text())


def check_schema(config: dict[str, Any], schema: str | Path | dict[str, Any]) -> None:
    """Validate ``config`` against ``schema`` (a file or the schema itself) and fill in its defaults, as
    ``snakemake.utils.validate`` does (which would import pandas); one line on a violation."""
    import jsonschema
    from jsonschema import validators

    schema = read_schema(schema) if isinstance(schema, (str, Path)) else schema
    cls = validators.validator_for(schema)
    properties = cls.VALIDATORS["properties"]

    def with_defaults(validator: Any, props: dict[str, Any], instance: Any, sub: dict[str, Any]) -> Any:
        if isinstance(instance, dict):
            for key, prop in props.items():
                if isinstance(prop, dict) and "default" in prop:
                    instance.setdefault(key, copy.deepcopy(prop["default"]))
        yield from properties(validator, props, instance, sub)

    try:
        validators.extend(cls, {"properties": with_defaults})(schema).validate(config)
    except jsonschema.ValidationError as err:
        raise UserError(schema_message(jsonschema.exceptions.best_match([err]))) from None


__all__ = ["check_schema", "derived_schema", "hyperparameter_properties", "parse_schema", "read_schema",
           "schema_message"]
