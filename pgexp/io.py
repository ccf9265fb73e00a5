"""The one place files are written: parquet with provenance in the schema metadata, JSON, text, ``.npy``
and figures (PDF + PNG), all atomically (temp file + ``os.replace``), so a reader never sees a
half-written file.  Every file gets the permissions the umask gives a newly created file
(``0o666 & ~umask``; ``mkstemp`` alone makes 0600), tables and figures alike: :func:`atomic_path` is the
one place that decides them.

Commands check their output paths up front (:func:`check_output`) and read tables through
:func:`read_frame` with the kind they expect (:mod:`pgexp.tables`), so a mistake is one line naming
the file, before any work and with nothing written.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pgexp.errors import UserError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

META_KEY = b"pgexp"
FIGURE_DPI = 200  # the PNG beside every PDF figure, per inch of its printed size
PRINT_WIDTH = 7.0  # inches: a page's text width; a wider figure is shrunk to it in print (its fonts are scaled up)


def file_mode() -> int:
    """The mode a newly created file gets under the current umask: ``0o666 & ~umask``."""
    mask = os.umask(0)  # the only portable way to read the umask is to set it (and put it back at once)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on success it gets :func:`file_mode` and replaces
    ``path`` (``os.replace``: atomic on POSIX), on error it is removed and ``path`` is untouched.

    The temp file is in the same directory (same file system, so the rename is atomic) and hidden
    (``.NAME.*``); ``mkstemp`` creates it ``0600``, hence the explicit ``chmod``.
    """
    path = Path(path)
    try:  # an OSError here (no space, no permission) is the user's to fix: one line naming the file
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_output(path: str | Path | None, option: str = "--output") -> None:
    """Refuse an output path that cannot be written (before any work): a missing or unwritable directory,
    or a path that is a directory.  ``None`` and ``-`` (stdout) pass.  The commands call it for every
    output; library writers (:func:`atomic_path`) create missing directories."""
    if path is None or str(path) == "-":
        return
    p = Path(path)
    if str(path).endswith(os.sep) or p.is_dir():
        raise UserError(f"{option} {path}: is a directory; give a file path")
    parent = p.parent
    if not parent.exists():
        raise UserError(f"{option} {path}: directory {str(parent)!r} does not exist; create it first")
    if not parent.is_dir():
        raise UserError(f"{option} {path}: {str(parent)!r} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):  # the temp file is created there, then renamed
        raise UserError(f"{option} {path}: directory {str(parent)!r} is not writable")


def check_output_dir(path: str | Path, option: str = "--outdir") -> None:
    """Refuse an output directory that does not exist or cannot be written."""
    p = Path(path)
    if not p.is_dir():
        raise UserError(f"{option} {path}: {'not a directory' if p.exists() else 'no such directory'}; create it first")
    if not os.access(p, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: directory is not writable")


def write_table(table: pa.Table, path: str | Path, meta: dict[str, Any]) -> None:
    """Write ``table`` to ``path`` with ``meta`` (JSON) under the ``pgexp`` schema-metadata key."""
    existing = table.schema.metadata or {}
    meta_json = json.dumps(meta, sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata({**existing, META_KEY: meta_json})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_frame(df: pd.DataFrame, path: str | Path, meta: dict[str, Any]) -> None:
    """A DataFrame to parquet (no index) with provenance."""
    write_table(pa.Table.from_pandas(df, preserve_index=False), path, meta)


def read_meta(path: str | Path) -> dict[str, Any]:
    """The ``pgexp`` provenance of a parquet file (``{}`` if absent)."""
    md = pq.read_schema(path).metadata or {}
    return json.loads(md[META_KEY]) if META_KEY in md else {}


def read_frame(path: str | Path, kind: str | None = None) -> pd.DataFrame:
    """A parquet table as a DataFrame; with ``kind`` (a :data:`pgexp.tables.KINDS` name) checked to be
    one (:func:`pgexp.tables.check_frame`).  A missing, unreadable or non-parquet file is a
    :class:`UserError` naming it and what was expected."""
    from pgexp.tables import KINDS, check_frame

    what = KINDS[kind].what if kind else "a parquet table"
    p = Path(path)
    if not p.exists():
        raise UserError(f"{path}: no such file; expected {what}")
    if p.is_dir():
        raise UserError(f"{path}: is a directory; expected {what}")
    try:
        df = pq.ParquetFile(p).read().to_pandas()  # one file: read_table's dataset layer only adds ~0.4 s of imports
    except pa.ArrowInvalid:
        raise UserError(f"{path}: not a parquet file; expected {what}") from None
    except (pa.ArrowException, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise UserError(f"{path}: cannot be read ({reason}); expected {what}") from None
    return check_frame(df, kind, str(path)) if kind else df


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
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def dump(obj: dict[str, Any], output: str | Path | None, *, indent: int | None = None) -> None:
    """Print ``obj`` as one JSON object, or write it atomically to ``output``."""
    text = json.dumps(to_jsonable(obj), indent=indent, allow_nan=False)
    if output is None or str(output) == "-":
        print(text)
    else:
        atomic_write_text(output, text + "\n")


def write_frame_csv(df: pd.DataFrame, path: str | Path, meta: dict[str, Any]) -> None:
    """Parquet (with provenance) and CSV beside it (same stem), both atomic."""
    write_frame(df, path, meta)
    atomic_write_text(Path(path).with_suffix(".csv"), df.to_csv(index=False))


def save_npy(path: str | Path, array: np.ndarray) -> None:
    """``np.save`` atomically."""
    with atomic_path(path, suffix=".tmp.npy") as tmp:  # np.save appends .npy to a name without it
        np.save(tmp, array)


def figure_paths(output: str | Path) -> tuple[Path, Path]:
    """``(X.pdf, X.png)`` for an output path ``X.pdf`` (any suffix is replaced)."""
    output = Path(output)
    return output.with_suffix(".pdf"), output.with_suffix(".png")


def png_dpi(fig: Figure) -> float:
    """The PNG's dots per inch: :data:`FIGURE_DPI` of the printed size, so a figure drawn wider than
    :data:`PRINT_WIDTH` (fonts scaled up to match) is as many pixels wide as one drawn at that width."""
    return FIGURE_DPI * min(1.0, PRINT_WIDTH / float(fig.get_figwidth()))


def save_figure(fig: Figure, output: str | Path) -> tuple[Path, Path]:
    """Write ``fig`` as ``X.pdf`` (vector, fonts embedded as TrueType so text stays text) and ``X.png``
    (:func:`png_dpi`: 1400 px wide at most), each atomically; returns the two paths.  No timestamps are
    embedded, so the same figure gives the same bytes.

    The layout engine (constrained layout) runs once, while the PNG is drawn; the PDF is drawn with that
    layout frozen (another layout pass costs as much as drawing the figure once more).
    """
    import matplotlib

    pdf, png = figure_paths(output)
    with matplotlib.rc_context({"pdf.fonttype": 42}):
        for path, fmt, kw in ((png, "png", {"dpi": png_dpi(fig), "metadata": {"Software": None}}),
                              (pdf, "pdf", {"metadata": {"CreationDate": None}})):
            with atomic_path(path, suffix=f".tmp.{fmt}") as tmp:
                fig.savefig(tmp, format=fmt, facecolor="white", **kw)
            if fig.get_layout_engine() is not None:
                fig.set_layout_engine("none")
    return pdf, png
