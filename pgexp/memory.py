"""Refuse work whose arrays would not fit in memory -- before allocating them, with the size they need.

A typo such as ``garnet:states=1000000000`` or ``--horizon 1000000000`` would otherwise allocate until
the machine swaps or the job is killed; :func:`require_memory` turns it into one line naming the
option and the size.  The limit is the memory available now (``MemAvailable`` of ``/proc/meminfo``,
else the physical memory).
"""

from __future__ import annotations

import os

from pgexp.errors import UserError


def available_bytes() -> float:
    """Memory available to a new allocation, in bytes (``inf`` when the platform does not say)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def format_bytes(n: float) -> str:
    """``1.5e9`` -> ``'1.4 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # unreachable


def require_memory(nbytes: float, what: str) -> None:
    """Raise a :class:`UserError` naming ``what`` when ``nbytes`` exceed the memory available."""
    avail = available_bytes()
    if nbytes > avail:
        raise UserError(
            f"{what}: needs about {format_bytes(nbytes)} of memory, {format_bytes(avail)} available; "
            "choose a smaller size"
        )


__all__ = ["available_bytes", "format_bytes", "require_memory"]
