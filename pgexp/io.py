"""The one place files are written: parquet with provenance in the schema metadata, JSON, text, ``.npy``
and figures (PDF + PNG), all atomically (temp file + ``os.replace``), so a reader never sees a
half-written file.  Every file gets the permissions the umask gives a newly created file
(``0o666 & ~umask``; ``mkstemp`` alone makes 0600), tables and figures alike: :func:`atomic_path` is the
one place that decides them.

Nothing is destroyed: a write replaces only a regular, writable file -- never a device, FIFO or socket
(the rename would replace the node itself), never a read-only file, never one of the command's inputs --
and writes through a symlink to its target.  Commands check their output paths up front
(:func:`check_output`: those rules, the directory by creating a temp file there, free space, a suffix of
the right format, and no output that is an input by any name) and read tables through :func:`read_frame`
with the kind they expect (:mod:`pgexp.tables`, which checks content too), so a mistake is one line
naming the file, before any work and with nothing written; :func:`atomic_path` checks the target again
when it writes.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
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


MIN_FREE_BYTES = 1 << 20  # an output needs at least this much free space, whatever its size estimate
# suffixes of the formats pgexp writes, and of others a user might mistype: an output named for another format
# is refused (a parquet file written under ``o.csv``)
FORMATS = {"parquet": (".parquet",), "csv": (".csv",), "json": (".json",), "html": (".html", ".htm"),
           "pdf": (".pdf",), "png": (".png",), "npy": (".npy",),
           "figure": (".pdf", ".png")}  # a figure: PDF + PNG beside it
OTHER_SUFFIXES = (".yaml", ".yml", ".npz", ".txt", ".tsv", ".xlsx", ".svg", ".pkl", ".py", ".md")


@dataclass
class Command:
    """What the running command was given (``argv``) and the files it has read (by device and inode)."""

    argv: tuple[str, ...]
    read: set[tuple[int, int]] = field(default_factory=set)


# The running command (set by :func:`begin_command`, i.e. by ``pgexp.cli.main``): its arguments, whose files
# are its inputs, and the files it has read.  ``None`` outside a command (library use): then only the rules
# that need no command apply (regular files only, writable, space).
CURRENT: Command | None = None


def begin_command(argv: Sequence[str]) -> None:
    """Start a command: its arguments name its inputs (an output may not be one of them)."""
    global CURRENT
    CURRENT = Command(tuple(str(a) for a in argv))


def end_command() -> None:
    global CURRENT
    CURRENT = None


def identity(path: str | Path) -> tuple[int, int] | None:
    """``(device, inode)`` of an existing file (symlinks followed), else ``None``: the same file by any name."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def note_read(path: str | Path) -> None:
    """Record that the running command read ``path``: it may not replace it (:func:`atomic_path`)."""
    ident = identity(path)
    if CURRENT is not None and ident is not None:
        CURRENT.read.add(ident)


def mentioned_files(argv: Sequence[str], option: str) -> dict[tuple[int, int], str]:
    """The existing regular files the arguments name, except as the value of ``option`` (the output itself):
    whole arguments, the value of ``--opt=VALUE`` and ``KEY=PATH``, a ``file:PATH`` problem, comma-separated
    entries.  An abbreviated option (argparse accepts ``--out`` for ``--output``) counts as ``option``."""

    def is_option(tok: str) -> bool:
        return len(tok) > 2 and tok.startswith("--") and option.startswith(tok)

    found: dict[tuple[int, int], str] = {}
    for i, tok in enumerate(argv):
        if (i and is_option(argv[i - 1])) or (tok.startswith("--") and is_option(tok.partition("=")[0])):
            continue
        candidates = {tok, tok.partition("=")[2]}
        candidates |= {c.split(":", 1)[1] for c in list(candidates) if c.startswith("file:")}
        candidates |= {part for c in list(candidates) for part in c.split(",")}
        for text in candidates - {""}:
            ident = identity(text)
            if ident is not None:
                found.setdefault(ident, text)
    return found


def describe(mode: int) -> str:
    """What kind of file a mode is (for 'not a regular file' messages)."""
    kinds = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))
    return next((text for test, text in kinds if test(mode)), "not a regular file")


def read_only(path: str | Path) -> bool:
    """Whether ``path`` may not be written: ``os.access`` says so (an immutable file refuses even root), or no
    write bit is set at all (a write-protected file: root would bypass the bits, pgexp does not)."""
    return not os.access(path, os.W_OK) or not os.stat(path).st_mode & 0o222


def free_bytes(directory: str | Path) -> float:
    """Bytes free for an unprivileged writer on the file system of ``directory`` (``inf`` if unknown)."""
    try:
        st = os.statvfs(directory)
    except (OSError, AttributeError):
        return float("inf")
    return float(st.f_bavail * st.f_frsize)


def write_target(path: Path) -> Path:
    """Where a write to ``path`` lands: through a symlink to its target (the link stays a link)."""
    return path.resolve() if path.is_symlink() else path


def refuse_target(path: Path, what: str) -> None:
    """The rules every write obeys (checked up front by :func:`check_output`, again by :func:`atomic_path`):
    an existing target is a regular, writable file and not one the running command has read."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UserError(f"{what}: cannot be written ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{what}: is {describe(st.st_mode)}, not a regular file; pgexp writes only regular files")
    if read_only(path):
        raise UserError(f"{what}: exists and is read-only; make it writable or give another path")
    if CURRENT is not None and (st.st_dev, st.st_ino) in CURRENT.read:
        raise UserError(f"{what}: is one of this command's inputs; give another path")


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on success it gets :func:`file_mode` and replaces
    ``path`` (``os.replace``: atomic on POSIX), on error it is removed and ``path`` is untouched.

    The temp file is in the same directory (same file system, so the rename is atomic) and hidden
    (``.NAME.*``); ``mkstemp`` creates it ``0600``, hence the explicit ``chmod``.  A symlink is written
    through (its target is replaced, the link stays), and only a regular file is ever replaced: never a
    device, FIFO or socket, never a read-only file, never a file the running command has read
    (:func:`refuse_target`).
    """
    path = write_target(Path(path))
    refuse_target(path, str(path))
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
        refuse_target(path, str(path))  # the work took a while: the target may have become something else
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_output(path: str | Path | None, option: str = "--output", *, size: float = 0.0,
                 fmt: str | None = None) -> None:
    """Refuse, before any work, an output path that cannot or must not be written, in one line naming
    ``option``: a directory, device, FIFO or socket (:func:`refuse_target`), a read-only file, one of the
    command's inputs (by any name: a symlink or hard link to an input is the input), a missing or
    unwritable directory (a temp file is created and removed there: the way the write will go, so a
    read-only or virtual file system is found now), less free space than ``size`` bytes (a rough estimate
    of the output; at least :data:`MIN_FREE_BYTES`), or a name whose suffix says another format than
    ``fmt`` (a parquet table written as ``o.csv``).  ``None`` and ``-`` (stdout) pass.
    """
    if path is None or str(path) == "-":
        return
    text, p = str(path), Path(path)
    if text.endswith(os.sep) or p.is_dir():
        raise UserError(f"{option} {text}: is a directory; give a file path")
    check_suffix(p, option, fmt)
    target = write_target(p)
    refuse_target(target, f"{option} {text}")
    if CURRENT is not None:
        ident = identity(target)
        same = mentioned_files(CURRENT.argv, option).get(ident) if ident is not None else None
        if same is not None:
            raise UserError(f"{option} {text}: is also an input of this command ({same}); give another path")
    parent = target.parent
    if not parent.exists():
        raise UserError(f"{option} {text}: directory {str(parent)!r} does not exist; create it first")
    if not parent.is_dir():
        raise UserError(f"{option} {text}: {str(parent)!r} is not a directory")
    if read_only(parent):  # the temp file is created there, then renamed
        raise UserError(f"{option} {text}: directory {str(parent)!r} is not writable")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{option} {text}: cannot write in {str(parent)!r} ({exc.strerror or exc})") from None
    need, free = max(float(size), MIN_FREE_BYTES), free_bytes(parent)
    if need > free:
        from pgexp.memory import format_bytes

        raise UserError(f"{option} {text}: needs about {format_bytes(need)}, {format_bytes(free)} free on its "
                        "file system; free some space or write elsewhere")


def check_suffix(path: Path, option: str, fmt: str | None) -> None:
    """Refuse an output whose suffix names a format other than ``fmt`` (an unknown suffix or none passes)."""
    if fmt is None:
        return
    suffix = path.suffix.lower()
    ours = FORMATS[fmt]
    others = ({s for f, sfx in FORMATS.items() if f != fmt for s in sfx} - set(ours)) | set(OTHER_SUFFIXES)
    if suffix in others:
        label = "a figure (PDF and PNG)" if fmt == "figure" else fmt
        raise UserError(f"{option} {path}: this command writes {label}; give a path ending in {' or '.join(ours)}")


def check_output_dir(path: str | Path, option: str = "--outdir") -> None:
    """Refuse an output directory that does not exist or cannot be written."""
    p = Path(path)
    if not p.is_dir():
        raise UserError(f"{option} {path}: {'not a directory' if p.exists() else 'no such directory'}; create it first")
    if read_only(p):
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
    note_read(path)
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
        note_read(p)
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
