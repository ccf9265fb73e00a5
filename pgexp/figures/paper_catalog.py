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
