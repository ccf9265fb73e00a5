"""``pgexp check-estimator``: the generic checks every registered estimator passes (built-in or plug-in).

In the spirit of Gymnasium's ``check_env`` and scikit-learn's ``check_estimator``, the checks are one list
of functions over the registry: ``tests/estimators/test_estimators.py`` parametrises over :func:`estimator_checks`
for every built-in, and a user runs the same list on their plug-in.  Each check returns one
:class:`CheckResult` (one printed line):

* ``registration`` -- the spec is consistent (baselines known, hyperparameter defaults in range, the
  unbiasedness rule answers for every accepted baseline, at ``gamma = 1`` and below when it reads the discount);
* ``finite``       -- every replicate is finite (first: an estimator that returns NaN fails here, and every
  check after it that would read its numbers fails too, never "passes" on NaN);
* ``shapes``       -- ``fn(batch)`` returns ``(N, L)`` weights and the job table has one ``dim``-long gradient
  per replicate and positive ``env_steps``, for every accepted baseline;
* ``determinism``  -- the same seed gives the same table bit for bit, another seed another one;
* ``common_random_numbers`` -- an estimator on the job's common trajectories sees exactly REINFORCE's
  trajectories (same batch returns), so comparisons are paired;
* ``affine_in_baseline`` -- (when it accepts the per-coordinate ``optimal`` baseline)
  ``w(b1 + b2) - w(b1) - w(b2) + w(0) = 0``, the property the generic optimal baseline relies on;
* ``exact_claim``  -- (group estimators) the registry's claim -- unbiased, a known positive multiple of ``grad J``
  (``scale``), or biased -- checked exactly: every batch of two groups of ``G = 2`` and ``3`` responses on a tiny
  sequence MDP is listed and weighed by the registered function (:mod:`pgexp.exact.group_enumeration`);
* ``unbiased``     -- for every accepted baseline and hyperparameter setting the spec *claims* unbiased,
  on every check problem whose objective and track it supports (a claim that depends on the discount --
  the ``*_common`` estimators, unbiased only at ``gamma = 1`` -- is read at the problem's own ``gamma``): ``M``
  independent batch estimates of
  ``N`` trajectories, and for each coordinate ``k`` the z-score ``|mean_k - grad_k J| / se_k`` against the
  exact gradient.  The bound is Bonferroni over the whole family of coordinates tested for this
  estimator, ``z* = Phi^{-1}(1 - alpha / (2 K))`` with family-wise false-alarm rate ``alpha = 1e-4``: an
  unbiased estimator fails with probability at most 1e-4 (seeds are fixed, so the verdict is
  reproducible); a biased one fails with a line naming the problem, the objective and the z-score.  A claim
  ``E g = c grad J`` (``scale``) is tested the same way against ``c grad J`` (check ``scaled``); group estimators
  are sampled in groups of :data:`CHECK_GROUP_SIZE` on the check problems of their objectives and on a
  ``tokens:`` problem.

The check problems cover every objective (finite with ``gamma = 1`` and ``gamma < 1``, discounted, episodic),
tabular and random features, and continuous actions with an exact gradient (two linear-quadratic problems with the
Gaussian policy's score, for estimators registered on the ``lqr`` track).
``N`` and ``M`` per problem are sized so that a real bias shows while the whole check of a built-in
stays within seconds: on the finite-horizon garnet, GAE (lambda = 1) with a stationary learned value that
bootstrapped past the horizon -- a bug this check exists to catch -- reaches max |z| = 7.9 at N = 32,
M = 250 (2.4 with ``V_H = 0``), well beyond the bound (about 5).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.estimators.spec import BASELINES, ESTIMATORS, Estimator, apply_rule, get_estimator

ALPHA = 1e-4  # family-wise false-alarm rate of the unbiasedness checks


@dataclass(frozen=True)
class CheckProblem:
    """A small problem the checks run on: spec, features, gamma, horizon, and the batch size ``N`` and
    replicates ``M`` of its unbiasedness test."""

    id: str
    env: str
    features: str | None
    gamma: float | None
    horizon: int | str | None
    batch_size: int
    replicates: int

    def build(self) -> Any:
        from pgexp.problems.problem import build_problem

        scale = 0.2 if self.env.startswith("lqr") else 0.7  # a stabilising gain for the discounted LQR
        return build_problem(self.env, features=self.features, gamma=self.gamma, horizon=self.horizon,
                             theta=f"random:seed=0,scale={scale}")


CHECK_PROBLEMS = (
    CheckProblem("corridor-episodic", "short_corridor", None, None, None, 16, 200),
    CheckProblem("garnet-finite", "garnet:states=5,actions=3,branching=2,seed=1", None, 1.0, 4, 32, 250),
    # gamma < 1 at a finite horizon: where dropping gamma^h (the *_common estimators) biases an estimate
    CheckProblem("garnet-finite-discounted", "garnet:states=5,actions=3,branching=2,seed=3", None, 0.8, 5, 32, 250),
    CheckProblem("garnet-discounted-randfeat", "garnet:states=5,actions=3,branching=3,seed=2", "random:d=3,seed=1",
                 0.8, "inf", 16, 200),
    CheckProblem("chain-discounted", "chain:length=4", None, 0.7, "inf", 16, 200),
    # continuous actions with an exact gradient: a 2-d double integrator (finite) and a discounted scalar system
    CheckProblem("lqr-double-integrator", "lqr:system=double_integrator", None, 1.0, 6, 16, 200),
    CheckProblem("lqr-discounted", "lqr:A=0.9,B=0.5,Q=1,R=0.1,W=0.01,S0=1", None, 0.8, "inf", 16, 200),
)
CONTINUOUS_PROBLEM = CheckProblem("cartpole", "gym:CartPole-v1", None, 0.99, 20, 4, 3)  # no exact gradient
SEED = 0
# Group estimators (``min_group_size`` set) are checked on the problems of their objectives and on a sequence MDP,
# every batch sampled in groups of CHECK_GROUP_SIZE responses per prompt; their registry claim is also checked
# *exactly*, by listing every group of EXACT_GROUP_SIZES responses on a tiny sequence MDP
# (:mod:`pgexp.exact.group_enumeration`, the registered function itself).
CHECK_GROUP_SIZE = 4
GROUP_PROBLEMS = (CheckProblem("tokens-shared", "tokens:vocab=2,length=4,needs=1;2;3", "native", None, None, 32, 250),)
EXACT_PROBLEM = CheckProblem("tokens-tiny", "tokens:vocab=1,length=3,needs=1;2", "native", None, None, 0, 0)
EXACT_GROUP_SIZES = (2, 3)
EXACT_PROMPTS = 2  # prompts per batch: a batch-level statistic (REINFORCE++'s) is not the group's
CLAIM_TOL = 1e-9  # relative: an exact mean equal to c grad J up to round-off


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: ``name`` (e.g. ``unbiased``), ``passed``, and a one-line ``detail``."""

    name: str
    passed: bool
    detail: str

    @property
    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


@dataclass(frozen=True)
class Check:
    """A named check of one estimator, run on demand (``run() -> CheckResult``)."""

    estimator: str
    name: str
    run: Callable[[], CheckResult]

    @property
    def id(self) -> str:
        return f"{self.estimator}-{self.name}"


def baseline_names(est: Estimator, track: str = "tabular") -> list[str]:
    """The accepted baselines as ``--baseline`` strings (parameterised ones with value 1), on ``track``."""
    out = []
    for name in est.baselines:
        spec = BASELINES[name]
        if track in spec.tracks:
            out.append(name + (":" + ",".join(f"{k}=1" for k in spec.options) if spec.options else ""))
    return out


def param_sets(est: Estimator) -> list[dict[str, float]]:
    """The defaults, and the defaults with each hyperparameter at each of its ``check_values``."""
    sets = [est.defaults()]
    for h in est.hyperparameters:
        for v in h.check_values:
            p = {**est.defaults(), h.name: float(v)}
            if p not in sets:
                sets.append(p)
    return sets


def _params_text(params: dict[str, float]) -> str:
    return "".join(f" {k}={v:g}" for k, v in params.items())


def max_z(G: np.ndarray, g_true: np.ndarray) -> tuple[float, int]:
    """Largest per-coordinate ``|mean - exact| / se`` and its coordinate; a constant, wrong coordinate is
    infinitely far, a constant, right one is not tested (z = 0); a coordinate with a non-finite estimate is
    infinitely far (NaN must never read as z = 0)."""
    bad = ~np.all(np.isfinite(G), axis=0)
    if bad.any():
        return float("inf"), int(np.argmax(bad))
    se = G.std(axis=0, ddof=1) / np.sqrt(G.shape[0])
    dev = np.abs(G.mean(axis=0) - g_true)
    scale = max(1.0, float(np.abs(g_true).max(initial=0.0)))
    z = np.where(se > 1e-12 * scale, dev / np.where(se > 0, se, 1.0), np.where(dev > 1e-10 * scale, np.inf, 0.0))
    k = int(np.argmax(z))
    return float(z[k]), k


def _replicates(problem: Any, est: Estimator, baseline: str, params: dict[str, float], N: int, M: int,
                seed: int = SEED) -> np.ndarray:
    """``(M, d)`` batch estimates of ``N`` trajectories on the job stream ``seed``."""
    from pgexp.runs.estimate import run_estimate

    t = run_estimate(problem, est.name, baseline, params=params, batch_size=N, replicates=M, seed=seed, progress=False,
                     reference_batch=50)
    return np.asarray(t.column("grad").to_pylist(), dtype=np.float64).reshape(M, problem.policy.dim)


def _supported(est: Estimator, problem: Any) -> bool:
    from pgexp.runs.context import make_context

    return problem.track in est.tracks and make_context(problem).kind in est.objectives


# ------------------------------------------------------------------------------------------ checks

def check_registration(est: Estimator) -> CheckResult:
    problems = []
    gammas = (1.0, 0.9) if est.unbiased_reads_gamma else (None,)
    for b in est.baselines:
        if b not in BASELINES:
            problems.append(f"unknown baseline {b!r}")
            continue
        for params in param_sets(est):
            for gamma in gammas:
                what = f"unbiased({b!r}, {params}" + ("" if gamma is None else f", gamma={gamma:g}") + ")"
                try:
                    ok = est.unbiased if isinstance(est.unbiased, bool) else apply_rule(
                        est.unbiased, b, {**est.defaults(), **params}, gamma)
                except Exception as exc:
                    problems.append(f"{what} raised {exc!r}")
                    continue
                if not isinstance(ok, (bool, np.bool_)):
                    problems.append(f"{what} returned {ok!r}, not a bool")
    try:
        est.function  # noqa: B018 - resolving the function is the check
        est.params()
    except UserError as exc:
        problems.append(str(exc))
    if problems:
        return CheckResult("registration", False, "; ".join(problems))
    return CheckResult("registration", True, f"baselines {', '.join(est.baselines)}; objectives "
                       f"{', '.join(est.objectives)}; tracks {', '.join(est.tracks)}; sampling {est.sampling}"
                       + (f"; hyperparameters {', '.join(f'{h.name}={h.default:g}' for h in est.hyperparameters)}"
                          if est.hyperparameters else ""))


def _check_problems(est: Estimator) -> list[tuple[CheckProblem, Any]]:
    if est.min_group_size is not None:
        from pgexp.sampling.groups import with_group_size

        G = max(CHECK_GROUP_SIZE, est.min_group_size)
        grouped = [(cp, with_group_size(cp.build(), G)) for cp in (*CHECK_PROBLEMS, *GROUP_PROBLEMS)
                   if not cp.env.startswith("lqr")]
        return [(cp, p) for cp, p in grouped if _supported(est, p) and cp.batch_size % G == 0]
    out = [(cp, cp.build()) for cp in CHECK_PROBLEMS if "lqr" in est.tracks or not cp.env.startswith("lqr")]
    if "tabular" not in est.tracks:
        out.append((CONTINUOUS_PROBLEM, CONTINUOUS_PROBLEM.build()))
    return [(cp, p) for cp, p in out if _supported(est, p)]


def _size(prob: Any, n: int) -> int:
    """``n`` rounded up to whole groups of the problem's group size."""
    G = int(getattr(prob, "group_size", 1))
    return -(-n // G) * G


def check_shapes_and_finite(est: Estimator) -> list[CheckResult]:
    """One small job per accepted baseline on the first supported problem: table shape, env_steps, finite."""
    from pgexp.runs.estimate import run_estimate

    probs = _check_problems(est)
    if not probs:
        return [CheckResult("shapes", False, f"no check problem supports objectives {est.objectives} on tracks "
                                             f"{est.tracks}")]
    cp, prob = probs[0]
    bad, nonfinite = [], []
    for b in baseline_names(est, prob.track):
        try:
            t = run_estimate(prob, est.name, b, batch_size=_size(prob, 5), replicates=3, seed=3, progress=False,
                             reference_batch=50)
        except UserError as exc:
            bad.append(f"{b}: {exc}")
            continue
        grads = t.column("grad").to_pylist()
        steps = t.column("env_steps").to_pylist()
        if t.num_rows != 3 or any(len(g) != prob.policy.dim for g in grads) or min(steps) <= 0:
            bad.append(f"{b}: {t.num_rows} rows, gradient lengths {sorted({len(g) for g in grads})}, expected 3 rows "
                       f"of {prob.policy.dim} with env_steps > 0")
        if not np.all(np.isfinite(np.asarray(grads, dtype=np.float64))):
            nonfinite.append(b)
    where = f"on {cp.id} (N = {_size(prob, 5)}, M = 3)"
    return [CheckResult("shapes", not bad, "; ".join(bad) if bad else f"(N, L) weights and dim-{prob.policy.dim} "
                        f"gradients for baselines {', '.join(baseline_names(est, prob.track))} {where}"),
            CheckResult("finite", not nonfinite, f"non-finite gradients with {', '.join(nonfinite)} {where}"
                        if nonfinite else f"every replicate finite {where}")]


def check_determinism(est: Estimator) -> CheckResult:
    from pgexp.runs.estimate import run_estimate

    probs = _check_problems(est)
    if not probs:
        return CheckResult("determinism", False, "no supported check problem")
    cp, prob = probs[-1]
    b = baseline_names(est, prob.track)[-1]
    kw: dict[str, Any] = {"batch_size": _size(prob, 5), "replicates": 4, "progress": False, "reference_batch": 50}
    a, a2, c = (run_estimate(prob, est.name, b, seed=s, **kw) for s in (3, 3, 4))
    if not np.all(np.isfinite(np.asarray(a.column("grad").to_pylist(), dtype=np.float64))):
        return CheckResult("determinism", False, f"{est.name}~{b} on {cp.id}: non-finite gradients (see finite)")
    if not a.equals(a2):
        return CheckResult("determinism", False, f"{est.name}~{b} on {cp.id}: the same seed gave different tables")
    if a.column("grad").equals(c.column("grad")):
        return CheckResult("determinism", False, f"{est.name}~{b} on {cp.id}: seeds 3 and 4 gave the same gradients")
    return CheckResult("determinism", True, f"{est.name}~{b} on {cp.id}: same seed, same table; another seed, "
                                            "other gradients")


def check_common_random_numbers(est: Estimator) -> CheckResult:
    from pgexp.runs.estimate import run_estimate

    if est.sampling != "trajectories":
        return CheckResult("common_random_numbers", True, f"not applicable: {est.name} samples its own way "
                                                          f"({est.sampling}); comparisons with it are unpaired")
    probs = _check_problems(est)
    cp, prob = probs[0]
    kw: dict[str, Any] = {"batch_size": _size(prob, 6), "replicates": 3, "seed": 1, "progress": False,
                          "reference_batch": 50}
    mine = {b: run_estimate(prob, est.name, b, **kw).column("batch_return_mean").to_pylist()
            for b in baseline_names(est, prob.track)}
    ref = run_estimate(prob, "reinforce", "none", **kw).column("batch_return_mean").to_pylist()
    # the same trajectories; the batch means may be summed in another order (a compiled loop, numpy's pairwise sum)
    bad = [b for b, r in mine.items() if not np.allclose(r, ref, rtol=1e-12, atol=1e-300)]
    if bad:
        return CheckResult("common_random_numbers", False, f"with {', '.join(bad)} on {cp.id}: the batch returns "
                                                           "differ from reinforce~none's on the same job stream")
    return CheckResult("common_random_numbers", True, f"every baseline sees reinforce~none's trajectories on {cp.id}")


def check_affine(est: Estimator) -> CheckResult:
    """``w(b1 + b2) - w(b1) - w(b2) + w(0) = 0`` on random baseline values (relative to ``max |w|``)."""
    from pgexp.estimators.batch import step_weights, with_baseline
    from pgexp.runs.context import make_context
    from pgexp.sampling.rng import stream

    cp, prob = _check_problems(est)[0]
    ctx = make_context(prob)
    batch = ctx.sample(est.sampling, stream(7, 0, 0), 6).replace(params=est.defaults())
    fit_fn = est.fit_fn
    if fit_fn is not None:
        batch = batch.replace(fitted=fit_fn(ctx, stream(7, 0, 2), 6)[0])
    rng = np.random.default_rng(0)
    b1, b2, n1, n2 = (rng.standard_normal(batch.shape) for _ in range(4))

    def w(b: Any, n: Any) -> np.ndarray:
        return step_weights(est.function, with_baseline(batch, b, n), est.name)

    m = batch.mask  # weights on padding are never read
    resid = (w(b1 + b2, n1 + n2) - w(b1, n1) - w(b2, n2) + w(0.0, 0.0))[m]
    scale = max(1.0, float(np.abs(w(b1, n1)[m]).max()))
    err = float(np.abs(resid).max()) / scale
    ok = err < 1e-9
    return CheckResult("affine_in_baseline", ok, f"relative residual {err:.1e} {'<' if ok else '>='} 1e-9 on {cp.id} "
                       + ("(the optimal baseline may be used)" if ok else "-- it cannot take the 'optimal' baseline"))


def unbiasedness_cases(est: Estimator) -> list[tuple[CheckProblem, Any, str, dict[str, float]]]:
    """Every (problem, baseline, hyperparameters) the spec claims unbiased -- or unbiased up to a known positive
    scalar (:attr:`~pgexp.estimators.spec.Estimator.scale`) -- on tabular check problems (at the problem's own
    discount)."""
    cases = []
    for cp, prob in _check_problems(est):
        if prob.track == "continuous":
            continue
        gamma = prob.gamma if prob.track == "lqr" else prob.mdp.gamma
        for params in param_sets(est):
            for b in baseline_names(est, prob.track):
                if est.claim(b, params, gamma) != "biased":
                    cases.append((cp, prob, b, params))
    return cases


def claimed_scale(est: Estimator, prob: Any, baseline: str, params: dict[str, float]) -> float:
    """The ``c`` of the registry's claim ``E ĝ = c grad J`` (1 when unbiased)."""
    gamma = prob.gamma if getattr(prob, "track", "tabular") == "lqr" else prob.mdp.gamma
    if est.claim(baseline, params, gamma) == "unbiased":
        return 1.0
    fn = est.scale_fn
    assert fn is not None
    return float(fn(int(getattr(prob, "group_size", 1)), prob.mdp.horizon, {**est.defaults(), **params}))


def check_unbiased(est: Estimator, cp: CheckProblem, prob: Any, baseline: str, params: dict[str, float],
                   bound: float) -> CheckResult:
    from pgexp.runs.context import make_context

    G = _replicates(prob, est, baseline, params, cp.batch_size, cp.replicates)
    ctx = make_context(prob)
    c = claimed_scale(est, prob, baseline, params)
    g_true = c * ctx.truth().grad
    tail = f"(M = {cp.replicates}, N = {cp.batch_size}, Bonferroni at {ALPHA:g} family-wise)"
    claim = "unbiased" if c == 1.0 else f"E g = {c:.6g} grad J"
    name = "unbiased" if c == 1.0 else "scaled"
    bad = ~np.all(np.isfinite(G), axis=1)
    if bad.any():
        return CheckResult(name, False, f"{est.name}~{baseline}{_params_text(params)} on {cp.id}: "
                                        f"{int(bad.sum())} of {cp.replicates} estimates non-finite: no mean to "
                                        f"test {tail}")
    z, k = max_z(G, g_true)
    what = (f"{est.name}~{baseline}{_params_text(params)} on {cp.id} ({ctx.kind} objective"
            + (f", groups of {prob.group_size}" if getattr(prob, "group_size", 1) > 1 else "") + "): "
            + ("" if c == 1.0 else f"against {c:.6g} grad J, ") + f"max |z| = {z:.2f}")
    if z < bound:
        return CheckResult(name, True, f"{what} < {bound:.2f} {tail}")
    why = "biased although registered unbiased" if c == 1.0 else f"registered as {claim}, but it is not"
    return CheckResult(name, False, f"{what} >= {bound:.2f} at coordinate {k}: {why} {tail}")


def check_exact_claim(est: Estimator, params: dict[str, float]) -> CheckResult:
    """A group estimator's claim, exactly: its mean by listing every group of ``G`` responses on a tiny sequence MDP
    (the registered function applied to each), against ``c grad J`` -- unbiased (``c = 1``), scaled (the spec's
    ``c``) or biased (the mean must then differ from ``grad J``)."""
    from pgexp.exact.group_enumeration import enumerate_group_moments
    from pgexp.exact.responses import responses
    from pgexp.sampling.groups import with_group_size

    base = EXACT_PROBLEM.build()
    grad = responses(base).J()[1]
    scale = float(np.linalg.norm(grad))
    parts, ok = [], True
    for G in EXACT_GROUP_SIZES:
        if G < (est.min_group_size or 1):
            continue
        prob = with_group_size(base, G)
        claim = est.claim("none", params, prob.mdp.gamma)
        mean, _, _ = enumerate_group_moments(prob, est.name, group_size=G, prompts=EXACT_PROMPTS, params=params)
        if claim == "biased":
            dev = float(np.linalg.norm(mean - grad)) / scale
            good = dev > 1e6 * CLAIM_TOL
            parts.append(f"G = {G}: |E g - grad J| / |grad J| = {dev:.3g} (biased, as registered)" if good else
                         f"G = {G}: E g = grad J to {dev:.1e} although registered biased")
        else:
            c = claimed_scale(est, prob, "none", params)
            dev = float(np.linalg.norm(mean - c * grad)) / (c * scale)
            good = dev < CLAIM_TOL
            parts.append(f"G = {G}: |E g - {c:.6g} grad J| / |{c:.6g} grad J| = {dev:.1e}"
                         + ("" if good else f" >= {CLAIM_TOL:g}: registered {claim}, but it is not"))
        ok &= good
    return CheckResult("exact_claim", ok, f"{est.name}{_params_text(params)} on {EXACT_PROBLEM.id} "
                       f"({EXACT_PROBLEM.env}), every batch of {EXACT_PROMPTS} groups listed: " + "; ".join(parts))


def estimator_checks(name: str) -> list[Check]:
    """Every check of estimator ``name``, in order, each run on demand."""
    est = get_estimator(name)
    checks = [Check(name, "registration", lambda: check_registration(est))]
    shape_results: dict[str, list[CheckResult]] = {}

    def shapes(i: int) -> Callable[[], CheckResult]:
        def run() -> CheckResult:
            if "r" not in shape_results:
                shape_results["r"] = check_shapes_and_finite(est)
            return shape_results["r"][i]
        return run

    checks += [Check(name, "finite", shapes(1)), Check(name, "shapes", shapes(0)),
               Check(name, "determinism", lambda: check_determinism(est)),
               Check(name, "common_random_numbers", lambda: check_common_random_numbers(est))]
    if "optimal" in est.baselines:
        checks.append(Check(name, "affine_in_baseline", lambda: check_affine(est)))
    if est.min_group_size is not None and "none" in est.baselines and "tabular" in est.tracks:
        for params in param_sets(est):
            checks.append(Check(name, f"exact_claim[{_params_text(params).strip().replace(' ', ',')}]",
                                _bind(check_exact_claim, est, params)))
    cases = unbiasedness_cases(est)
    family = sum(prob.policy.dim for _, prob, _, _ in cases)
    if family:
        from scipy.stats import norm

        bound = float(norm.isf(ALPHA / (2 * family)))
        for cp, prob, b, params in cases:
            checks.append(Check(name, f"unbiased[{b}{_params_text(params).replace(' ', ',')},{cp.id}]",
                                _bind(check_unbiased, est, cp, prob, b, params, bound)))
    return checks


def _bind(fn: Callable[..., CheckResult], *args: Any) -> Callable[[], CheckResult]:
    return lambda: fn(*args)


def iter_results(name: str) -> Iterator[CheckResult]:
    """Each check's result; a check whose code raised (a plug-in's function that fails) is a failure naming it."""
    for check in estimator_checks(name):
        try:
            yield check.run()
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            yield CheckResult(check.name, False, f"raised {detail}")


def check_estimator(name: str, out: Callable[[str], Any] = print) -> bool:
    """Run every check of ``name``, printing one line per check; ``True`` when all pass."""
    if name not in ESTIMATORS:
        get_estimator(name)  # the one-line error naming the registered estimators
    ok = True
    count = 0
    for result in iter_results(name):
        out(result.line)
        ok &= result.passed
        count += 1
    out(f"{name}: {'all ' + str(count) + ' checks passed' if ok else 'FAILED'}")
    return ok


__all__ = ["ALPHA", "CHECK_PROBLEMS", "Check", "CheckResult", "check_estimator", "estimator_checks", "max_z"]
