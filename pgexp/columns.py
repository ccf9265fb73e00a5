"""Arrow columns from numpy arrays, built from their buffers.

``pyarrow.array`` imports pandas on its first call (to ask whether its argument is a pandas object): half a
second of start-up for every job that writes a table and never uses pandas (an estimate job, a training job).
``pyarrow.Array.from_buffers`` takes the numpy buffers as they are and imports nothing, so the producers of
tables build their columns here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

TYPES = {np.dtype(np.int64): pa.int64(), np.dtype(np.int32): pa.int32(), np.dtype(np.float64): pa.float64()}


def validity(mask: np.ndarray | None) -> pa.Buffer | None:
    """Arrow's validity bitmap (bit ``i`` set: row ``i`` present) of ``mask`` (``True``: null), or ``None``."""
    if mask is None or not np.any(mask):
        return None
    return pa.py_buffer(np.packbits(~np.asarray(mask, dtype=bool), bitorder="little"))


def array(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """A 1-d int64, int32, float64 or bool array as an Arrow array; ``mask`` (``True``: null) optional."""
    values = np.ascontiguousarray(values)
    n = values.shape[0]
    nulls = int(np.count_nonzero(mask)) if mask is not None else 0
    if values.dtype == np.bool_:
        data = pa.py_buffer(np.packbits(values, bitorder="little"))
        return pa.Array.from_buffers(pa.bool_(), n, [validity(mask), data], null_count=nulls)
    return pa.Array.from_buffers(TYPES[values.dtype], n, [validity(mask), pa.py_buffer(values)], null_count=nulls)


def full(value: int | float | bool | str | None, n: int, kind: str | None = None) -> pa.Array:
    """``n`` copies of one value: a string column for a ``str``, else numeric (``kind``: ``int``, ``float``,
    ``bool``, default from the value); ``None`` is a null of ``kind``."""
    if isinstance(value, str):
        return strings([value] * n)
    kind = kind or ("bool" if isinstance(value, (bool, np.bool_)) else
                    "int" if isinstance(value, (int, np.integer)) else "float")
    dtype = {"int": np.int64, "float": np.float64, "bool": np.bool_}[kind]
    if value is None:
        return array(np.zeros(n, dtype=dtype), np.ones(n, dtype=bool))
    return array(np.full(n, value, dtype=dtype))


def strings(values: Sequence[str | None]) -> pa.Array:
    """A string column (``None``: null)."""
    encoded = [b"" if v is None else str(v).encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    mask = np.array([v is None for v in values], dtype=bool)
    return pa.Array.from_buffers(pa.string(), len(encoded), [validity(mask), pa.py_buffer(offsets),
                                                             pa.py_buffer(b"".join(encoded))],
                                 null_count=int(mask.sum()))


def lists(rows: np.ndarray) -> pa.Array:
    """A ``(n, d)`` float64 array as a list<double> column of ``n`` rows of length ``d``."""
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    n, d = rows.shape
    offsets = array(np.arange(0, n * d + 1, max(d, 1), dtype=np.int32)[:n + 1] if d else np.zeros(n + 1, np.int32))
    return pa.ListArray.from_arrays(offsets, array(rows.ravel()))
