"""The compiled training engine's codes (:mod:`pgexp.runs.train_kernels`): the step weights, baselines,
optimisers, updates and value features it implements, by the names a job gives them, and why a run stopped."""

from __future__ import annotations

REINFORCE, REWARD_TO_GO, EXACT, REWARD_TO_GO_COMMON, GAE, GAE_COMMON, ACTOR_CRITIC = range(7)
# the step weights this engine implements, by the name an estimator's spec gives as its ``training_kernel``
KERNELS = {"reinforce": REINFORCE, "reward_to_go": REWARD_TO_GO, "reward_to_go_common": REWARD_TO_GO_COMMON,
           "gae": GAE, "gae_common": GAE_COMMON, "actor_critic": ACTOR_CRITIC}
EXACT_ESTIMATOR = "exact"  # ascend the exact gradient (not a registered estimator)
KERNEL_PARAMS = {"gae": ("lam",), "gae_common": ("lam",)}  # the hyperparameters a kernel reads
PER_STEP_KERNELS = ("reinforce", "reward_to_go", "reward_to_go_common")
NONE, CONSTANT, VALUE_EXACT, VALUE_ONLINE, OPTIMAL_EXACT, FIXED, OPTIMAL_NPG_EXACT = range(7)
BASELINE_CODES = {"none": NONE, "constant": CONSTANT, "value_exact": VALUE_EXACT, "value_online": VALUE_ONLINE,
                  "optimal_exact": OPTIMAL_EXACT, "fixed": FIXED, "optimal_npg_exact": OPTIMAL_NPG_EXACT}
SGA, ADAM, NPG = 0, 1, 2
OPTIMIZER_CODES = {"sga": SGA, "adam": ADAM, "npg": NPG}
PER_BATCH, PER_STEP = 0, 1
UPDATE_CODES = {"per_batch": PER_BATCH, "per_step": PER_STEP}
VALUE_FEATURE_CODES = {"onehot": 0, "constant": 1}
NOT_FINITE, TRUNCATED, BAD_UPDATE = 1, 2, 3
DIVERGENCE_REASONS = {0: "", NOT_FINITE: "J not finite or policy does not terminate",
                      TRUNCATED: "episode hit the step cap", BAD_UPDATE: "update not finite"}
