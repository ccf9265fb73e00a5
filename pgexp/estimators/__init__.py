"""The estimator and baseline registries, and the built-in entries.

Each built-in is one function (:mod:`~pgexp.estimators.trajectory`, :mod:`~pgexp.estimators.rollout`,
:mod:`~pgexp.estimators.baselines`) plus one registration below -- exactly what a user's plug-in does
(``pgexp.register_estimator``, see README).  The specs live in :mod:`~pgexp.estimators.spec`; functions
are named ``"module:function"`` so that importing the registry costs no compiled kernels (the workflow
validates configs against it at every ``snakemake`` call).  ``pgexp check-estimator NAME`` and
``tests/test_estimators.py`` run the same generic checks (:mod:`~pgexp.runs.check`) over it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pgexp.estimators.spec import (
    BASELINES,
    ESTIMATORS,
    OBJECTIVES,
    TRACKS,
    Baseline,
    BaselineChoice,
    Estimator,
    Hyperparameter,
    get_estimator,
    hyperparameters,
    parse_baseline,
    register_baseline,
    register_estimator,
)

# ------------------------------------------------------------------ baselines
# Okabe-Ito colour-blind-safe hues, one per baseline; `shade` mixes an estimator's hue with black (< 0) or
# white (> 0) where figures colour by estimator.
_B = "pgexp.estimators.baselines"
# every built-in takes a stack of replicates (vectorized); `kernel`/`table`: how the fused kernels compute it
register_baseline("none", None, doc="b = 0", label="no baseline", color="#000000", marker="o", shade=0.0, order=0,
                  kernel="zero", vectorized=True)
register_baseline("constant", f"{_B}:leave_one_out", min_batch_size=2, label="leave-one-out mean", color="#e69f00",
                  marker="s", shade=0.35, order=1, kernel="leave_one_out", vectorized=True,
                  doc="leave-one-out mean of the other trajectories' returns G_0 (unbiased; N >= 2)")
register_baseline("value_exact", f"{_B}:exact_value", tracks=("tabular", "lqr"), label="exact V", color="#0072b2",
                  marker="^", shade=-0.3, order=2, kernel="table", table=f"{_B}:exact_value_table", vectorized=True,
                  doc="the oracle V_h(s) (time-indexed for a finite horizon)")
register_baseline("value_learned", f"{_B}:learned_value", fitted=True, label="learned V̂", color="#cc79a7",
                  marker="v", shade=0.55, order=3, kernel="table", table=f"{_B}:learned_value_table", vectorized=True,
                  doc="a regression of the return on the state (per-state mean; ridge on random Fourier features of "
                      "the observation for continuous states), fitted on an independent batch")
# not the optimal baseline itself: Greensmith et al.'s per-coordinate constant, *fitted* on an independent batch
register_baseline("optimal", None, per_coordinate=True, label="fitted per-coord. b̂", color="#009e73", marker="D",
                  shade=-0.55, order=4, vectorized=True,
                  doc="Greensmith-Bartlett-Baxter per-coordinate constant b_k = E[u_k v_k]/E[v_k^2], fitted on an "
                      "independent batch")
register_baseline("fixed", f"{_B}:fixed_constant", options=("c",), label="fixed constant", color="#d55e00",
                  marker="P", shade=0.2, order=5, kernel="table", table=f"{_B}:fixed_table", vectorized=True,
                  doc="a fixed constant c (fixed:c=VALUE)")
BASELINE_SPECS = BASELINES  # the name the figures use: one registry, one spec per baseline

# ------------------------------------------------------------------ estimators (`order`: figure order)
_T, _R = "pgexp.estimators.trajectory", "pgexp.estimators.rollout"
_SCALAR = ("none", "constant", "value_exact", "value_learned", "optimal", "fixed")
LAM = Hyperparameter("lam", 0.95, "GAE's lambda: the weight of longer advantage sums", 0.0, 1.0, check_values=(1.0,))


def gae_unbiased(baseline: str, params: Mapping[str, float]) -> bool:
    """GAE is unbiased with the exact V for any lambda, and at lambda = 1 (reward-to-go with V as a baseline)
    with any baseline that does not depend on the trajectory's own actions."""
    return baseline == "value_exact" or params["lam"] == 1.0


def common_unbiased(baseline: str, params: Mapping[str, float], gamma: float) -> bool:
    """The common variants (no ``gamma^h`` factor) are their textbook estimator when ``gamma = 1``, and biased
    otherwise (their mean weights states by undiscounted visits)."""
    return gamma == 1.0


def gae_common_unbiased(baseline: str, params: Mapping[str, float], gamma: float) -> bool:
    """gae_common: as gae when ``gamma = 1``, biased otherwise."""
    return gamma == 1.0 and gae_unbiased(baseline, params)


register_estimator("reinforce", f"{_T}:reinforce", baselines=_SCALAR, label="REINFORCE", color="#0173b2", order=0,
                   kernel="reinforce", vectorized=True, training_kernel="reinforce",
                   doc="(sum_h score_h) (G_0 - b(s_0))")
register_estimator("reward_to_go", f"{_T}:reward_to_go", baselines=_SCALAR, label="reward-to-go", color="#de8f05",
                   order=1, kernel="reward_to_go", vectorized=True, training_kernel="reward_to_go",
                   doc="sum_h score_h gamma^h (R_h - b_h(s_h))  (Q-based PG)")
register_estimator("advantage_exact", f"{_T}:advantage_exact", baselines=("none",), tracks=("tabular", "lqr"),
                   label="exact advantage", color="#029e73", order=2, kernel="advantage", vectorized=True,
                   doc="sum_h gamma^h score_h A_h(s_h, a_h), oracle A")
register_estimator("rollin_rollout", f"{_R}:rollin_rollout", baselines=_SCALAR, objectives=("finite", "discounted"),
                   tracks=("tabular",), sampling="rollin_rollout", label="roll-in/roll-out", color="#d55e00", order=4,
                   vectorized=True,
                   doc="the lecture's roll-in/roll-out: Z score(s,a) (y - b(s)), Z = 1/(1-gamma) for H=inf")
register_estimator("actor_critic", f"{_R}:actor_critic", baselines=("none",), unbiased=False,
                   objectives=("finite", "discounted"), tracks=("tabular",), fit=f"{_R}:fit_critic",
                   label="actor-critic", color="#4d4d4d", order=5, kernel="advantage", vectorized=True,
                   doc="the lecture's: least-squares critic f on the policy's features, sum_h gamma^h score_h "
                       "(f - E_pi f)", training_kernel="actor_critic")
register_estimator("gae", f"{_T}:gae", baselines=("none", "value_exact", "value_learned", "fixed"),
                   unbiased=gae_unbiased, hyperparameters=(LAM,), label="GAE(λ)", color="#cc78bc", order=3,
                   kernel="gae", vectorized=True, training_kernel="gae",
                   doc="sum_h gamma^h score_h GAE(lambda) advantage, V = the baseline (0 after an episode's end)")
# What most code computes: the same weights without gamma^h (finite and episodic objectives; biased for gamma < 1)
register_estimator("reward_to_go_common", f"{_T}:reward_to_go_common", baselines=_SCALAR, unbiased=common_unbiased,
                   objectives=("finite", "episodic"), label="reward-to-go, common (no γʰ)", color="#ece133", order=6,
                   kernel="reward_to_go_common", vectorized=True,
                   doc="sum_h score_h (R_h - b_h(s_h)): reward-to-go without gamma^h, as most code "
                       "(biased for gamma < 1)", training_kernel="reward_to_go_common")
register_estimator("gae_common", f"{_T}:gae_common", baselines=("none", "value_exact", "value_learned", "fixed"),
                   unbiased=gae_common_unbiased, objectives=("finite", "episodic"), hyperparameters=(LAM,),
                   label="GAE(λ), common (no γʰ)", color="#56b4e9", order=7, kernel="gae_common", vectorized=True,
                   training_kernel="gae_common",
                   doc="sum_h score_h GAE(lambda) advantage without gamma^h, as PPO code (biased for gamma < 1)")

__all__ = ["BASELINES", "BASELINE_SPECS", "ESTIMATORS", "LAM", "OBJECTIVES", "TRACKS", "Baseline", "BaselineChoice",
           "Estimator", "Hyperparameter", "get_estimator", "hyperparameters", "parse_baseline", "register_baseline",
           "register_estimator"]
