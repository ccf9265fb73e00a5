"""The vocabulary of the estimator and baseline specs: the allowed values of their fields, and how a function
named ``"module:function"`` is resolved (on first use, like Gymnasium's ``entry_point``).

Metadata only (no numpy): the workflow reads the registry at every ``snakemake`` call.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

from pgexp.errors import UserError

OBJECTIVES = ("finite", "discounted", "episodic")
# exact gradient / Monte-Carlo reference gradient / linear-quadratic (continuous actions, exact gradient)
TRACKS = ("tabular", "continuous", "lqr")
SAMPLING = ("trajectories", "rollin_rollout")  # the job's common trajectories / the lecture's roll-in, roll-out
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# the step-weight rules and baseline kinds the fused kernels know (pgexp.estimators.fused; a test checks the match)
KERNEL_RULES = ("reinforce", "reward_to_go", "reward_to_go_common", "gae", "gae_common", "advantage")
BASELINE_KERNELS = ("zero", "table", "leave_one_out")


def resolve(target: str | Callable, what: str) -> Callable:
    """A callable from ``"module:function"`` (imported now) or the callable itself."""
    if callable(target):
        return target
    module, sep, name = str(target).partition(":")
    if not sep:
        raise UserError(f"{what}: {target!r}; expected 'module:function' or a callable")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"{what}: cannot load {target!r} ({exc})") from None

