"""A numeric hyperparameter of an estimator (:class:`Hyperparameter`): its option, config key and bounds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pgexp.errors import UserError


@dataclass(frozen=True)
class Hyperparameter:
    """A numeric hyperparameter of an estimator (``--NAME`` on the CLI, ``NAME:`` in a study config).

    Attributes:
        name: identifier; the option is ``--name`` (underscores as dashes), the table column ``name``.
        default: the value used when none is given -- written here and nowhere else.
        doc: one line.
        low, high: the allowed closed interval.
        check_values: further values ``pgexp check-estimator`` tests besides the default (e.g. ``lam = 1``,
            where GAE is unbiased with any baseline).
        integer: only whole numbers in ``[low, high]`` (a switch such as ``dynamic_sampling``: 0 or 1).
    """

    name: str
    default: float
    doc: str
    low: float = -math.inf
    high: float = math.inf
    check_values: tuple[float, ...] = ()
    integer: bool = False

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    def validate(self, value: Any, where: str | None = None) -> float:
        """``value`` as a float within ``[low, high]``, else a one-line :class:`UserError` naming ``where``."""
        where = where or self.option
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.low <= float(value) <= self.high \
                or (self.integer and not float(value).is_integer()):
            kind = "an integer" if self.integer else "a number"
            raise UserError(f"{where}: {value!r}; allowed: {kind} in [{self.low:g}, {self.high:g}] ({self.doc})")
        return float(value)

