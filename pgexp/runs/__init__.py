"""Runs: gradient-estimation jobs (:mod:`~pgexp.runs.estimate`), training jobs (:mod:`~pgexp.runs.train`), and the
generic checks of a registered estimator that run estimates (:mod:`~pgexp.runs.check`, ``pgexp check-estimator``)."""
