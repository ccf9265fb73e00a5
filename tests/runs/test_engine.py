"""The estimate engine (pgexp.runs.engine): stacks of replicates, the fused kernels, several pairs per job.

* the engine gives the per-replicate engine's numbers (pgexp 0d7984f, before stacking): a golden file made by that
  commit's ``run_estimate`` (``tests/data/engine_0d7984f.json``; the script that made it is in its docstring below);
* the fused kernels give the general route's numbers bit for bit, for every built-in pair they cover, on every
  objective, drawing the stack themselves or reading it;
* results depend on neither the chunking of replicates nor the other pairs of the job;
* a plug-in that is not vectorised is called once per replicate and sees a batch of its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pgexp.estimators import BASELINES, ESTIMATORS, register_estimator
from pgexp.estimators.fused import BASELINE_KINDS, RULES
from pgexp.estimators.spec import BASELINE_KERNELS, KERNEL_RULES
from pgexp.problems.problem import build_problem
from pgexp.runs import engine
from pgexp.runs.context import make_context
from pgexp.runs.estimate import check_pairs, run_estimate, run_pairs
from pgexp.sampling.rng import MAIN, Streams, stream, trajectory_seeds

GOLDEN = Path(__file__).parents[1] / "data" / "engine_0d7984f.json"

# (env, features, gamma, horizon, theta): every objective, absorbing states, shared features
PROBLEMS = {
    "finite_discounted": ("garnet:states=6,actions=3,branching=2,seed=0", None, 0.9, 6, "random:seed=1,scale=1"),
    "finite_undiscounted": ("short_corridor", None, None, 12, "zeros"),
    "episodic": ("short_corridor", None, None, "inf", "random:seed=3,scale=0.5"),
    "discounted": ("chain:length=4", None, 0.8, "inf", "random:seed=2,scale=1"),
    "features": ("garnet:states=6,actions=3,branching=2,seed=0", "random:d=3,seed=2", 0.8, 8, "random:seed=2,scale=1"),
}


def problem(key: str):
    env, feats, gamma, horizon, theta = PROBLEMS[key]
    return build_problem(env, features=feats, gamma=gamma, horizon=horizon, theta=theta)


def fused_pairs(prob) -> list[tuple[str, str]]:
    """Every built-in pair the fused kernels cover on this problem."""
    kind = make_context(prob).kind
    return [(e.name, b) for e in ESTIMATORS.values() if e.kernel and kind in e.objectives and "tabular" in e.tracks
            for b in e.baselines if BASELINES[b].kernel and not BASELINES[b].options] + [("gae", "fixed:c=0.3")]


def test_golden_per_replicate_engine():
    """Same streams, same numbers as the engine before stacking: gradients and costs exactly, the mean return to
    round-off (it is now summed in step order, as the fused kernels do, instead of by a BLAS dot product)."""
    for case in json.loads(GOLDEN.read_text()):
        prob = build_problem(case["env"], features=case["features"], gamma=case["gamma"], horizon=case["horizon"],
                             theta=case["theta"])
        t = run_estimate(prob, case["estimator"], case["baseline"], batch_size=3, replicates=4, seed=7,
                         progress=False).to_pandas()
        what = f"{case['estimator']}~{case['baseline']} on {case['env']}"
        np.testing.assert_allclose(np.stack(t.grad), np.array(case["grad"]), rtol=1e-15, atol=1e-15, err_msg=what)
        assert t.env_steps.tolist() == case["env_steps"], what
        np.testing.assert_allclose(t.batch_return_mean, case["batch_return_mean"], rtol=1e-13, atol=1e-15,
                                   err_msg=what)


@pytest.mark.parametrize("key", sorted(PROBLEMS))
@pytest.mark.parametrize("arrays", [False, True], ids=["simulated", "from-arrays"])
def test_fused_equals_general(key, arrays):
    """The fused kernels and the general route: the same numbers, bit for bit (``arrays``: a pair the kernels do not
    cover is in the job, so the kernels read the drawn stack instead of drawing it themselves)."""
    prob = problem(key)
    specs = fused_pairs(prob) + ([("reinforce", "optimal")] if arrays else [])
    pairs = check_pairs(prob, specs, 3, None, engine.PLAIN, {"lam": 0.7})
    ctx = make_context(prob)
    streams = Streams(12345, 0, 5, (MAIN,))
    fast = engine.estimate_stack(ctx, pairs, 3, streams, fit_batch_size=4)
    slow = engine.estimate_stack(ctx, pairs, 3, streams, fit_batch_size=4, fused=False)
    assert any(engine.fusable(ctx, p, engine.PLAIN) for p in pairs)
    for p, a, b in zip(pairs, fast, slow):
        for field in ("grad", "env_steps", "return_mean", "truncated"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=f"{key} {p.label} {field}")


def test_chunking_and_other_pairs_change_nothing(monkeypatch):
    """A replicate's estimate depends on its own streams only: not on how replicates are chunked into stacks, nor
    on the other pairs of the job (a job of several pairs = the pairs' own tables, one after the other)."""
    prob = problem("episodic")
    pairs = ["reinforce~constant", "reward_to_go~value_learned", "gae~value_exact", "reinforce~optimal"]
    kw = {"batch_size": 4, "replicates": 9, "seed": 3, "progress": False}
    together = run_pairs(prob, pairs, **kw).to_pandas()
    monkeypatch.setattr(engine, "CHUNK_STEPS", 1)  # one replicate per stack
    alone = [run_estimate(prob, *p.split("~"), **kw).to_pandas() for p in pairs]
    for p in pairs:
        e, b = p.split("~")
        mine = together[(together.estimator == e) & (together.baseline == b)]
        ref = alone[pairs.index(p)]
        np.testing.assert_array_equal(np.stack(mine.grad), np.stack(ref.grad), err_msg=p)
        np.testing.assert_array_equal(mine.env_steps, ref.env_steps, err_msg=p)


def test_stack_streams_are_the_replicates_streams():
    """A stack's trajectory seeds are each replicate's own (compiled and Python paths alike)."""
    for path in ((MAIN,), (MAIN, 2)):
        s = Streams(2**127 + 99, 5, 4, path)
        loop = np.concatenate([trajectory_seeds(s.seq(k), 3) for k in range(4)])
        np.testing.assert_array_equal(s.trajectory_seeds(3), loop)
    assert Streams(7, 2, 1).seq(0).spawn_key == stream(7, 2, MAIN).spawn_key


def test_plugin_not_vectorised_sees_one_replicate():
    """A plug-in registered without ``vectorized`` gets one replicate's batch per call; its numbers are those of the
    same formula vectorised."""
    calls = []

    def mine(batch):
        calls.append(batch.blocks)
        return batch.discount * (batch.returns - batch.baseline)

    register_estimator("engine_test_rtg", mine, baselines=("none", "value_exact"), objectives=("finite",))
    try:
        prob = problem("finite_discounted")
        kw = {"batch_size": 3, "replicates": 6, "seed": 1, "progress": False}
        t = run_estimate(prob, "engine_test_rtg", "value_exact", **kw).to_pandas()
        ref = run_estimate(prob, "reward_to_go", "value_exact", **kw).to_pandas()
    finally:
        ESTIMATORS.pop("engine_test_rtg")
    assert set(calls) == {1} and len(calls) == 6
    np.testing.assert_allclose(np.stack(t.grad), np.stack(ref.grad), rtol=1e-12, atol=1e-15)


def test_kernel_names_match_the_spec():
    """The spec's metadata-only lists name exactly what the kernels implement."""
    assert tuple(RULES) == KERNEL_RULES
    assert tuple(BASELINE_KINDS) == BASELINE_KERNELS


def test_compile_lists_every_family_and_warms_one(tmp_path):
    """``pgexp compile FAMILY --output`` writes its record; the families are what the workflow's jobs wait on."""
    from pgexp.cli import main
    from pgexp.study.warmup import FAMILIES

    assert set(FAMILIES) == {"estimate", "train", "exact", "analysis"}
    out = tmp_path / "analysis.json"
    assert main(["compile", "analysis", "--output", str(out)]) == 0
    assert json.loads(out.read_text())["compiled"] == "analysis"


def test_the_estimate_warm_up_runs_ungrouped():
    """``pgexp compile estimate`` runs every built-in pair it lists without ``--group-size``: group estimators
    (which refuse to run ungrouped) are left out, every other tabular estimator is in."""
    from pgexp.study.warmup import built_in_pairs, warm_estimate

    listed = {p.split("~")[0] for kind in ("finite", "episodic", "discounted") for p in built_in_pairs(kind)}
    grouped = {name for name, e in ESTIMATORS.items() if e.min_group_size is not None}
    assert grouped and not listed & grouped and {"reinforce", "reward_to_go", "gae"} <= listed
    warm_estimate()
