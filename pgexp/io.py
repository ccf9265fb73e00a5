"""The one place files are written: parquet with provenance in the schema metadata, JSON and text,
all atomically (temp file + ``os.replace``), so a reader never sees a half-written file."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    import pandas as pd

META_KEY = b"pgexp"


def write_table(table: pa.Table, path: str | Path, meta: dict[str, Any]) -> None:
    """Write ``table`` to ``path`` with ``meta`` (JSON) under the ``pgexp`` schema-metadata key."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = table.schema.metadata or {}
    table = table.replace_schema_metadata({**existing, META_KEY: json.dumps(meta, sort_keys=True, default=str).encode()})
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_frame(df: "pd.DataFrame", path: str | Path, meta: dict[str, Any]) -> None:
    """A DataFrame to parquet (no index) with provenance."""
    write_table(pa.Table.from_pandas(df, preserve_index=False), path, meta)


def read_meta(path: str | Path) -> dict[str, Any]:
    """The ``pgexp`` provenance of a parquet file (``{}`` if absent)."""
    md = pq.read_schema(path).metadata or {}
    return json.loads(md[META_KEY]) if META_KEY in md else {}


def read_frame(path: str | Path) -> "pd.DataFrame":
    return pq.read_table(path).to_pandas()

def to_jsonable(value: Any) -> Any:
    """Recursively convert numpy arrays/scalars to lists/floats; non-finite floats become ``None``."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file and ``os.replace``: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dump(obj: dict[str, Any], output: str | Path | None, *, indent: int | None = None) -> None:
    """Print ``obj`` as one JSON object, or write it atomically to ``output``."""
    text = json.dumps(to_jsonable(obj), indent=indent, allow_nan=False)
    if output is None or str(output) == "-":
        print(text)
    else:
        atomic_write_text(output, text + "\n")


def write_frame_csv(df: "pd.DataFrame", path: str | Path, meta: dict[str, Any]) -> None:
    """Parquet (with provenance) and CSV beside it (same stem), both atomic."""
    write_frame(df, path, meta)
    atomic_write_text(Path(path).with_suffix(".csv"), df.to_csv(index=False))


def save_npy(path: str | Path, array: np.ndarray) -> None:
    """``np.save`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npy")
    os.close(fd)
    try:
        np.save(tmp, array)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file and ``os.replace`` (binary :func:`atomic_write_text`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
