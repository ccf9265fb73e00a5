"""The paper studies' figures (``config/studies/NAME.yaml``), registered like the built-in ones.

Section ``study``: only a paper-study config has it, so the default study never builds them; a study's
report draws them through this registry (``pgexp study-report``), and ``pgexp plot NAME --curves ...``
draws one from its tables.  Table names are the study's own (``results/studies/NAME/tables/``).
"""

from __future__ import annotations

from pgexp.figures.registry import register_figure

_CURVES = ("arm", "step_size", "iteration", "J", "J_lo", "J_hi")
_SUMMARY = ("arm", "step_size", "seeds", "diverged_seeds")
_BAND = "mean over the runs still alive, with its 95% percentile-bootstrap band over runs"

register_figure(
    name="sutton_barto_fig13_1",
    draw="pgexp.figures.sutton_barto_fig13_1:draw",
    tables={"curves": "study_learning_curves"},
    columns={"curves": (*_CURVES, "return_mean", "alive_fraction")},
    section="study",
    order=200,
    caption=(
        "REINFORCE with per-step updates on the short corridor (Sutton & Barto, Figure 13.1), measured exactly. "
        f"Top: for each step size, the exact J(θ) after each episode ({_BAND}); lighter, the mean total reward of "
        "the episode, which is what the book plots; dashed, the mean-field path (exact-gradient ascent with the "
        "same step, one step per episode); grey, the best value of the policy class (exact ascent to "
        "convergence). Bottom: the fraction of runs still alive; a run whose policy becomes numerically "
        "deterministic never finishes an episode and is recorded as diverged."),
)

register_figure(
    name="sutton_barto_fig13_2",
    draw="pgexp.figures.sutton_barto_fig13_2:draw",
    tables={"curves": "study_learning_curves", "summary": "study_training_summary"},
    columns={"curves": _CURVES, "summary": (*_SUMMARY, "final_J", "final_J_lo", "final_J_hi", "reached_threshold",
                                            "selected")},
    section="study",
    order=210,
    caption=(
        "REINFORCE with and without the online baseline on the short corridor (Sutton & Barto, Figure 13.2). "
        f"Left: the exact J(θ) after each episode ({_BAND}) at the book's step sizes, and dotted at the step "
        "size chosen on the selection seeds where it differs. Right, top: the mean final J over the runs that "
        "did not diverge, with its 95% interval, for every step size of each arm (log-2 axis). Right, bottom: "
        "the fractions of runs that diverged or stalled (alive but never reached the progress threshold)."),
)

register_figure(
    name="chung2021_committal",
    draw="pgexp.figures.chung2021_committal:draw",
    tables={"summary": "study_training_summary", "variance": "baseline_variance"},
    optional=("variance",),
    columns={"summary": ("optimizer", "step_size", "baseline_offset", "suboptimal_fraction",
                         "suboptimal_fraction_lo", "suboptimal_fraction_hi", "seeds", "converged_seeds"),
             "variance": ("offset", "grad_trace_cov", "npg_trace_cov_policy")},
    section="study",
    order=220,
    caption=(
        "Committal baselines on the 3-armed bandit (Chung et al. 2021). Left: for each optimizer (natural and "
        "vanilla policy gradient), centre (b*, vanilla PG's exact minimum-variance constant, or b_npg, the NPG "
        "update's; recomputed at every step) and step size, the fraction of seeds whose policy after the last "
        "iteration T plays a suboptimal arm with probability at least the convergence level, with 95% Wilson "
        "intervals, one bar per baseline (centre − 1, centre, centre + 1); hatched on top, the runs not committed "
        "to any arm by T (censored). Right: the exact trace variance at θ₀ of the one-sample update each "
        "optimizer applies: vanilla PG's at b* ± 1 are equal, NPG's (its policy-moving part) at b* ± 1 are not, "
        "at b_npg ± 1 they are; log scale."),
)

register_figure(
    name="chung2021_simplex",
    draw="pgexp.figures.chung2021_simplex:draw",
    tables={"traces": "policy_traces"},
    columns={"traces": ("optimizer", "baseline_offset", "step_size", "seed", "iteration", "pi_0_0", "pi_0_1",
                        "pi_0_2")},
    section="study",
    order=230,
    caption=(
        "The policy of a few seeds on the probability simplex of the 3-armed bandit, from θ₀ (open circle) to "
        "the end of training (dot), one panel per optimizer and baseline at the middle step size of each "
        "optimizer's grid (Chung et al. 2021, Figure 1). Corners are the deterministic policies; arm 0 has the "
        "highest reward in the study's problem."),
)

register_figure(
    name="tucker2018_terms",
    draw="pgexp.figures.tucker2018:draw_terms",
    tables={"tucker": "tucker_terms"},
    columns={"tucker": ("env_name", "estimator", "baseline", "step", "sigma_tau", "sigma_a", "sigma_s")},
    section="study",
    order=260,
    caption=(
        "Tucker et al.'s per-step decomposition of the policy gradient's variance (their Figure 1), exact, for "
        "reward-to-go with the exact state value as baseline: at each time step t, the trace of the variance of the "
        "step's term split into the part due to the rest of the trajectory given the state and the action (Σ_τ), "
        "the part due to the action given the state (Σ_a) and the part due to the state (Σ_s). Only Σ_a can be "
        "removed by any baseline; dashed, Σ_a without a baseline; dotted, what Q-Prop's linear control variate of the "
        "exact Q leaves of it (a Gaussian policy; on finite actions the exact Q removes it entirely). Zeros are not "
        "drawn (log scale)."),
)

register_figure(
    name="tucker2018_variance",
    draw="pgexp.figures.tucker2018:draw_variance",
    tables={"tucker": "tucker_terms", "comparisons": "comparisons"},
    optional=("comparisons",),
    columns={"tucker": ("env_name", "estimator", "baseline", "step", "trace_cov"),
             "comparisons": ("estimator_a", "baseline_a", "estimator_b", "baseline_b", "var_ratio", "var_ratio_lo",
                             "var_ratio_hi")},
    section="study",
    order=270,
    caption=(
        "The whole trajectory's variance. Left: exact tr Cov of one trajectory's estimate for each estimator, over "
        "that of reward-to-go with the exact state value (1, the grey line): without a baseline, with the exact "
        "action-dependent baseline Q (its analytic correction added), with the variance-minimising action-dependent "
        "baseline of the whole trajectory, GAE(λ) with the exact value, and the all-action estimator with the exact "
        "Q (no action or return sampled at all). Right: Monte Carlo at equal sample cost -- every fitted baseline "
        "uses the same independent batch -- the ratio of tr Cov of the batch estimate with a fitted action-dependent "
        "critic (and the all-action estimator with it, which is biased) over that with a fitted state value, paired "
        "over the same trajectories, with 95% bootstrap intervals."),
)

register_figure(
    name="liu2025_length_bias",
    draw="pgexp.figures.liu2025:draw_length_bias",
    tables={"length_curves": "length_curves"},
    columns={"length_curves": ("label", "iteration", "p_correct", "length_correct", "length_wrong",
                               "length_wrong_lo", "length_wrong_hi", "length_wrong_mean_field")},
    section="study",
    order=240,
    caption=(
        "Response lengths along training with group estimators on a sequence MDP, measured exactly (the tabular "
        "version of Liu et al. 2025, Figure 1 right). Left to right: the success probability, the mean length of "
        "correct responses and the mean length of incorrect responses (a length counts every token, the "
        "end-of-sequence token included), each exact at the policy of the iteration. Solid: the mean over the "
        "sampled runs with its 95% percentile-bootstrap band over seeds; dashed: the mean-field path, the same "
        "optimizer applied to the estimator's exact mean. Every arm starts from the same policy with the same first "
        "batch (under Adam, Dr. GRPO's and RLOO's runs coincide: their weights differ by a constant factor)."),
)

register_figure(
    name="liu2025_group_variance",
    draw="pgexp.figures.liu2025:draw_group_variance",
    tables={"group_variance": "group_variance", "difficulty": "difficulty_weights"},
    optional=("difficulty",),
    columns={"group_variance": ("label", "group_size", "length_k", "angle_deg", "trace_cov",
                                "trace_cov_equal_length", "d_length_wrong_per_dJ"),
             "difficulty": ("estimator", "group_size", "p", "weight")},
    section="study",
    order=250,
    caption=(
        "Group estimators against the group size G, exactly (pgexp.exact.groups), for a batch of the study's prompts "
        "x G responses at the initial policy. Top: the mean's length along the exact gradient, k = <E g, grad J> / "
        "(the squared norm of grad J) (1: the right length; a positive k is undone by the step size), the angle "
        "between E g and grad J (what no step size undoes), and the length bias: the first-order change in the mean "
        "length of incorrect responses per unit of J gained along E g. Bottom: the trace of the covariance of the "
        "batch estimate, the same at equal mean length (the estimate divided by k), and the weight GRPO's standard "
        "deviation gives a prompt with success probability p on a 0/1 task, relative to RLOO's (without GRPO's "
        "length term)."),
)
