"""The built-in figures: one registration each, with the figure's one caption.

Draw functions are named ``"module:function"`` (imported when a figure is drawn), so this module
loads without matplotlib.  Captions are plain text that is also valid reStructuredText (the
Snakemake report renders them); they use the labels the figures print.
"""

from __future__ import annotations

from pgexp.figures.registry import register_figure

_METRICS = ("env_name", "estimator", "baseline", "sweep")
_CURVES = ("env_name", "estimator", "baseline", "step_size", "iteration", "progress", "env_steps")
_SUMMARY = ("env_name", "estimator", "baseline", "step_size", "selected")
_BCA = "95% BCa bootstrap intervals over replicates"
OPTIMAL_NOTE = ("The baseline “fitted per-coord. b̂” is Greensmith et al.'s per-coordinate constant "
                "b̂ₖ = Σ uₖvₖ / Σ vₖ², fitted on an independent batch, not the exact optimum.")
CLIPPED = ("An interval that reaches further beyond the points than a quarter of their range (at least a quarter "
           "decade on a log axis) is cut at the axis and ends in a small triangle pointing the way it goes on, so "
           "that one heavy-tailed interval cannot flatten the rest.")
COSINE_DEF = ("cosine: the mean over batches of cos(ĝ, ∇J) between the batch estimate ĝ and the exact gradient "
              "(dimensionless, 1 = aligned; it depends on N)")

register_figure(
    name="variance_ratios",
    draw="pgexp.figures.variance_ratios:draw",
    tables={"metrics": "metrics", "comparisons": "comparisons"},
    optional=("comparisons",),
    columns={"metrics": (*_METRICS, "var_per_traj"),
             "comparisons": ("env_name", "estimator_a", "baseline_a", "estimator_b", "baseline_b", "var_ratio",
                             "var_ratio_lo", "var_ratio_hi")},
    order=5,  # the report's Summary opens with it
    caption=(
        "Per-trajectory variance tr Cov[g] of each estimator and baseline relative to REINFORCE with no baseline "
        "(dashed line at 1; log scale, below 1: less noisy per trajectory), at each environment's reference cell. "
        "One mark per environment (colour) and policy point θ (marker); rows: the implementable pairs, lowest "
        "median ratio over the environments first (black bar: the median). Bars: the paired 95% BCa interval of "
        "the ratio from the paired comparisons (one bootstrap resample of the common replicates for both "
        "estimators); a mark without a bar is the point ratio of the metrics table, with no interval, where a "
        "study has no paired comparison for it. Hollow, in their own block: oracles, which read the exact V, Q, "
        f"A or b*, shown as references and not ranked. {CLIPPED}"),
)

register_figure(
    name="variance_vs_horizon",
    draw="pgexp.figures.variance_vs_horizon:draw",
    tables={"metrics": "metrics", "slopes": "slopes", "exact": "exact_variance"},
    optional=("slopes", "exact"),
    columns={"metrics": (*_METRICS, "horizon", "batch_size", "var_per_traj"),
             "slopes": ("env_name", "estimator", "baseline", "slope", "intercept"),
             "exact": ("env_name", "estimator", "baseline", "horizon", "var_per_traj_exact")},
    order=10,
    caption=(
        "Per-trajectory variance tr Cov[g] of one trajectory's gradient estimate g (squared gradient-norm units, "
        "log scale) against the horizon H (environment steps, log scale). Rows: environments (and policy points "
        "θ), each with its own y range; columns: estimators; colours and markers: baselines. Points: Monte-Carlo "
        f"estimates at the reference batch size with {_BCA}; dashed lines: least-squares fits in log-log "
        "coordinates, whose slopes (with 95% CIs) are in the report's slope table; thin solid lines, where "
        "present: the exact variance; dotted grey: slope 3, the lecture's H³ claim for REINFORCE. A variance of "
        f"exactly zero has no place on a log axis and is not drawn. {CLIPPED} {OPTIMAL_NOTE}"),
)

register_figure(
    name="quality_vs_batch_size",
    draw="pgexp.figures.quality_vs_batch_size:draw",
    tables={"metrics": "metrics", "exact_batch": "exact_variance"},
    optional=("exact_batch",),
    columns={"metrics": (*_METRICS, "batch_size", "cosine", "rel_mse", "mse"),
             "exact_batch": ("env_name", "estimator", "baseline", "batch_size")},
    order=20,
    caption=(
        "Quality of the batch estimate ĝ (the mean of N trajectories' estimates) against the batch size N "
        "(log scale), one column per environment, five to a block (more environments continue in a block below; "
        "six or more to a block where blocks of five would not fit a page); "
        f"a metric has the same y range in every column. Top: {COSINE_DEF}. Second row: relative MSE "
        "‖ĝ − ∇J‖²/‖∇J‖² (log scale), which is 1/SNR for an unbiased estimator, SNR = ‖∇J‖²/tr Cov[ĝ] of the "
        "batch mean; the dotted line is the 1/N rate of an unbiased estimator. Where the metrics have it, the "
        "third and fourth rows show the per-trajectory variance tr Cov[g] beside the work-normalised variance "
        "tr Cov[ĝ] × env steps: the variance of an estimate times the environment steps it cost, fitting batches "
        "included, so that at an equal sample budget the lower one wins. Each estimator is drawn once, with its "
        "lowest-MSE baseline at the reference cell (marker = baseline); REINFORCE with no baseline is drawn "
        "dashed with open markers for comparison. Thin solid lines, where present: exact values. "
        f"Bands: {_BCA}. {CLIPPED} {OPTIMAL_NOTE}"),
)

register_figure(
    name="bias_variance",
    draw="pgexp.figures.bias_variance:draw",
    tables={"metrics": "metrics"},
    columns={"metrics": (*_METRICS, "trace_cov", "bias_sq", "mse")},
    order=30,
    caption=(
        "The mean squared error of each estimator's batch estimate ĝ at the reference horizon and batch size, "
        "and its squared bias: MSE = E‖ĝ − ∇J‖² = tr Cov[ĝ] + ‖E ĝ − ∇J‖². One panel per environment (and policy "
        "point θ), up to five to a row, panels with the same estimator~baseline pairs in one block; one row per "
        "pair the block's panels have; the reference cell is stated once, and on the panels whose cell differs; "
        "squared gradient-norm units on a log scale, as "
        f"points because a bar's length on a log axis means nothing. Filled: the MSE with {_BCA}. Open, same "
        "colour: the squared bias ‖E ĝ − ∇J‖² with its interval, where that interval excludes 0 (the squared "
        "bias is an unbiased estimate, which scatters around 0 for an unbiased estimator). The gap between the "
        "two is the variance's share: touching, the bias is the MSE; a decade apart, a tenth of it. "
        f"{CLIPPED} {OPTIMAL_NOTE}"),
)

register_figure(
    name="learning_curves",
    draw="pgexp.figures.learning_curves:draw",
    tables={"curves": "learning_curves", "summary": "training_summary"},
    columns={"curves": _CURVES, "summary": _SUMMARY},
    section="training",
    order=40,
    caption=(
        "Learning curves of stochastic gradient ascent, one panel per environment: normalised progress "
        "(J − J₀)/(J* − J₀) (dimensionless; 0 = the starting policy, 1 = the optimal policy, J* the optimum over "
        "all policies) against the cumulative number of environment steps sampled (log scale where they span more "
        "than two decades). Lines: mean over the seeds still running; bands: 95% percentile-bootstrap intervals "
        "over seeds. Each estimator and baseline is shown at its selected step size η (in the legend): the one "
        "with the highest final progress (mean over the last 10% of iterations) among those where no seed "
        "diverged; ties: the smaller. “k/n η diverged” counts the step sizes tried with at least one diverged "
        "seed; a pair whose every step size diverged is drawn dashed at its smallest step size, × marking where "
        "its last seed stopped. Dotted line: the progress threshold of “steps to threshold”. The exact-gradient "
        "path uses no environment steps and is not drawn."),
)

register_figure(
    name="performance_profiles",
    draw="pgexp.figures.performance_profiles:draw",
    tables={"profiles": "performance_profiles"},
    columns={"profiles": ("estimator", "baseline", "tau", "fraction", "fraction_lo", "fraction_hi")},
    section="training",
    order=45,
    caption=(
        "Performance profiles (Agarwal et al. 2021, score distributions): for each estimator and baseline, the "
        "fraction of its training runs whose final progress (J − J₀)/(J* − J₀) (mean over the last 10% of "
        "iterations; dimensionless, 1 = the optimal policy) exceeds τ, against τ from 0 to 1. Runs: the reported "
        "seeds of every training environment at the step size selected there, each environment weighted equally; "
        "a run that diverged counts as below every τ. Bands: 95% stratified percentile-bootstrap intervals (seeds "
        "resampled within each environment); where two bands overlap, these seeds do not order the two. A curve "
        "further up and to the right is better. Dotted line: τ = 0.9, where the report compares them."),
)

register_figure(
    name="variance_along_training",
    draw="pgexp.figures.variance_along_training:draw",
    tables={"metrics": "variance_along_training"},
    columns={"metrics": ("env_name", "estimator", "baseline", "var_per_traj", "cosine")},
    section="training",
    order=50,
    caption=(
        "Gradient-estimate quality along training, one column per environment: the estimators are evaluated at "
        "checkpoints of the deterministic exact gradient-ascent path (x: the checkpoint's iteration), so every "
        "estimator is measured at the same policies. Top: per-trajectory variance tr Cov[g] (squared "
        f"gradient-norm units, log scale); bottom: {COSINE_DEF}. Error bars: 95% bootstrap intervals; points "
        f"are dodged sideways for legibility. {CLIPPED}"),
)

register_figure(
    name="deep_gradient_quality",
    draw="pgexp.figures.deep_gradient_quality:draw",
    tables={"metrics": "deep_quality"},
    columns={"metrics": (*_METRICS, "batch_size", "cosine", "rel_mse", "mse")},
    section="deep",
    order=60,
    caption=(
        "Neural policies (torch MLP) on continuous-state Gymnasium tasks, where no exact gradient exists: the "
        "batch estimate ĝ is compared with a Monte-Carlo reference gradient, the mean of a large independent "
        "batch (its own relative standard error is in the report). Top: cosine to the Monte-Carlo reference, the "
        "mean over batches of cos(ĝ, reference) (it depends on N); bottom: relative MSE to the reference, "
        "‖ĝ − reference‖²/‖reference‖² (log scale); both against the batch size N. Each estimator with its "
        f"lowest-MSE baseline; REINFORCE with no baseline dashed, for comparison. Bands: {_BCA}. {CLIPPED}"),
)

register_figure(
    name="deep_learning_curves",
    draw="pgexp.figures.deep_learning_curves:draw",
    tables={"curves": "deep_learning_curves", "summary": "deep_training_summary"},
    columns={"curves": _CURVES, "summary": _SUMMARY},
    section="deep.training",
    order=70,
    caption=(
        "Neural policies on continuous-state tasks: progress of the evaluation return (R − R₀)/(R_max − R₀) "
        "against environment steps, each estimator and baseline at its selected step size η (the rule of the "
        "learning-curves figure); mean over seeds, 95% bootstrap bands."),
)

register_figure(
    name="gae_lambda_tradeoff",
    draw="pgexp.figures.gae_lambda_tradeoff:draw",
    tables={"tradeoff": "gae_lambda_tradeoff"},
    optional=("tradeoff",),  # made only when an environment studies GAE
    columns={"tradeoff": ("value", "lam", "batch_size", "bias_sq", "trace_cov", "mse", "best")},
    order=35,
    caption=(
        "Exact (not sampled) squared bias, variance and MSE of the GAE estimator against its parameter λ. For "
        "the batch estimate ĝ, the mean of N trajectories: the squared bias ‖E ĝ − ∇J‖² (black dashed; the same "
        "for every N), the variance tr Cov[ĝ] = tr Cov[g]/N (dotted) and the MSE = bias² + variance (solid), in "
        "squared gradient-norm units on a log scale, one colour per batch size N; a dot marks the best λ (least "
        "MSE) for each N. Columns: the value function GAE uses — V = 0, V^π plus a fixed random error (a "
        "perturbed critic) and the exact V^π (unbiased at every λ); rows: environments (and policy points θ), at "
        "the reference horizon. Values below three decades under the least MSE are clipped to the axis."),
)

register_figure(
    name="practice_audit",
    draw="pgexp.figures.practice_audit:draw",
    tables={"audit": "practice_audit", "normalization": "practice_audit_normalization"},
    optional=("normalization",),
    columns={"audit": ("env_name", "choice", "variant", "reference", "estimator", "batch_size", "rel_bias_sq",
                       "rel_mse", "cosine_mean"),
             "normalization": ("estimator", "baseline", "batch_size", "enumerated", "rel_bias_sq_exact")},
    section="practice_audit",
    order=80,
    caption=(
        "What common implementation choices do to the policy gradient, against the batch size N (log scale). "
        "Rows: a choice on one problem — dropping the γʰ factor (reward_to_go_common, gae_common), normalising "
        "advantages per batch (as PPO code does, not rescaled), or cutting episodes at T steps with no, exact or "
        "learned bootstrap value — "
        "beside the textbook estimator it replaces (black; same baseline, same trajectories); colour: the variant, "
        "marker: the estimator it modifies. Columns: squared bias ‖E ĝ − ∇J‖² and MSE E‖ĝ − ∇J‖², both relative "
        "to ‖∇J‖² (log scale), and the cosine of the mean cos(E ĝ, ∇J) (1: the estimator points the right way on "
        "average). A normalised row's mean is not ∇J's length (its N → ∞ limit is E g/(s + ε)), so its first two "
        "panels show instead the effective step size k = ⟨ĝ, ∇J⟩/‖∇J‖² over batches (median, bars from the 10 % to "
        "the 90 % quantile, log scale) and the angle of the mean to ∇J, beside the textbook estimator's. "
        f"Points: Monte Carlo with {_BCA} (a squared bias estimated below zero is not drawn); thin lines: "
        f"exact values where the exact engine has them. {CLIPPED} Last row, where present: the exact squared bias "
        "of normalised advantages against its N → ∞ limit L, relative to ‖L‖², on problems whose batches can be "
        "enumerated, with the "
        "fitted rate in the key beside it; points: Monte Carlo."),
)
