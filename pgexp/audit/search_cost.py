"""What a sign-flip search (:mod:`pgexp.audit.signflip`) would cost, refused before any numerics.

The config check runs on every ``snakemake -n``; this module imports nothing heavier than
:mod:`pgexp.memory`, so reading a checked config stays free of numpy.
"""

from __future__ import annotations


def check_search_cost(samples: int, cells: int, horizon: int, confirm_replicates: int, confirm_batch_size: int) -> None:
    """Refuse a search whose memory or work is hopeless, naming the options (:mod:`pgexp.memory`): it solves
    ``samples`` small problems exactly per cell over ``horizon`` steps (a few states: about 0.1 ms a step); the
    confirmation draws ``confirm_replicates`` batches of ``confirm_batch_size``."""
    from pgexp.memory import EXACT_STEP_SECONDS, TRAJECTORIES_PER_SECOND, require_memory, require_work, resample_cost

    require_memory(8.0 * 64 * cells * samples, f"--samples {samples} x {cells} cell(s)")
    require_work(cells * samples * horizon * EXACT_STEP_SECONDS,
                 f"--samples {samples} x {cells} cell(s) x --horizon {horizon}")
    what = f"--confirm-replicates {confirm_replicates} x --confirm-batch-size {confirm_batch_size}"
    require_memory(8.0 * 64 * confirm_replicates, what)
    require_work(confirm_replicates * confirm_batch_size * 2 / TRAJECTORIES_PER_SECOND, what)
    resample_cost(2000, [confirm_replicates], what)
