"""Runs: gradient-estimation jobs (:mod:`~pgexp.runs.estimate`) and training jobs (:mod:`~pgexp.runs.train`)."""
