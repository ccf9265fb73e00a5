"""pgexp: how noisy are policy-gradient estimators, and why -- measured against exact gradients.

Python API (the CLI calls the same functions)::

    from pgexp.problems.problem import build_problem
    from pgexp import exact
    prob = build_problem("short_corridor", theta="random:seed=0,scale=0.5")
    J, grad, ev = exact.gradient(prob.mdp, prob.policy, prob.theta)

Plug-ins (see README): ``pgexp.register_estimator(name, fn, baselines=..., unbiased=...)`` with
``fn(batch) -> weights (N, L)`` (or ``pgexp.Corrected(weights, correction)``: an analytic correction per step);
``pgexp.check_estimator(name)`` runs the generic checks; ``exact=pgexp.ExactSpec(...)`` brings the estimator's own
exact moments (its weight family: ``pgexp exact-variance`` then offers it).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# The registry API, imported on first use so that `import pgexp` stays light and the built-ins are
# registered before any plug-in (registration order is figure order).
_API = {
    "register_estimator": "pgexp.estimators",
    "register_baseline": "pgexp.estimators",
    "Hyperparameter": "pgexp.estimators",
    "ExactSpec": "pgexp.estimators",
    "ESTIMATORS": "pgexp.estimators",
    "BASELINES": "pgexp.estimators",
    "Batch": "pgexp.estimators.batch",
    "Corrected": "pgexp.estimators.correction",
    "ActionValues": "pgexp.estimators.correction",
    "check_estimator": "pgexp.runs.check",
}


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'pgexp' has no attribute {name!r}")


__all__ = ["BASELINES", "ESTIMATORS", "Batch", "Hyperparameter", "__version__", "check_estimator",
           "register_baseline", "register_estimator"]
