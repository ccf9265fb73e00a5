"""One spec per extension point: :class:`Estimator` and :class:`Baseline`, and their registries.

This module gathers them under one name; each part lives in its own module:
:mod:`~pgexp.estimators.vocabulary` (the fields' allowed values, :func:`resolve`),
:mod:`~pgexp.estimators.hyperparameter` (:class:`Hyperparameter`), :mod:`~pgexp.estimators.baseline_spec`
(:class:`Baseline`, :data:`BASELINES`, the one baseline parser :func:`parse_baseline`),
:mod:`~pgexp.estimators.exact_spec` (:class:`ExactSpec`: an estimator's exact counterpart),
:mod:`~pgexp.estimators.estimator_spec` (:class:`Estimator`, :data:`ESTIMATORS`) and
:mod:`~pgexp.estimators.registry` (``register_estimator``, ``register_baseline`` and the registry's queries).

Everything the rest of pgexp asks of an estimator is a field of its spec -- the function, its
hyperparameters with their defaults, the baselines it accepts, the objectives and tracks it is defined
for, how it samples, the auxiliary fit it needs, when it is unbiased, its exact moments, and how figures
show it -- so the CLI choices, the study's validation and arguments, the estimate tables and ``pgexp check-estimator``
are all derived from :data:`ESTIMATORS` and :data:`BASELINES`, never typed twice.

The specs are metadata only (no numpy, numba or torch): the workflow reads them at every ``snakemake``
call.  Functions are named ``"module:function"`` (resolved on first use, like Gymnasium's
``entry_point``) or given as callables (a plug-in's own function).

The estimator contract (see :mod:`pgexp.estimators.batch`): ``fn(batch) -> w`` with ``w`` of shape
``(N, L)``, so that trajectory ``i`` contributes ``g_i = sum_h w[i, h] grad log pi(a_ih | s_ih)``; the
batch carries the chosen baseline's values ``batch.baseline`` (``b_h(s_h)``) and ``batch.baseline_next``
(``b_{h+1}(s_{h+1})``, zero after an episode's end).  An estimator may instead return
:class:`~pgexp.estimators.correction.Corrected`: the weights plus, per step, an analytic correction
``grad_theta E_{a~pi(.|s_ih)} k_ih(a)`` (what keeps an action-dependent control variate unbiased; with zero
weights, the all-action estimator) -- :mod:`pgexp.estimators.correction` derives it and its representation.
An estimator that is affine in the baseline can
take the per-coordinate ``optimal`` baseline without any code of its own (see
:func:`pgexp.runs.estimate.estimate_batch`).
"""

from __future__ import annotations

from pgexp.estimators.baseline_spec import BASELINES, Baseline, BaselineChoice, baseline_usage, parse_baseline
from pgexp.estimators.estimator_spec import (
    ESTIMATORS,
    GAMMAS_UNKNOWN,
    Estimator,
    Unbiased,
    apply_rule,
    takes_gamma,
)
from pgexp.estimators.exact_spec import ExactSpec
from pgexp.estimators.hyperparameter import Hyperparameter
from pgexp.estimators.registry import (
    REGISTERED_BY,
    RESERVED_SOURCES,
    check_new_name,
    get_estimator,
    hyperparameter,
    hyperparameters,
    is_builtin,
    is_oracle,
    register_baseline,
    register_estimator,
    reserved_names,
    sys_caller,
    users_of,
)
from pgexp.estimators.vocabulary import (
    BASELINE_KERNELS,
    KERNEL_RULES,
    NAME_RE,
    OBJECTIVES,
    SAMPLING,
    TRACKS,
    resolve,
)

__all__ = ["BASELINES", "BASELINE_KERNELS", "ESTIMATORS", "GAMMAS_UNKNOWN", "KERNEL_RULES", "NAME_RE", "OBJECTIVES",
           "REGISTERED_BY", "RESERVED_SOURCES", "SAMPLING", "TRACKS", "Baseline", "BaselineChoice", "Estimator",
           "ExactSpec", "Hyperparameter", "Unbiased", "apply_rule", "baseline_usage", "check_new_name", "get_estimator",
           "hyperparameter", "hyperparameters", "is_builtin", "is_oracle", "parse_baseline", "register_baseline",
           "register_estimator", "reserved_names", "resolve", "sys_caller", "takes_gamma", "users_of"]
