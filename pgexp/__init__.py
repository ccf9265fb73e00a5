"""pgexp: how noisy are policy-gradient estimators, and why -- measured against exact gradients.

Python API (the CLI calls the same functions)::

    from pgexp.problems.problem import build_problem
    from pgexp import exact
    prob = build_problem("short_corridor", theta="random:seed=0,scale=0.5")
    J, grad, ev = exact.gradient(prob.mdp, prob.policy, prob.theta)
"""

__version__ = "0.1.0"
