"""The estimator and baseline registries, and the built-in entries.

Each built-in is one function (:mod:`~pgexp.estimators.trajectory`, :mod:`~pgexp.estimators.rollout`,
:mod:`~pgexp.estimators.baselines`) plus one registration below -- exactly what a user's plug-in does
(``pgexp.register_estimator``, see README).  The specs live in :mod:`~pgexp.estimators.spec`; functions
are named ``"module:function"`` so that importing the registry costs no compiled kernels (the workflow
validates configs against it at every ``snakemake`` call).  ``pgexp check-estimator NAME`` and
``tests/estimators/test_estimators.py`` run the same generic checks (:mod:`~pgexp.runs.check`) over it.
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
    ExactSpec,
    Hyperparameter,
    get_estimator,
    hyperparameters,
    is_oracle,
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
                  oracle=True, doc="the oracle V_h(s) (time-indexed for a finite horizon)")
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
# action-dependent control variates with their analytic correction (pgexp.estimators.correction); general route only
_A = "pgexp.estimators.action_dependent"
register_baseline("q_exact", f"{_A}:q_exact", tracks=("tabular", "lqr"), label="exact Q (action-dep.)",
                  color="#56b4e9", marker="X", shade=-0.15, order=6, vectorized=True, action_dependent=True,
                  oracle=True,
                  doc="action-dependent: the oracle Q_h(s, a) (Gaussian policies: its linear expansion in the action, "
                      "Q-Prop's), with its analytic correction sum_a grad pi(a|s) b(s, a)")
register_baseline("q_fitted", f"{_A}:q_fitted", fitted=True, label="fitted Q̂ (action-dep.)",
                  color="#999999", marker="*", shade=0.45, order=7, vectorized=True, action_dependent=True,
                  doc="action-dependent: a critic Q̂(s, a) fitted on an independent batch (per-(s, a) mean of the "
                      "return; LQR: quadratic in (x, u); continuous states: on random Fourier features, linear in a "
                      "Gaussian's action), with its analytic correction")
BASELINE_SPECS = BASELINES  # the name the figures use: one registry, one spec per baseline

# ------------------------------------------------------------------ estimators (`order`: figure order)
_T, _R = "pgexp.estimators.trajectory", "pgexp.estimators.rollout"
_SCALAR = ("none", "constant", "value_exact", "value_learned", "optimal", "fixed")
_ACTION = ("q_exact", "q_fitted")  # action-dependent: estimators that add the analytic correction accept them
# The exact engine's share of each spec (pgexp.exact): the baselines it covers, the weight family of the moment
# recursion (pgexp.exact.families), the literal weights of enumeration (pgexp.exact.enumeration), what a constant
# baseline multiplies, and the baselines with which advantage normalisation is exact (pgexp.estimators.practice).
_FAM, _EN = "pgexp.exact.families", "pgexp.exact.enumeration"
_BASIC = ("none", "value_exact", "fixed", "optimal", "constant")
_NORMALIZABLE = ("none", "value_exact", "fixed")


def exact_family(name: str, baselines: tuple[str, ...], *, baseline_input: str = "steps", direction: str | None = None,
                 bootstrap: str = "start", normalizable: tuple[str, ...] = ()) -> ExactSpec:
    """A built-in trajectory estimator's exact spec: its family and weights are ``pgexp.exact.families:NAME`` and
    ``pgexp.exact.enumeration:NAME``."""
    return ExactSpec(baselines=baselines, family=f"{_FAM}:{name}", weights=f"{_EN}:{name}",
                     baseline_input=baseline_input, direction=direction, bootstrap=bootstrap,
                     normalizable=normalizable)


LAM = Hyperparameter("lam", 0.95, "GAE's lambda: the weight of longer advantage sums", 0.0, 1.0, check_values=(1.0,))


def gae_unbiased(baseline: str, params: Mapping[str, float]) -> bool:
    """GAE is unbiased with the exact V for any lambda (``q_exact``: the exact Q's V, and a corrected control
    variate), and at lambda = 1 (reward-to-go with V as a baseline) with any baseline that does not depend on the
    trajectory's own actions."""
    return baseline in ("value_exact", "q_exact") or params["lam"] == 1.0


def common_unbiased(baseline: str, params: Mapping[str, float], gamma: float) -> bool:
    """The common variants (no ``gamma^h`` factor) are their textbook estimator when ``gamma = 1``, and biased
    otherwise (their mean weights states by undiscounted visits)."""
    return gamma == 1.0


def gae_common_unbiased(baseline: str, params: Mapping[str, float], gamma: float) -> bool:
    """gae_common: as gae when ``gamma = 1``, biased otherwise."""
    return gamma == 1.0 and gae_unbiased(baseline, params)


def all_action_unbiased(baseline: str, params: Mapping[str, float]) -> bool:
    """The all-action estimator is unbiased with the exact critic only (a fitted critic's error enters its mean)."""
    return baseline == "q_exact"


register_estimator("reinforce", f"{_T}:reinforce", baselines=_SCALAR + _ACTION, label="REINFORCE", color="#0173b2",
                   order=0, kernel="reinforce", vectorized=True, training_kernel="reinforce",
                   exact=exact_family("reinforce", _BASIC, baseline_input="start", direction=f"{_FAM}:unit_direction"),
                   doc="(sum_h score_h) (G_0 - b(s_0))")
register_estimator("reward_to_go", f"{_T}:reward_to_go", baselines=_SCALAR + _ACTION, label="reward-to-go",
                   color="#de8f05", order=1, kernel="reward_to_go", vectorized=True, training_kernel="reward_to_go",
                   exact=exact_family("reward_to_go", _BASIC, direction=f"{_FAM}:discounted_direction",
                                      normalizable=_NORMALIZABLE),
                   doc="sum_h score_h gamma^h (R_h - b_h(s_h))  (Q-based PG)")
register_estimator("advantage_exact", f"{_T}:advantage_exact", baselines=("none",), tracks=("tabular", "lqr"),
                   label="exact advantage", color="#029e73", order=2, kernel="advantage", vectorized=True,
                   oracle=True, exact=exact_family("advantage_exact", ("none",), baseline_input="none",
                                                   bootstrap="none", normalizable=("none",)),
                   doc="sum_h gamma^h score_h A_h(s_h, a_h), oracle A")
register_estimator("rollin_rollout", f"{_R}:rollin_rollout", baselines=_SCALAR, objectives=("finite", "discounted"),
                   tracks=("tabular",), sampling="rollin_rollout", label="roll-in/roll-out", color="#d55e00", order=4,
                   vectorized=True, exact=ExactSpec(_BASIC, engine="rollout"),
                   doc="the lecture's roll-in/roll-out: Z score(s,a) (y - b(s)), Z = 1/(1-gamma) for H=inf")
register_estimator("actor_critic", f"{_R}:actor_critic", baselines=("none",), unbiased=False,
                   objectives=("finite", "discounted"), tracks=("tabular",), fit=f"{_R}:fit_critic",
                   label="actor-critic", color="#4d4d4d", order=5, kernel="advantage", vectorized=True,
                   doc="the lecture's: least-squares critic f on the policy's features, sum_h gamma^h score_h "
                       "(f - E_pi f)", training_kernel="actor_critic")
register_estimator("gae", f"{_T}:gae", baselines=("none", "value_exact", "value_learned", "fixed", *_ACTION),
                   unbiased=gae_unbiased, hyperparameters=(LAM,), label="GAE(λ)", color="#cc78bc", order=3,
                   kernel="gae", vectorized=True, training_kernel="gae",
                   exact=exact_family("gae", ("none", "value_exact", "value_table"), baseline_input="values",
                                      normalizable=_NORMALIZABLE),
                   doc="sum_h gamma^h score_h GAE(lambda) advantage, V = the baseline (0 after an episode's end)")
# What most code computes: the same weights without gamma^h (finite and episodic objectives; biased for gamma < 1)
register_estimator("reward_to_go_common", f"{_T}:reward_to_go_common", baselines=_SCALAR, unbiased=common_unbiased,
                   objectives=("finite", "episodic"), label="reward-to-go, common (no γʰ)", color="#ece133", order=6,
                   kernel="reward_to_go_common", vectorized=True,
                   exact=exact_family("reward_to_go_common", ("none", "value_exact"), bootstrap="step",
                                      normalizable=_NORMALIZABLE),
                   doc="sum_h score_h (R_h - b_h(s_h)): reward-to-go without gamma^h, as most code "
                       "(biased for gamma < 1)", training_kernel="reward_to_go_common")
register_estimator("gae_common", f"{_T}:gae_common", baselines=("none", "value_exact", "value_learned", "fixed"),
                   unbiased=gae_common_unbiased, objectives=("finite", "episodic"), hyperparameters=(LAM,),
                   label="GAE(λ), common (no γʰ)", color="#56b4e9", order=7, kernel="gae_common", vectorized=True,
                   training_kernel="gae_common",
                   exact=exact_family("gae_common", ("none", "value_exact", "value_table"), baseline_input="values",
                                      bootstrap="step", normalizable=_NORMALIZABLE),
                   doc="sum_h score_h GAE(lambda) advantage without gamma^h, as PPO code (biased for gamma < 1)")

register_estimator("all_action", f"{_A}:all_action", baselines=_ACTION, unbiased=all_action_unbiased,
                   tracks=("tabular", "lqr"), label="all-action", color="#ca9161", order=8, vectorized=True,
                   exact=ExactSpec(("q_exact",), engine="action"),
                   doc="sum_h gamma^h sum_a grad pi(a|s_h) Q(s_h, a): the expected (all-action) policy gradient, "
                       "Gaussian policies in closed form; the critic is the baseline (q_exact; q_fitted: --critic "
                       "fitted)")
# Group estimators (language-model fine-tuning): sampled in groups of G responses per prompt (--group-size G);
# finite and episodic objectives (a response is an episode).  pgexp.estimators.groups defines them.
_GR = "pgexp.estimators.groups"
STD_DDOF = Hyperparameter("std_ddof", 1.0, "the group standard deviation's divisor G - std_ddof: 1 the sample one "
                          "(torch.std, TRL, verl), 0 the population one", 0.0, 1.0, check_values=(0.0,), integer=True)
EPS = Hyperparameter("eps", 1e-6, "the epsilon added to the standard deviation", 0.0, 1.0)
LENGTH_NORM = Hyperparameter("length_norm", 1.0, "1: each token of response i weighs 1/|o_i| (GRPO); 0: no length "
                             "term (the std normalisation alone)", 0.0, 1.0, check_values=(0.0,), integer=True)
DYNAMIC = Hyperparameter("dynamic_sampling", 0.0, "1: drop groups whose rewards are all equal and average over the "
                         "rest (DAPO's dynamic sampling)", 0.0, 1.0, check_values=(1.0,), integer=True)
_EPISODES = ("finite", "episodic")
_TAB = ("tabular",)  # group sampling needs an initial state to share (pgexp.sampling.groups)
_GROUP_EXACT = ExactSpec(("none",), engine="groups")  # exact by exchangeable reward counts (pgexp.exact.groups)
register_estimator("rloo", f"{_GR}:rloo", objectives=_EPISODES, tracks=_TAB, min_group_size=2, label="RLOO",
                   color="#56b4e9", order=10, vectorized=True, exact=_GROUP_EXACT,
                   doc="(r_i - mean of the other responses' rewards) per token (Kool et al.)")
register_estimator("grpo", f"{_GR}:grpo", unbiased=False, objectives=_EPISODES, tracks=_TAB,
                   hyperparameters=(STD_DDOF, EPS, LENGTH_NORM),
                   exact=_GROUP_EXACT, min_group_size=2, label="GRPO", color="#d55e00", order=11, vectorized=True,
                   doc="(r_i - group mean) / (group std + eps) / |o_i| per token (Shao et al.; biased)")
register_estimator("dr_grpo", f"{_GR}:dr_grpo", unbiased=False, scale=f"{_GR}:dr_grpo_scale", objectives=("finite",),
                   tracks=_TAB, min_group_size=2, label="Dr. GRPO", color="#0072b2", order=12, vectorized=True,
                   exact=_GROUP_EXACT,
                   doc="(r_i - group mean) / L_max per token, L_max = H (Liu et al.; mean (G-1)/(G H) grad J)")
register_estimator("dapo_token_mean", f"{_GR}:dapo_token_mean", unbiased=False, objectives=_EPISODES, tracks=_TAB,
                   hyperparameters=(STD_DDOF, EPS, DYNAMIC), min_group_size=2, label="DAPO token mean",
                   color="#cc79a7", order=13, vectorized=True, exact=_GROUP_EXACT,
                   doc="G A_i / (sum of the group's lengths) per token, A_i GRPO's; --dynamic-sampling 1 drops "
                       "all-equal groups (Yu et al.; biased)")
register_estimator("reinforce_pp", f"{_GR}:reinforce_pp", unbiased=False, objectives=_EPISODES, tracks=_TAB,
                   hyperparameters=(STD_DDOF, EPS), min_group_size=1, label="REINFORCE++", color="#009e73", order=14,
                   vectorized=True, exact=_GROUP_EXACT,
                   doc="(r_i - batch mean) / (batch std + eps) per token (Hu; biased)")
register_estimator("remax", f"{_GR}:remax", objectives=("finite",), tracks=_TAB, exact=_GROUP_EXACT, min_group_size=1,
                   label="ReMax", color="#e69f00", order=15, vectorized=True,
                   doc="r_i - reward of the greedy response to the prompt, per token (Li et al.)")

__all__ = ["BASELINES", "BASELINE_SPECS", "ESTIMATORS", "LAM", "OBJECTIVES", "TRACKS", "Baseline", "BaselineChoice",
           "Estimator", "ExactSpec", "Hyperparameter", "get_estimator", "hyperparameters", "is_oracle",
           "parse_baseline", "register_baseline", "register_estimator"]
