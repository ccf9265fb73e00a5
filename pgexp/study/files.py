"""Reading a study config file strictly: a mistake names the file and the line.

Snakemake reads a config with a YAML loader that lets a repeated key win silently (``replicates: 400`` then
``replicates: 4`` further down is a study of 4) and, on a syntax error, says only that the file "is not valid
JSON or YAML".  The workflow reads every config file once more through :func:`read_config_file` before
anything else (``Snakefile``): a syntax error, a tab in the indentation, a repeated key, an empty file or a
top level that is not a mapping is one line ``FILE, line L, column C: what is wrong``.

Snakemake reads the files given with ``--configfile`` itself, before the workflow starts, and stops on what
its loader cannot parse with its own message, which no workflow code can change; what it lets through (a
repeated key) is refused here.  The default ``config/config.yaml`` is read here first, so all of its mistakes
are named in full.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgexp.errors import UserError


def strict_loader() -> type:
    """A safe YAML loader (libyaml's where installed) that refuses a key given twice in one mapping."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Strict(base):  # type: ignore[misc, valid-type]
        pass

    def mapping(loader: Any, node: Any, deep: bool = False) -> dict:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: merged keys may be overridden
                continue
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (first on line {seen[key].line + 1}); each key once", mark)
            seen[key] = key_node.start_mark
        return loader.construct_mapping(node, deep=deep)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return Strict


def yaml_message(exc: Exception, text: str) -> tuple[int | None, int | None, str]:
    """``(line, column, problem)`` of a PyYAML error in ``text`` (1-based; ``None`` where it has no position); a
    tab where the error is says so (YAML indents with spaces only)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
    if mark is None:
        return None, None, problem
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    if "\t" in line[: mark.column + 1]:
        problem += " (a tab: YAML indents with spaces only)"
    return mark.line + 1, mark.column + 1, problem


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A study config file as a mapping, or a :class:`UserError` naming the file and the line."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; a study config (docs/config.md)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        data = yaml.load(text, Loader=strict_loader())
    except yaml.YAMLError as exc:
        line, column, problem = yaml_message(exc, text)
        where = f"{path}, line {line}, column {column}" if line is not None else str(path)
        raise UserError(f"{where}: {problem}") from None
    if data is None:
        raise UserError(f"{path}: empty; allowed: a mapping of config keys (docs/config.md)")
    if not isinstance(data, dict):
        raise UserError(f"{path}, line 1: the top level is a {type(data).__name__}; allowed: a mapping of config keys "
                        "(docs/config.md)")
    return data


__all__ = ["read_config_file", "strict_loader"]
