"""The baseline spec (:class:`Baseline`), its registry :data:`BASELINES`, and the one parser of a baseline as the
user writes it (``NAME`` or ``NAME:key=value``, :func:`parse_baseline`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pgexp.errors import UserError
from pgexp.estimators.vocabulary import TRACKS, resolve
from pgexp.specs import parse_spec


@dataclass(frozen=True)
class Baseline:
    """A registered baseline: what is subtracted from the return, and what it costs.

    Attributes:
        name: registry key (``--baseline NAME``, or ``NAME:key=value`` when it takes ``options``).
        label: display name (figures, report).
        doc: one line.
        values: ``"module:function"`` or callable ``(ctx, batch, aux, seq, options) -> (b, b_next)``, both
            ``(N, L)``: ``b_h(s_h)`` and ``b_{h+1}(s_{h+1})`` (the runner zeroes the latter after an
            episode's end); ``aux`` is the independent fitting batch when ``fitted``.  ``None``: ``b = 0``.
        fitted: fitted on an independent batch of ``--fit-batch-size`` trajectories (charged to ``env_steps``).
        per_coordinate: the Greensmith-Bartlett-Baxter per-coordinate constant (``optimal``): no ``values``;
            the runner fits ``b_k`` from the estimator's weights at ``b = 0`` and ``b = 1``.
        options: required ``key`` names of a parameterised baseline (``fixed:c=VALUE``).
        tracks: where it is defined (``value_exact`` needs the exact values: tabular only).
        min_batch_size: smallest batch it makes sense with (the leave-one-out ``constant`` needs 2).
        label, color, order: how figures show it (``color`` where figures colour by baseline).
        marker: its matplotlib marker, in every figure.
        shade: where figures colour by estimator, the estimator's hue mixed with black (< 0) or white (> 0)
            by this fraction, so the pairs of one estimator stay apart.
        vectorized: ``values`` takes a stack of replicates (``batch.blocks > 1``; ``aux`` stacked the same way) and
            gives each trajectory its own replicate's values; otherwise the runner calls it once per replicate.
        kernel: how the fused kernels (:mod:`pgexp.estimators.fused`) compute it, one of :data:`BASELINE_KERNELS`:
            ``zero``, ``table`` (``table`` gives ``b_h(s)``), ``leave_one_out`` (the other trajectories' mean
            ``G_0``); ``None``: the general route only.
        table: for ``kernel = "table"``, ``"module:function"`` or callable ``(ctx, aux, streams, options) -> (B, H',
            S)``: ``b_h(s) = T[k, min(h, H' - 1), s]`` for replicate ``k`` (``B = 1``: every replicate; ``H' = 1``:
            stationary) -- the same values as ``values``.
        action_dependent: ``b`` reads the action too: ``values`` returns its ``b`` as
            :class:`~pgexp.estimators.correction.ActionValues` (the value at the sampled action, the critic's state
            value and the analytic correction), and only estimators that add the correction accept it.
        oracle: it reads exact quantities (``V``, ``Q``, ``A`` or the optimal ``b*``) that no sampler has:
            a reference point, ranked apart from what can be implemented (:func:`is_oracle`).
    """

    name: str
    doc: str
    values: str | Callable | None = None
    fitted: bool = False
    per_coordinate: bool = False
    options: tuple[str, ...] = ()
    tracks: tuple[str, ...] = TRACKS
    min_batch_size: int = 1
    label: str = ""
    color: str | None = None
    order: int = 0
    marker: str = "P"
    shade: float = 0.2
    vectorized: bool = False
    kernel: str | None = None
    table: str | Callable | None = None
    action_dependent: bool = False
    oracle: bool = False

    @property
    def table_fn(self) -> Callable | None:
        return None if self.table is None else resolve(self.table, f"baseline {self.name} table")

    @property
    def values_fn(self) -> Callable | None:
        return None if self.values is None else resolve(self.values, f"baseline {self.name} values")


@dataclass(frozen=True)
class BaselineChoice:
    """A baseline with its options, e.g. ``fixed:c=0.5``; ``name`` is the canonical string (table column)."""

    spec: Baseline
    options: Mapping[str, float]
    name: str


def parse_baseline(text: str, what: str = "--baseline") -> BaselineChoice:
    """``NAME`` or ``NAME:key=value`` -> :class:`BaselineChoice`; unknown names and keys are refused by name."""
    try:
        parsed = parse_spec(str(text), what=what)
    except UserError:  # malformed options (``fixed:c``): name the form a known baseline takes
        known = BASELINES.get(str(text).partition(":")[0])
        if known is None or not known.options:
            raise
        raise UserError(f"{what}: {text!r}; allowed form: {usage_of(known)}") from None
    if parsed.name not in BASELINES:
        from pgexp.estimators.baselines import TRAINING_ONLY_BASELINES

        if parsed.name in TRAINING_ONLY_BASELINES:
            raise UserError(f"{what} {parsed.name}: training only ({TRAINING_ONLY_BASELINES[parsed.name]}); "
                            "pgexp train accepts it")
        raise UserError(f"{what}: unknown {parsed.name!r}; allowed: {', '.join(baseline_usage())}")
    spec = BASELINES[parsed.name]
    got, need = set(parsed.options), set(spec.options)
    if got != need:
        raise UserError(f"{what}: {text!r}; allowed form: {usage_of(spec)}")
    options = {}
    for key in spec.options:
        value = parsed.options[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserError(f"{what}: {text!r}; {key} must be a finite number (allowed form: {usage_of(spec)})")
        options[key] = float(value)
    name = spec.name + (":" + ",".join(f"{k}={options[k]:g}" for k in spec.options) if spec.options else "")
    return BaselineChoice(spec, options, name)


def usage_of(spec: Baseline) -> str:
    """A baseline as the user writes it: ``NAME``, or ``fixed:c=VALUE`` for a parameterised one."""
    return spec.name + (":" + ",".join(f"{k}=VALUE" for k in spec.options) if spec.options else "")


def baseline_usage(track: str | None = None) -> list[str]:
    """Every baseline (on ``track``) as the user writes it (``fixed:c=VALUE`` for parameterised ones)."""
    return [usage_of(b) for b in BASELINES.values() if track is None or track in b.tracks]



BASELINES: dict[str, Baseline] = {}
