"""Parquet files with provenance in the schema metadata, written atomically (temp file + ``os.replace``)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
