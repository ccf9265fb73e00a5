"""The compiled loops of the exact engine (pgexp/exact/kernels.py) against the numpy forms they replace.

The kernels evaluate every operation in the order numpy and scipy do (einsum's two-lane dot, pairwise sums,
scipy's CSR order; matrix products stay BLAS calls), so the results must be *identical*, not merely close:
``np.array_equal``, sign of zero included.  A failure here means a kernel no longer adds in numpy's order
(for instance a numpy build whose einsum or summation kernels differ): the numbers would then differ from the
numpy forms at round-off, which the study's bit-for-bit reruns would show.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from exact_cases import CASES, random_problem

from pgexp.exact import batch, kernels, model, values
from pgexp.exact import decomposition as dc
from pgexp.exact import families as fam
from pgexp.exact import moments as mo
from pgexp.exact import normalization as nz
from pgexp.exact import recursion as rec
from pgexp.exact.catalogue import COMMON_ESTIMATORS
from pgexp.exact.model import make_setup
from pgexp.problems.problem import build_problem

GARNET = "garnet:states=20,actions=4,branching=3,seed=0"


def identical(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


def _setups():
    """Every objective the recursion covers, tabular and dense features (d = 1 and 2: einsum's special cases),
    absorbing states, and the study's garnet."""
    for name, kw, trunc in CASES:
        yield name, make_setup(random_problem(**kw), truncation=trunc)
    yield "garnet-study", make_setup(build_problem(GARNET, theta="random:seed=1,scale=1", gamma=1.0, horizon=12))
    yield "garnet-d1", make_setup(build_problem("garnet:states=5,actions=3,branching=2,seed=3",
                                                features="random:d=1,seed=2", theta="random:seed=1,scale=1",
                                                gamma=0.7, horizon=6))
    yield "garnet-d2-H1", make_setup(build_problem("garnet:states=5,actions=3,branching=2,seed=3",
                                                   features="random:d=2,seed=2", theta="random:seed=1,scale=1",
                                                   gamma=0.7, horizon=1))
    yield "corridor", make_setup(build_problem("short_corridor", theta="random:seed=2,scale=1", horizon=9))


SETUPS = list(_setups())


def _families(st):
    V = st.value_steps
    out = {"reinforce": fam.family(st, "reinforce"), "reinforce-b": fam.family(st, "reinforce", b0=V[0]),
           "rtg-V": fam.family(st, "reward_to_go", b_steps=V[:st.L]), "adv": fam.family(st, "advantage_exact"),
           "gae-V": fam.family(st, "gae", values=V, lam=0.8), "gae0": fam.family(st, "gae", lam=0.0),
           "direction": fam.direction(st, "reward_to_go")}
    if st.kind != "discounted":
        out["common-V"] = fam.family(st, "reward_to_go_common", b_steps=V[:st.L])
        out["gae-common"] = fam.family(st, "gae_common", values=V, lam=0.5)
    return out


@pytest.mark.parametrize("name,st", SETUPS, ids=[s[0] for s in SETUPS])
def test_recursion_is_its_numpy_form_bit_for_bit(name, st):
    fams = _families(st)
    for key, X in fams.items():
        for full in (True, False):
            fast, ref = rec.moments(st, X, full=full), rec.moments_reference(st, X, full=full)
            assert all(identical(a, b) for a, b in zip(fast, ref)), (name, key, full)
        assert identical(rec.step_means(st, X), rec.step_means_reference(st, X)), (name, key)
        assert identical(rec.mean(st, X), rec.moments_reference(st, X, full=False)[0]), (name, key)
        bw, bw_ref = rec.backward(st, X, fams["gae-V"]), rec.backward_reference(st, X, fams["gae-V"])
        assert all(identical(getattr(bw, f), getattr(bw_ref, f)) for f in ("M1X", "M1Y", "M2", "N1X", "N1Y", "NXY"))
    for X, Y in ((fams["reinforce"], fams["direction"]), (fams["reinforce-b"], fams["gae-V"])):
        for full in (True, False):
            fast, ref = rec.moments(st, X, Y, full=full), rec.moments_reference(st, X, Y, full=full)
            assert all(identical(a, b) for a, b in zip(fast, ref)), (name, full)


def test_recursion_blocks_of_steps_change_nothing(monkeypatch):
    """The forward pass multiplies a block of steps at a time; one step per block gives the same numbers."""
    st = make_setup(build_problem(GARNET, theta="zeros", gamma=1.0, horizon=30))
    X = fam.family(st, "reinforce")
    whole = rec.moments(st, X)
    monkeypatch.setattr(rec, "BLOCK_BYTES", 1)
    assert all(identical(a, b) for a, b in zip(whole, rec.moments(st, X)))
    assert identical(rec.step_means(st, X), rec.step_means_reference(st, X))


PAIRS = [("reinforce", "none"), ("reinforce", "constant"), ("reinforce", "optimal"), ("reinforce", "fixed:c=0.5"),
         ("reward_to_go", "value_exact"), ("reward_to_go", "optimal"), ("advantage_exact", "none"),
         ("gae", "value_exact"), ("gae", "none"), ("reward_to_go_common", "value_exact"), ("gae_common", "none")]


@pytest.mark.parametrize("name,st", SETUPS, ids=[s[0] for s in SETUPS])
def test_doob_decomposition_is_its_numpy_form_bit_for_bit(name, st):
    for est, base in PAIRS:
        if est in COMMON_ESTIMATORS and st.kind == "discounted":
            continue
        fast = dc.doob_decomposition(st, est, base, lam=0.9)
        ref = dc.doob_decomposition_reference(st, est, base, lam=0.9)
        assert all(identical(fast[k], ref[k]) for k in ref), (name, est, base)


FINITE = [random_problem(seed, gamma=g, horizon=h, d=d) for seed, (g, h, d) in
          enumerate([(1.0, 4, None), (0.9, 7, 3), (0.5, 1, 1), (1.0, 12, 2)])]
FINITE += [build_problem(GARNET, theta="random:seed=1,scale=1", gamma=1.0, horizon=40),
           build_problem("chain:length=6", theta="zeros", gamma=1.0, horizon=25)]


@pytest.mark.parametrize("problem", FINITE, ids=[f"finite{i}" for i in range(len(FINITE))])
@pytest.mark.parametrize("store", [True, False], ids=["state-dist", "no-state-dist"])
def test_finite_evaluation_is_values_evaluate_bit_for_bit(problem, store, monkeypatch):
    if not store:  # too large to keep the per-step state distribution
        monkeypatch.setattr(values, "STORE_DIST_MAX", 0)
    pi = problem.policy.probs(problem.theta)
    fast, ref = model.evaluate_finite(problem.mdp, pi), values.evaluate(problem.mdp, pi)
    for f in ("V", "Q", "A", "J", "visits", "occupancy", "cotangent", "V_steps"):
        assert identical(getattr(fast, f), getattr(ref, f)), f
    assert (fast.state_dist is None) == (not store) and (ref.state_dist is None) == (not store)
    if store:
        assert identical(fast.state_dist, ref.state_dist)


@pytest.mark.parametrize("n", [*range(1, 40), 63, 64, 65, 127, 128, 129, 136, 137, 249, 253, 255, 256, 257, 489,
                               511, 512, 1000, 4097])
def test_einsum_dot_and_pairwise_sum_follow_numpy(n):
    rng = np.random.default_rng(n)
    x, y = (rng.standard_normal((3, n)) * np.exp(3 * rng.standard_normal((3, n))) for _ in range(2))
    assert identical([kernels.einsum_dot(x[i], y[i]) for i in range(3)], np.einsum("sa,sa->s", x, y))
    assert identical([kernels.pairwise_sum(x[i]) for i in range(3)], np.add.reduce(x, axis=1))
    assert identical(kernels.pairwise_sum(x[0]), np.sum(x[0]))


@pytest.mark.parametrize("d", [1, 2, 3, 12, 80, 128, 129, 255, 300])
def test_cosine_draws_are_numpys(d):
    rng = np.random.default_rng(d)
    z, m, root = rng.standard_normal((50, d)), 3 * rng.standard_normal(d), np.exp(rng.standard_normal(d))
    x, norms = np.empty((50, d)), np.empty(50)
    kernels.shifted_rows(m, root, z, x, norms)
    ref = m[None, :] + root[None, :] * z
    assert identical(x, ref) and identical(norms, np.linalg.norm(ref, axis=1))


@pytest.mark.parametrize("n,N", [(1, 4), (2, 1), (3, 2), (3, 9), (3, 130), (5, 6), (40, 3)])
def test_batch_multisets_are_itertools_order_and_multinomial(n, N):
    from scipy.special import gammaln

    probs = np.random.default_rng(n * 100 + N).dirichlet(np.ones(n))
    if n > 2:
        probs[1] = 0.0  # an impossible outcome: log 0 = -inf, probability 0
    members, p = batch.batch_multisets(probs, N)
    ref = np.array(list(itertools.combinations_with_replacement(range(n), N)), dtype=np.int64).reshape(-1, N)
    assert np.array_equal(members, ref)
    rank = np.ones(ref.shape)
    for j in range(1, N):
        rank[:, j] = np.where(ref[:, j] == ref[:, j - 1], rank[:, j - 1] + 1.0, 1.0)
    with np.errstate(divide="ignore"):
        logp = np.log(probs)[ref].sum(axis=1) + gammaln(N + 1) - np.log(rank).sum(axis=1)
    assert identical(p, np.exp(logp))


@pytest.mark.parametrize("env,kw,est,base", [
    ("garnet:states=1,actions=3,branching=1,seed=0", dict(gamma=1.0, horizon=1), "reward_to_go", "value_exact"),
    ("garnet:states=2,actions=2,branching=2,seed=0", dict(gamma=0.9, horizon=3), "reward_to_go_common", "value_exact"),
    ("garnet:states=2,actions=2,branching=2,seed=0", dict(gamma=0.9, horizon=2, features="random:d=1,seed=3"),
     "gae", "none")])
def test_normalized_estimates_are_their_numpy_form(env, kw, est, base):
    st = make_setup(build_problem(env, theta="random:seed=0,scale=1", **kw))
    ps = nz.path_statistics(st, est, base, 0.9)
    for N in (1, 2, 3, 5, 130):
        if batch.count_multisets(ps.probs.size, N) > 200_000:
            continue
        members, _ = batch.batch_multisets(ps.probs, N)
        assert identical(nz.normalized_estimates(ps, members, N, 0.7),
                         nz.normalized_estimates_reference(ps, members, N, 0.7)), N


def test_pairs_sharing_a_setup_get_the_numbers_of_a_fresh_one():
    """Moments kept on a set-up (est~none, the u/v/R moments of optimal and constant, the roll-out moments) are
    reused, never modified: every pair computed on one shared set-up equals the same pair on a fresh one."""
    problem = build_problem(GARNET, theta="random:seed=1,scale=1", gamma=1.0, horizon=8)
    shared = make_setup(problem)
    pairs = [(e, b) for e, bs in mo.SUPPORTED.items() for b in bs if b not in ("fixed", "value_table")]
    for est, base in pairs + pairs[::-1]:
        a = mo.trajectory_moments(shared, est, base, method="dp")
        a.batch(4), a.batch(16)
        b = mo.trajectory_moments(make_setup(problem), est, base, method="dp")
        assert identical(a.mean, b.mean) and identical(a.cov, b.cov), (est, base)
    assert any(k[0] == "uvr_dp" for k in shared.memo) and any(k[0] == "family_moments" for k in shared.memo)


def test_exact_curves_are_those_of_the_numpy_forms(monkeypatch):
    """End to end: exact_curves with the compiled loops equals exact_curves with every numpy form swapped back in
    (recursion, finite evaluation), cosine predictions included."""
    def build(h):
        return build_problem("garnet:states=6,actions=3,branching=2,seed=4", theta="random:seed=2,scale=1",
                             gamma=1.0, horizon=h)

    pairs = [(e, b) for e, bs in mo.SUPPORTED.items() for b in bs if b not in ("fixed", "value_table")]
    fast = mo.exact_curves(build, [3, 7], pairs, [2, 16], lam=0.9)
    monkeypatch.setattr(rec, "backward", rec.backward_reference)
    monkeypatch.setattr(rec, "_pass", rec._pass_reference)
    monkeypatch.setattr(rec, "step_means", rec.step_means_reference)
    monkeypatch.setattr(model, "evaluate_finite", values.evaluate)
    ref = mo.exact_curves(build, [3, 7], pairs, [2, 16], lam=0.9)
    assert len(fast) == len(ref)
    for a, b in zip(fast, ref):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == b[k] or identical(a[k], b[k]), (a["estimator"], a["baseline"], k)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normal_draws_are_numpys_stream(seed):
    """numba's ziggurat on the generator's bit stream: the values of rng.standard_normal, chunk after chunk (rare
    branches included: half a million draws take the tail and the wedges a few thousand times)."""
    rng, ref = (np.random.default_rng(np.random.SeedSequence(seed)) for _ in range(2))
    for shape in ((3333, 80), (667, 80), (1, 1), (0, 5)):
        z = np.empty(shape)
        kernels.standard_normals(rng, z)
        assert identical(z, ref.standard_normal(shape))
    assert identical(rng.random(3), ref.random(3))  # both generators left in the same state


@pytest.mark.parametrize("seed", range(4))
def test_transposed_arrays_are_scipys(seed):
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    M = sp.random_array((30, 7), density=0.3, rng=rng, format="csr")
    M.sum_duplicates()
    ref = M.T.tocsr()
    got = model.transpose_arrays(model.csr_arrays(M), 7)
    for a, b in zip(got, (ref.indptr, ref.indices, ref.data)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("d", [2, 30, 1200])
@pytest.mark.parametrize("leave_one_out", [False, True])
def test_cosine_prediction_compiled_or_not_is_the_same(d, leave_one_out, monkeypatch):
    """normal_cosine draws compiled from COMPILED_DRAWS numbers on, with numpy below: the same predictions."""
    rng = np.random.default_rng(d)
    A = rng.standard_normal((d, d))
    cov, mean = A @ A.T / d, rng.standard_normal(d)
    grad = mean + 0.3 * rng.standard_normal(d)
    loo = batch.LooMoments(cov, 0.1 * cov, 0.5 * cov, rng.standard_normal(d), 0.3, 1.2) if leave_one_out else None
    draws = 5000 if d > 100 else 4000   # d = 1200: two chunks of normals

    def run(threshold):
        monkeypatch.setattr(batch, "COMPILED_DRAWS", threshold)
        return batch.normal_cosine(mean, cov, grad, [2, 16], np.random.SeedSequence(7), loo=loo, draws=draws)

    assert run(0) == run(10**12)
