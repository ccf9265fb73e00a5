"""The full check of a config runs once per config, not on every ``snakemake`` call.

Checking a config has two halves.  The light half -- every section, every name against the registries --
reads metadata only and runs on every call (``snakemake -n`` with nothing to do included).  The full half
validates the config against its JSON schema (filling in the defaults) and builds what the config names
(each problem, its features, policy and θ points, the audit's problems, a paper study's problem): it needs
jsonschema, numpy, scipy, gymnasium, sometimes torch, and costs more than Snakemake's own no-op.  Its
outcome depends only on

* the config as given and the schema template's text;
* the code: pgexp's version and its source files (path, size, modification time), Python's version, and the
  installed numpy, scipy, gymnasium and torch (their ``__init__.py`` and ``*.dist-info`` names: an upgrade
  changes both);
* the files the config names: every string value that is an existing file (``file:PATH`` problems,
  ``PATH.npy`` θ points, ``.py`` plug-ins) and each plug-in module's source, by size and modification time;

so a passed full check is recorded under ``<directory>/checked/<key>.json``, ``key`` the SHA-256 of all of
them (the workflow's directory: :data:`RECORD_DIR`), with the config after the schema's defaults and the
:mod:`~pgexp.study.facts` it learnt.  A later call whose key has a record skips the full half: the config
gets its recorded defaults and the facts answer the light half.  Any change to any of the above is another
key, checked in full once; a failed check writes nothing.  Adding a check to the full half is a change of
pgexp's source: every config is checked in full once more, then the no-op is as cheap as before.  The
newest :data:`KEEP` records are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pgexp.study.facts as facts

RECORD_DIR = Path(".snakemake") / "pgexp"  # the workflow's: beside Snakemake's own metadata
LIBRARIES = ("numpy", "scipy", "gymnasium", "torch")
KEEP = 32

Stat = tuple[str, int, int]  # (path, size in bytes, modification time in ns)


def stat(path: str | Path, relative_to: str | Path | None = None) -> Stat:
    st = os.stat(path)
    return (str(path if relative_to is None else os.path.relpath(path, relative_to)), st.st_size, st.st_mtime_ns)


def source_fingerprint() -> list[Stat]:
    """Every ``.py`` file of the pgexp package (an edit is a new fingerprint)."""
    import pgexp

    root = Path(pgexp.__file__).parent
    return sorted(stat(os.path.join(folder, name), root) for folder, _, files in os.walk(root)
                  for name in files if name.endswith(".py"))


def library_fingerprint() -> dict[str, Any]:
    """Python's version, and each of :data:`LIBRARIES`' ``__init__.py`` and ``*.dist-info`` names (found, not
    imported; ``importlib.metadata`` would cost more than the rest of the key)."""
    import importlib.util

    out: dict[str, Any] = {"python": sys.version}
    for name in LIBRARIES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            out[name] = None
            continue
        site = Path(spec.origin).parent.parent
        dists = sorted(p.name for p in site.glob(f"{name}-*.dist-info"))
        out[name] = [stat(spec.origin), dists]
    return out


def named_files(config: MutableMapping[str, Any]) -> list[Stat]:
    """Every existing file a string value of ``config`` names (``file:PATH`` counts as ``PATH``) and every
    imported plug-in module's source."""
    paths: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            for candidate in (value, value.removeprefix("file:")):
                if candidate and os.path.isfile(candidate):
                    paths.add(candidate)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    walk(dict(config))
    for plugin in config.get("plugins") or []:
        module_file = getattr(sys.modules.get(str(plugin)), "__file__", None)
        if module_file and os.path.isfile(module_file):
            paths.add(module_file)
    return [stat(p) for p in sorted(paths)]


def record_key(kind: str, config: MutableMapping[str, Any], schema_text: str = "") -> str:
    """The SHA-256 of everything a full check depends on (module docstring); ``kind`` names the loader."""
    import pgexp

    inputs = {"kind": kind, "config": dict(config), "schema": schema_text, "pgexp": pgexp.__version__,
              "source": source_fingerprint(), "libraries": library_fingerprint(), "files": named_files(config)}
    # keys in their given order: the order of a config's mappings is the order of its jobs and figures
    text = json.dumps(inputs, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def read_record(path: Path, key: str) -> dict[str, Any] | None:
    """The record at ``path`` if it is one of ``key`` (anything else, e.g. a damaged file: ``None``)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not (isinstance(record, dict) and record.get("key") == key and isinstance(record.get("config"), dict)
            and isinstance(record.get("facts"), dict)):
        return None
    return record


def plain_json(value: Any) -> bool:
    """Whether ``value`` survives JSON unchanged, the order of its mappings included (a YAML date, say, would
    not: such a config is never recorded)."""
    try:
        text = json.dumps(value)
        return json.dumps(json.loads(text)) == text and json.loads(text) == value
    except (TypeError, ValueError):
        return False


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write atomically (concurrent ``snakemake`` calls may check the same config); keep the newest :data:`KEEP`.
    A directory that cannot be written is no error: the next call checks in full again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record, indent=1))  # in order (record_key)
        os.replace(tmp, path)
        old = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)[KEEP:]
        for p in old:
            p.unlink(missing_ok=True)
    except OSError:
        pass


@contextmanager
def full_check(kind: str, config: MutableMapping[str, Any], directory: str | Path | None,
               schema_text: str = "") -> Iterator[bool]:
    """Run the light checks and, where due, the full checks of ``config`` inside the ``with`` block::

        with full_check("config", config, RECORD_DIR, schema_text) as due:
            if due:
                ...            # the schema (fills in config's defaults)
            ...                # the light checks (they may ask pgexp.study.facts)
            if due:
                ...            # the builds

    ``due`` is false when ``directory`` holds a record of this key: ``config`` then gets the recorded defaults
    (it becomes the recorded config, which is the given one after the schema's) and the recorded facts answer
    the light checks.  When the block ends without an exception and the checks were due, the record is
    written: ``config`` as it is then, and the facts learnt.  ``directory`` ``None``: always due, nothing read
    or written.
    """
    if directory is None:
        with facts.session():
            yield True
        return
    key = record_key(kind, config, schema_text)
    path = Path(directory) / "checked" / f"{key[:32]}.json"
    record = read_record(path, key)
    if record is not None:
        config.clear()
        config.update(record["config"])
    with facts.session(record["facts"] if record else None) as known:
        yield record is None
        if record is None and plain_json(dict(config)) and plain_json(known):
            import pgexp

            write_record(path, {"key": key, "kind": kind, "pgexp": pgexp.__version__, "config": dict(config),
                                "facts": known})


__all__ = ["KEEP", "LIBRARIES", "RECORD_DIR", "full_check", "library_fingerprint", "named_files", "plain_json",
           "read_record", "record_key", "source_fingerprint", "write_record"]
