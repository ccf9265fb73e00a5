"""Sampling: job identity -> random streams (:mod:`~pgexp.sampling.rng`) -> trajectories
(:mod:`~pgexp.sampling.tabular`: the compiled tabular sampler and the lecture's roll-in/roll-out)."""
