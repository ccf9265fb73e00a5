"""Analysis of run tables: estimator metrics with bootstrap CIs, variance-vs-horizon slopes, paired
comparisons and learning curves."""
