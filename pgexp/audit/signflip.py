r"""Does the common variant's mean ever point away from ``grad J``?  An exact search over small random MDPs.

The common variants drop ``gamma^h``: their mean is ``sum_h sum_s p_h(s) sum_a grad pi(a|s) Q_h(s, a)``, the
policy-gradient theorem with undiscounted state weights (:mod:`pgexp.estimators.trajectory`).  With tabular
softmax features every state's component is a positive mix of the same per-step directions, and the mean
stays within 90 degrees of ``grad J``; with features shared across states (fewer parameters than
state-action pairs) the reweighting of states can turn it around -- the counterexample of Nota & Thomas
(2020).  How often, among random problems?

For each cell of the grid ``features x gamma`` the search draws ``samples`` problems -- a garnet with
``states`` in ``[2, 6]``, ``actions`` in ``[2, 3]``, ``branching`` in ``[1, min(3, states)]`` and its own seed, the
cell's features (``random:d=D`` are Gaussian features with their own seed) and ``theta`` from
``random:seed=...,scale=...`` -- all from one ``SeedSequence`` (:func:`draw`), at the finite horizon ``H``,
and computes the exact mean of ``reward_to_go_common`` (the moment recursion) and the exact ``grad J``.
A *sign flip* is ``<E g_common, grad J> < 0``.  Per cell: the count, the fraction with its Wilson score
interval (:func:`scipy.stats.binomtest`), the smallest cosine; and the problem with the smallest cosine
over the whole search, as a spec a user can rerun (``env``, ``features``, ``theta``, ``gamma``, ``horizon``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pgexp.problems.problem import Problem, build_problem

ESTIMATOR = "reward_to_go_common"


@dataclass(frozen=True)
class Draw:
    """One random problem of the search, as specs."""

    env: str
    features: str
    theta: str
    gamma: float
    horizon: int

    def build(self) -> Problem:
        return build_problem(self.env, features=self.features, theta=self.theta, gamma=float(self.gamma),
                             horizon=int(self.horizon))


def draw(rng: np.random.Generator, features: str, gamma: float, horizon: int, theta_scale: float) -> Draw:
    """A random small garnet with ``features`` (``tabular`` or ``random:d=D``) and a random ``theta``."""
    S = int(rng.integers(2, 7))
    A = int(rng.integers(2, 4))
    b = int(rng.integers(1, min(3, S) + 1))
    env = f"garnet:states={S},actions={A},branching={b},seed={int(rng.integers(2**31))}"
    feats = features if features == "tabular" else f"{features},seed={int(rng.integers(2**31))}"
    theta = f"random:seed={int(rng.integers(2**31))},scale={theta_scale:g}"
    return Draw(env, feats, theta, float(gamma), int(horizon))


def common_mean(problem: Problem, estimator: str = ESTIMATOR) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(E g_common, grad J)`` by the moment recursion."""
    from pgexp.exact import families as fam
    from pgexp.exact import recursion as rec
    from pgexp.exact.model import make_setup

    st = make_setup(problem)
    return rec.mean(st, fam.family(st, estimator)), st.grad


def wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of ``k`` successes in ``n`` trials."""
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def search(features: Sequence[str], gammas: Sequence[float], *, horizon: int, samples: int, seed: int = 0,
           theta_scale: float = 1.0, confidence: float = 0.95) -> tuple[list[dict], dict]:
    """The search (module docstring): one row per ``(features, gamma)`` cell, and the worst problem found.

    Rows: ``features``, ``gamma``, ``horizon``, ``samples``, ``flips``, ``flip_fraction``, ``flip_lo``,
    ``flip_hi``, ``cosine_min``, ``cosine_median``.  The worst problem: its specs, ``cosine`` (of the exact
    mean with ``grad J``), ``inner`` (``<E g, grad J>``), ``grad_norm``, ``mean_norm``.
    """
    root = np.random.SeedSequence([int(seed), int(horizon), int(samples)])
    rows: list[dict[str, Any]] = []
    worst: dict[str, Any] = {"cosine": np.inf}  # the problem with the lowest cosine so far
    for i, feats in enumerate(features):
        for j, gamma in enumerate(gammas):
            rng = np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=(i, j)))
            cos = np.empty(samples)
            for k in range(samples):
                d = draw(rng, feats, gamma, horizon, theta_scale)
                mean, grad = common_mean(d.build())
                gn, mn = float(np.linalg.norm(grad)), float(np.linalg.norm(mean))
                cos[k] = float(mean @ grad) / (gn * mn) if gn > 0 and mn > 0 else np.nan
                if np.isfinite(cos[k]) and cos[k] < worst["cosine"]:
                    worst = {"env": d.env, "features": d.features, "theta": d.theta, "gamma": d.gamma,
                             "horizon": d.horizon, "cosine": float(cos[k]), "inner": float(mean @ grad),
                             "grad_norm": gn, "mean_norm": mn}
            valid = np.isfinite(cos)
            flips = int((cos[valid] < 0).sum())
            n = int(valid.sum())
            lo, hi = wilson(flips, n, confidence) if n else (np.nan, np.nan)
            rows.append({"features": feats, "gamma": float(gamma), "horizon": int(horizon), "samples": n,
                         "flips": flips, "flip_fraction": flips / n if n else np.nan, "flip_lo": lo, "flip_hi": hi,
                         "cosine_min": float(np.nanmin(cos)) if n else np.nan,
                         "cosine_median": float(np.nanmedian(cos)) if n else np.nan, "confidence": confidence})
    return rows, worst


def confirm(worst: dict, *, batch_size: int, replicates: int, seed: int = 0, confidence: float = 0.95,
            resamples: int = 2000) -> dict:
    """Monte Carlo on the worst problem: ``replicates`` batch estimates of ``reward_to_go_common`` (``N =
    batch_size``); the cosine of their mean with ``grad J`` with a BCa interval, and the inner product's
    z-score ``<mean, grad J> / se``.  Keys ``mc_cosine_mean``, ``mc_cosine_mean_lo``, ``mc_cosine_mean_hi``,
    ``mc_inner_z``, ``mc_replicates``, ``mc_batch_size``."""
    from pgexp.audit.table import cosine_of_mean
    from pgexp.runs.estimate import run_estimate

    d = Draw(worst["env"], worst["features"], worst["theta"], worst["gamma"], worst["horizon"])
    t = run_estimate(d.build(), ESTIMATOR, "none", batch_size=batch_size, replicates=replicates, seed=seed,
                     progress=False)
    G = np.asarray(t.column("grad").to_pylist(), dtype=np.float64)
    g = np.asarray(t.column("grad_exact")[0].as_py(), dtype=np.float64)
    c, lo, hi = cosine_of_mean(G, g, seed, confidence, resamples)
    inner = G @ g
    z = float(inner.mean() / (inner.std(ddof=1) / np.sqrt(inner.size)))
    return {"mc_cosine_mean": c, "mc_cosine_mean_lo": lo, "mc_cosine_mean_hi": hi, "mc_inner_z": z,
            "mc_replicates": int(replicates), "mc_batch_size": int(batch_size)}


__all__ = ["ESTIMATOR", "Draw", "common_mean", "confirm", "draw", "search", "wilson"]
