"""Refuse work that would not fit in memory or would run for hours -- before allocating or starting it.

A typo such as ``garnet:states=1000000000``, ``--horizon 1000000000`` or ``--replicates 99999999999``
would otherwise allocate until the machine swaps or the job is killed, or run silently for days; the
commands estimate what they will need from their arguments and :func:`require_memory` and
:func:`require_work` turn a hopeless request into one line naming the option and the estimate.

* Memory: the limit is the memory available now (``MemAvailable`` of ``/proc/meminfo``, else the physical
  memory); estimates count the largest arrays a command holds at once (``8`` bytes per float64).
* Work: the limit is :data:`WORK_LIMIT_SECONDS` (one hour) of estimated compute, from nominal rates
  measured on a 2-core machine and rounded in the user's favour (:data:`TABULAR_STEPS_PER_SECOND`, ...), so
  only requests that are surely far too long are refused.  ``PGEXP_NO_LIMITS=1`` (:data:`NO_LIMITS_VAR`)
  lifts the work limit for a user who means it; memory is always checked (a job past it would only die).
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


NO_LIMITS_VAR = "PGEXP_NO_LIMITS"
WORK_LIMIT_SECONDS = 3600.0
# Nominal rates (README, "Benchmarks"): the compiled sampler makes 2-3e7 steps/s on one thread, and a trajectory
# costs its start and bookkeeping however short; the compiled trainer about 4 us per iteration; the exact
# recursions one numpy pass per horizon step, about 0.1 ms on a small problem; a Gymnasium continuous-state task
# some 1e5 steps/s through its vector environment.  Each is rounded in the user's favour.
TABULAR_STEPS_PER_SECOND = 3e7
TRAJECTORIES_PER_SECOND = 3e6  # however short: a trajectory's start, seeds and accumulation
CONTINUOUS_STEPS_PER_SECOND = 2e5
TRAIN_ITERATION_SECONDS = 4e-6
EXACT_STEP_SECONDS = 1e-4


def limits_lifted() -> bool:
    """Whether the user lifted the work limit (``PGEXP_NO_LIMITS=1``)."""
    return os.environ.get(NO_LIMITS_VAR, "").strip() not in ("", "0")


def format_duration(seconds: float) -> str:
    """``5400`` -> ``'1.5 h'``; seconds, minutes, hours, days or years."""
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def require_work(seconds: float, what: str) -> None:
    """Raise a :class:`UserError` naming ``what`` when the estimated ``seconds`` exceed the work limit."""
    if seconds > WORK_LIMIT_SECONDS and not limits_lifted():
        raise UserError(
            f"{what}: about {format_duration(seconds)} of computing (estimated), more than the "
            f"{format_duration(WORK_LIMIT_SECONDS)} limit; choose a smaller size (or set {NO_LIMITS_VAR}=1 to run it "
            "anyway)"
        )


RESAMPLE_CELL_SECONDS = 1e-6  # a bootstrap resample of one cell (measured: about 2 us, more with many replicates)
RESAMPLE_ROW_SECONDS = 1e-8


def resample_cost(resamples: int, cell_sizes: list[int], what: str = "") -> None:
    """Refuse a bootstrap whose memory or work is hopeless: a cell of ``n`` replicates (seeds) holds about three
    ``(resamples, n)`` tables at once; each resample of each cell costs a few microseconds."""
    if not cell_sizes:
        return
    what = what or f"--resamples {resamples} x {len(cell_sizes)} cell(s) of up to {max(cell_sizes)} replicates"
    require_memory(3 * 8.0 * resamples * max(cell_sizes), what)
    require_work(resamples * (len(cell_sizes) * RESAMPLE_CELL_SECONDS + sum(cell_sizes) * RESAMPLE_ROW_SECONDS), what)


def train_cost(iterations: int, runs: int, batch_size: int, per_trajectory: float, what: str = "") -> None:
    """Refuse a training grid whose memory or work is hopeless: every run keeps about six float64 series over
    ``iterations`` (``J``, steps, norms, ...) whatever is kept in the table; an iteration costs at least the
    compiled engine's few microseconds, or its batch at ``per_trajectory`` seconds a trajectory (``0``: the
    tabular sampler's rate, one step each at least -- episodes may end early)."""
    what = what or f"--iterations {iterations} x {runs} run(s) (--step-size x --seed) x --batch-size {batch_size}"
    require_memory(6 * 8.0 * runs * (iterations + 1), what)
    per_traj = per_trajectory or 1.0 / TRAJECTORIES_PER_SECOND
    require_work(runs * iterations * max(TRAIN_ITERATION_SECONDS, batch_size * per_traj), what)


def exact_horizon_cost(horizon: int, states: int, actions: int, dim: int, recursions: int = 1) -> tuple[float, float]:
    """``(bytes, seconds)`` of exact recursions over a finite horizon: each keeps per-step ``(S, A, d)`` moment
    arrays (about four) and runs one numpy pass per step (:data:`EXACT_STEP_SECONDS`, more on large problems)."""
    per_step = float(states) * actions * (dim + 2)
    nbytes = 8.0 * 4 * (horizon + 1) * per_step
    seconds = recursions * horizon * max(EXACT_STEP_SECONDS, per_step * 4e-9)
    return nbytes, seconds


def require_exact_horizon(horizon: int | None, states: int, actions: int, dim: int, what: str,
                          recursions: int = 1) -> None:
    """Memory and work of ``recursions`` exact recursions over ``horizon`` steps (``None``: infinite, solved, not
    iterated -- nothing to check)."""
    if horizon is None:
        return
    nbytes, seconds = exact_horizon_cost(int(horizon), states, actions, dim, recursions)
    require_memory(nbytes, what)
    require_work(seconds, what)


def reuse_freed_memory(threshold: int = 32 << 20) -> bool:
    """Serve allocations of up to ``threshold`` bytes from the heap and keep what is freed there for the next one
    (glibc's ``mallopt``; elsewhere nothing happens).  Returns whether it took effect.

    Why: glibc maps every allocation above 128 KiB-32 MiB from the system afresh and hands it back on
    ``free``, so a loop that allocates a few-MiB temporary per step (the bootstrap's ``(B, M)`` counts and
    index draws, once per cell) takes a page fault on every page of every temporary.  Measured on the
    default study's metrics: the counts took 2x as long to fill, 8-17 % of the job's CPU time.  Suitable
    for the analysis commands (a few hundred MiB at most), not for long jobs that must give memory back.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(mallopt(m_mmap_threshold, int(threshold))) and bool(mallopt(m_trim_threshold, 2 * int(threshold)))


__all__ = ["NO_LIMITS_VAR", "WORK_LIMIT_SECONDS", "available_bytes", "exact_horizon_cost", "format_bytes",
           "format_duration", "limits_lifted", "require_exact_horizon", "require_memory", "require_work",
           "resample_cost", "reuse_freed_memory", "train_cost"]
