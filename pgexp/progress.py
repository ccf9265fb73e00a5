"""Progress bars for long work: shown on a terminal, silent in logs and pipes, off with ``pgexp --quiet``.

One helper so every long loop behaves alike: :func:`bar` is a :class:`tqdm.tqdm` with ``disable=None``
(tqdm's own rule: draw only when stderr is a terminal -- Snakemake's ``> log 2>&1`` stays clean), unless
the command ran with ``--quiet`` (:func:`set_quiet`, set once by the dispatcher).  A long loop either
wraps its iterable in :func:`track`, or -- when one bar should cover several loops (every replicate of
every cell of an estimate job) -- takes a ``tick`` callback from the caller that owns the bar.

    with bar(total=cells * replicates, desc="reinforce~none", unit="replicate") as b:
        for ...:
            b.update(1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Turn every bar off (``True``) or back to tqdm's terminal detection (``False``)."""
    global _QUIET
    _QUIET = bool(quiet)


def is_quiet() -> bool:
    return _QUIET


def bar(
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    enabled: bool | None = None,
    leave: bool = False,
    **kw: Any,
) -> tqdm:
    """A progress bar over ``total`` units (use as a context manager; ``.update(n)`` per unit done).

    ``enabled=None``: drawn on a terminal only (tqdm's ``disable=None``); ``False``: never.  ``--quiet``
    overrides both.  ``leave=False``: the bar disappears when done, so a terminal shows results, not bars.
    """
    disable = True if (_QUIET or enabled is False) else None
    return tqdm(total=total, desc=desc, unit=unit, leave=leave, disable=disable, dynamic_ncols=True, **kw)


def track(iterable: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """``iterable`` with a bar that advances once per item."""
    with bar(total=total if total is not None else _len(iterable), desc=desc, unit=unit) as b:
        for item in iterable:
            yield item
            b.update(1)


def ticker(b: tqdm | None) -> Callable[[int], None]:
    """``b.update`` or, without a bar, a no-op: for loops that may run with or without one."""
    return b.update if b is not None else _noop


def _noop(n: int = 1) -> None:
    return None


def _len(iterable: Iterable[Any]) -> int | None:
    try:
        return len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return None


__all__ = ["bar", "is_quiet", "set_quiet", "ticker", "track"]
