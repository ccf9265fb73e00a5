"""Definitions shown in the report's glossary: what each quantity the findings use means, with units."""

from __future__ import annotations

GLOSSARY: tuple[tuple[str, str], ...] = (
    ("gradient estimate g", "One trajectory's estimate of ∇J; a batch estimate is the mean of N of them."),
    (
        "per-trajectory variance",
        "tr Cov of one trajectory's estimate (squared gradient norm), estimated as N × tr Cov "
        "of the batch mean over M independent batches.",
    ),
    (
        "work-normalised variance",
        "tr Cov of the batch estimate × the mean environment steps it cost, every fitting "
        "batch included (squared gradient norm × steps). With a budget of W steps one averages W/s batches, whose mean "
        "has variance tr Cov · s / W: the smaller product wins at any equal budget (Glynn & Whitt 1992).",
    ),
    ("bias²", "‖E g − ∇J‖², estimated without bias (‖mean g − ∇J‖² − tr Cov/M; may be slightly negative)."),
    (
        "length k, direction",
        "k = ⟨E g, ∇J⟩/‖∇J‖², the mean's length along ∇J (1: unbiased). bias²/‖∇J‖² = (k − 1)² + ‖b⊥‖²/‖∇J‖²: "
        "(k − 1)² is length, a different step size that the learning rate absorbs; b⊥, the part orthogonal to ∇J, "
        "is direction (and the angle between E g and ∇J).",
    ),
    (
        "variance at equal mean length",
        "The per-trajectory variance of g/k: an estimator whose mean is twice as long has 4× the variance and is no "
        "noisier for it, so variances of estimators of different length are compared after dividing by k².",
    ),
    (
        "oracle",
        "An estimator~baseline that reads exact quantities no algorithm has (the exact V, Q, A or b*; registry flag "
        "oracle): shown as a reference beside the rankings, never ranked with the implementable pairs.",
    ),
    (
        "tie",
        "A winner whose 95% interval overlaps another pair's is declared tied with it.",
    ),
    ("MSE, relative MSE", "Mean of ‖g − ∇J‖² over batch estimates; divided by ‖∇J‖²."),
    (
        "cosine",
        "Mean over batches of cos(g, ∇J). It depends on N: a larger batch points better, so compare cosines "
        "only at the same N.",
    ),
    ("SNR", "‖∇J‖² / tr Cov of the batch mean: signal-to-noise ratio of the batch estimate (grows with N)."),
    (
        "fitted optimal baseline",
        "Greensmith, Bartlett & Baxter's per-coordinate constant b_k = E[u_k v_k] / E[v_k²], "
        "fitted on an independent batch (so it costs environment steps and is noisy at small N); the exact oracle b*, "
        "where exact moments exist, is shown beside it.",
    ),
    ("registry unbiased", "The estimator registry's claim that E g = ∇J for this estimator~baseline."),
    (
        "bias flag, confirmed",
        "Flag: the largest per-coordinate |mean − ∇J| / SE exceeds the Bonferroni bound "
        "norm.isf(1e-4/(2·dim)). Confirmed: a rerun with 10× the replicates on an independent random stream is flagged "
        "too. An unconfirmed flag is a false alarm of the normal approximation (heavy tails), not a bias.",
    ),
    (
        "95% interval",
        "For variances and SNR: studentised bootstrap on the log scale over the M batches; for bias², "
        "MSE and cosine: BCa bootstrap; for slopes: percentile bootstrap.",
    ),
    (
        "ESS",
        "(Σq)²/Σq² with q the squared deviation of each batch: how many batches carry the variance. Small values "
        "mean rare trajectories dominate it.",
    ),
    (
        "paired ratio",
        "tr Cov(A)/tr Cov(B) from estimators computed on the same trajectories, with a bootstrap that "
        "resamples batches jointly: narrower than comparing two separate intervals, and the only ratio interval given.",
    ),
    (
        "Holm's correction",
        "Step-down adjustment of p-values within a family of comparisons (all pairs of a cell) that "
        "holds the family-wise error rate at 5% for any dependence.",
    ),
    (
        "exact local exponent",
        "d log Var / d log H between consecutive horizons, from the exact variances: the "
        "exponent of the power law at that horizon.",
    ),
    (
        "H³ assumptions",
        "Rewards the policy can collect all of one sign, γ = 1, and no episode ending before H: "
        "then returns grow like H and REINFORCE's variance like H³.",
    ),
    ("progress", "(J − J₀)/(J* − J₀): 0 at the starting policy, 1 at the optimum over all policies."),
)
