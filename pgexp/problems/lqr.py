"""Linear-quadratic problems: continuous states and actions with a known truth.

    x_{t+1} = A x_t + B u_t + w_t,   w_t ~ N(0, W),   x_0 ~ N(0, Sigma0),
    r_t = -(x_t' Q x_t + u_t' R u_t)  at each step t = 0 .. H-1 (no terminal cost),

with the Gaussian linear policy ``u = -K x + sigma eps`` (:mod:`pgexp.policies.gaussian`).  Objectives: a finite
horizon ``J = E sum_{t<H} gamma^t r_t`` (gamma may be 1) and the discounted infinite horizon (``H = inf``,
``gamma < 1``; defined only where ``sqrt(gamma) rho(A - B K) < 1``, checked by :mod:`pgexp.exact.lqr`).  The
exact ``J``, ``grad J``, values and the Riccati optimum are in :mod:`pgexp.exact.lqr`.

Specs (``--env``):

* ``lqr:A=0.9,B=0.5,Q=1,R=0.1,W=0.01,S0=1`` -- a scalar system (these are the defaults of ``lqr`` alone);
* ``lqr:file=PATH.npz`` -- arrays ``A (n, n)``, ``B (n, m)``, ``Q (n, n)``, ``R (m, m)``, ``W (n, n)``,
  ``Sigma0 (n, n)`` (``Q``, ``W``, ``Sigma0`` symmetric positive semi-definite, ``R`` positive definite);
* ``lqr:system=NAME`` -- a named instance: ``scalar`` (the defaults), ``double_integrator`` (position and
  velocity, ``dt = 0.1``), ``dean2019`` (the marginally unstable graph-Laplacian system of Dean, Mania, Matni,
  Recht & Tu, "On the sample complexity of the linear quadratic regulator", FoCM 2019: ``A`` with 1.01 on the
  diagonal and 0.01 beside it, ``B = I_3``, ``Q = 1e-3 I``, ``R = I``; ``W = Sigma0 = I`` are our choice) and
  ``random`` (``n``, ``m``, ``seed``, ``radius``: a random open-loop stable ``A`` scaled to spectral radius
  ``radius``, Gaussian ``B``, ``Q = I``, ``R = I``, ``W = 0.1 I``, ``Sigma0 = I``).

Tucker et al.'s (2018) LQG instance is not used: its matrices are not published in the paper.

Every spec also takes ``gamma`` and ``horizon`` (default: gamma 1, H = 50).  This module is metadata plus small
numpy: it builds and validates the system; nothing here needs scipy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pgexp.errors import UserError
from pgexp.specs import Spec, check_keys, parse_spec

DEFAULT_GAMMA = 1.0
DEFAULT_HORIZON = 50
SCALAR_KEYS = {"A": 0.9, "B": 0.5, "Q": 1.0, "R": 0.1, "W": 0.01, "S0": 1.0}
SYSTEMS = ("scalar", "double_integrator", "dean2019", "random")
KEYS = {"system": None, "file": None, **{k: None for k in SCALAR_KEYS}, "n": None, "m": None, "seed": None,
        "radius": None, "gamma": None, "horizon": None}
FILE_ARRAYS = ("A", "B", "Q", "R", "W", "Sigma0")


@dataclass(frozen=True, eq=False)
class LQRSystem:
    """The matrices of a linear-quadratic problem (float64) and its canonical ``name``."""

    A: np.ndarray
    B: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    W: np.ndarray
    Sigma0: np.ndarray
    name: str

    @property
    def n(self) -> int:
        return int(self.A.shape[0])

    @property
    def m(self) -> int:
        return int(self.B.shape[1])

    @property
    def scalar(self) -> bool:
        return self.n == 1 and self.m == 1


def check_system(arrays: dict[str, Any], where: str) -> dict[str, np.ndarray]:
    """The six matrices as float64 2-d arrays, checked: shapes, finite, symmetric PSD ``Q, W, Sigma0``, PD ``R``;
    a mistake is one line naming the array."""
    out = {}
    for key in FILE_ARRAYS:
        try:
            a = np.atleast_2d(np.asarray(arrays[key], dtype=np.float64))
        except (TypeError, ValueError):
            raise UserError(f"{where}: {key} is not numeric") from None
        if a.ndim != 2 or not np.all(np.isfinite(a)):
            raise UserError(f"{where}: {key} must be a finite matrix, got shape {a.shape}")
        out[key] = a
    n, m = out["A"].shape[0], out["B"].shape[1] if out["B"].ndim == 2 else 0
    want = {"A": (n, n), "B": (n, m), "Q": (n, n), "R": (m, m), "W": (n, n), "Sigma0": (n, n)}
    for key, shape in want.items():
        if out[key].shape != shape:
            raise UserError(f"{where}: {key} has shape {out[key].shape}; expected {shape} (n = {n} states, m = {m} "
                            "actions from A and B)")
    for key in ("Q", "R", "W", "Sigma0"):
        a = out[key]
        if not np.allclose(a, a.T, rtol=1e-12, atol=1e-12 * max(1.0, float(np.abs(a).max()))):
            raise UserError(f"{where}: {key} must be symmetric")
        out[key] = 0.5 * (a + a.T)
        low = float(np.linalg.eigvalsh(out[key]).min())
        scale = max(1.0, float(np.abs(a).max()))
        if key == "R" and low <= 1e-12 * scale:
            raise UserError(f"{where}: R must be positive definite (smallest eigenvalue {low:g})")
        if low < -1e-12 * scale:
            raise UserError(f"{where}: {key} must be positive semi-definite (smallest eigenvalue {low:g})")
    return out


def named_system(name: str, o: dict[str, Any], where: str) -> dict[str, np.ndarray]:
    """The matrices of a named instance (module docstring)."""
    if name == "double_integrator":
        dt = 0.1
        return {"A": np.array([[1.0, dt], [0.0, 1.0]]), "B": np.array([[0.5 * dt * dt], [dt]]), "Q": np.eye(2),
                "R": np.array([[0.1]]), "W": 0.01 * np.eye(2), "Sigma0": np.eye(2)}
    if name == "dean2019":
        A = np.array([[1.01, 0.01, 0.0], [0.01, 1.01, 0.01], [0.0, 0.01, 1.01]])
        return {"A": A, "B": np.eye(3), "Q": 1e-3 * np.eye(3), "R": np.eye(3), "W": np.eye(3), "Sigma0": np.eye(3)}
    # random
    n, m = o.get("n") or 2, o.get("m") or 1
    seed, radius = o.get("seed") or 0, o.get("radius") if o.get("radius") is not None else 0.9
    for key, value, lo in (("n", n, 1), ("m", m, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise UserError(f"{where}: {key}={value!r}; allowed: an integer >= {lo}")
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not 0 <= float(radius) < 1:
        raise UserError(f"{where}: radius={radius!r}; allowed: a number in [0, 1) (open-loop stable)")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), n, m]))
    A = rng.standard_normal((n, n))
    rho = float(np.max(np.abs(np.linalg.eigvals(A))))
    A = A * (float(radius) / rho) if rho > 0 else A
    B = rng.standard_normal((n, m)) / np.sqrt(n)
    return {"A": A, "B": B, "Q": np.eye(n), "R": np.eye(m), "W": 0.1 * np.eye(n), "Sigma0": np.eye(n)}


def load_file(path: str, where: str) -> dict[str, np.ndarray]:
    """``A, B, Q, R, W, Sigma0`` from an ``.npz`` file (every array present, nothing else read)."""
    p = Path(path)
    if p.suffix != ".npz" or not p.is_file():
        raise UserError(f"{where}: file={path!r}; allowed: an existing .npz file with arrays {', '.join(FILE_ARRAYS)}")
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = [k for k in FILE_ARRAYS if k not in data.files]
            if missing:
                raise UserError(f"{where}: {path} lacks array(s) {', '.join(missing)}; needs {', '.join(FILE_ARRAYS)}")
            return {k: np.array(data[k]) for k in FILE_ARRAYS}
    except (OSError, ValueError) as exc:
        raise UserError(f"{where}: cannot read {path} ({exc})") from None


def parse_lqr(text: str | Spec, where: str = "--env") -> tuple[LQRSystem, Any, Any]:
    """``(system, gamma, horizon)`` of an ``lqr:...`` spec (``gamma``/``horizon`` as written, ``None`` if absent)."""
    spec = text if isinstance(text, Spec) else parse_spec(str(text), what=where)
    o = check_keys(spec, KEYS, what=where)
    scalar_given = [k for k in SCALAR_KEYS if o[k] is not None]
    system = o["system"]
    arrays: dict[str, Any]
    if o["file"] is not None:
        if system is not None or scalar_given or any(o[k] is not None for k in ("n", "m", "seed", "radius")):
            raise UserError(f"{where}: lqr:file=PATH takes no other system keys (only gamma, horizon)")
        arrays = load_file(str(o["file"]), where)
        name = f"lqr:file={o['file']}"
    elif system is not None and system != "scalar":
        if system not in SYSTEMS:
            raise UserError(f"{where}: system={system!r}; allowed: {', '.join(SYSTEMS)}")
        if scalar_given:
            raise UserError(f"{where}: the keys {', '.join(scalar_given)} are for scalar systems (lqr:A=..,B=..); "
                            f"not with system={system}")
        if system != "random" and any(o[k] is not None for k in ("n", "m", "seed", "radius")):
            raise UserError(f"{where}: n, m, seed, radius are keys of system=random")
        arrays = named_system(str(system), o, where)
        name = "lqr:" + ",".join([f"system={system}"] + [f"{k}={o[k]}" for k in ("n", "m", "seed", "radius")
                                                           if o[k] is not None])
    else:
        if any(o[k] is not None for k in ("n", "m", "seed", "radius")):
            raise UserError(f"{where}: n, m, seed, radius are keys of system=random")
        vals = {}
        for k, default in SCALAR_KEYS.items():
            v = o[k] if o[k] is not None else default
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise UserError(f"{where}: {k}={v!r}; allowed: a number")
            vals[k] = float(v)
        arrays = {"A": vals["A"], "B": vals["B"], "Q": vals["Q"], "R": vals["R"], "W": vals["W"], "Sigma0": vals["S0"]}
        name = "lqr:" + ",".join(f"{k}={vals[k]:g}" for k in SCALAR_KEYS)
    checked = check_system(arrays, f"{where} {name}")
    return LQRSystem(name=name, **checked), o["gamma"], o["horizon"]


def build_env(options: dict[str, Any], spec: Spec) -> LQRSystem:
    """The registry's builder: the system a spec names (the problem itself comes from :func:`build_lqr_problem`)."""
    return parse_lqr(spec)[0]


def is_lqr(spec: str) -> bool:
    """Whether an ``--env`` spec names a linear-quadratic problem."""
    return str(spec).strip().partition(":")[0].strip() == "lqr"


@dataclass(frozen=True, eq=False)
class LQRProblem:
    """A linear-quadratic system, the Gaussian linear policy, the point ``theta`` and the objective.

    ``horizon`` ``None`` is the discounted infinite horizon (``gamma < 1``).
    """

    track: ClassVar[str] = "lqr"

    system: LQRSystem
    policy: Any  # pgexp.policies.gaussian.GaussianLinearPolicy
    theta: np.ndarray
    env_spec: str
    theta_spec: str
    gamma: float
    horizon: int | None

    @property
    def kind(self) -> str:
        return "finite" if self.horizon is not None else "discounted"

    def identity(self) -> dict[str, Any]:
        """The problem's parameters as plain values (parquet columns, seeds and provenance)."""
        return {"env": self.system.name, "features": "state", "policy": self.policy.name, "theta": self.theta_spec,
                "gamma": float(self.gamma), "horizon": -1 if self.horizon is None else int(self.horizon),
                "dim": int(self.policy.dim)}

    def at(self, theta: np.ndarray) -> LQRProblem:
        return replace(self, theta=np.asarray(theta, dtype=np.float64))

    def with_horizon(self, horizon: int | None) -> LQRProblem:
        return replace(self, horizon=horizon)


def build_lqr_problem(env: str, *, features: str | None = None, policy: str | None = None, theta: str | None = None,
                      gamma: float | str | None = None, horizon: int | str | None = None,
                      policy_std: float | None = None, learn_std: bool = False) -> LQRProblem:
    """An :class:`LQRProblem` from the problem options (``gamma``/``horizon`` override the spec's own)."""
    from pgexp.policies.gaussian import GaussianLinearPolicy
    from pgexp.policies.theta import make_theta
    from pgexp.problems.registry import parse_gamma, parse_horizon

    if features not in (None, "state"):
        raise UserError(f"--features {features!r}: linear-quadratic problems read the state itself; give no --features")
    if policy is not None:  # the name tables carry (gaussian_linear:std=S[,learn_std=true]) rebuilds the same policy
        spec = parse_spec(policy, what="--policy")
        if spec.name != "gaussian_linear":
            raise UserError(f"--policy {policy!r}: linear-quadratic problems use the Gaussian linear policy u = -K x + "
                            "sigma eps (--policy-std, --learn-std); give no --policy")
        o = check_keys(spec, {"std": None, "learn_std": False}, what="--policy")
        if policy_std is not None and o["std"] is not None and float(o["std"]) != float(policy_std):
            raise UserError(f"--policy {policy} and --policy-std {policy_std}: two different sigmas")
        policy_std = policy_std if policy_std is not None else o["std"]
        learn_std = bool(learn_std or o["learn_std"])
    system, g_spec, h_spec = parse_lqr(env)
    g = gamma if gamma is not None else g_spec
    g = DEFAULT_GAMMA if g is None else parse_gamma(float(g) if isinstance(g, str) else g, what="--gamma")
    h_raw = horizon if horizon is not None else (h_spec if h_spec is not None else DEFAULT_HORIZON)
    if isinstance(h_raw, str) and h_raw.strip().isdigit():
        h_raw = int(h_raw)
    h = parse_horizon(h_raw, what="--horizon")
    if h is None and g >= 1.0:
        raise UserError("--horizon inf: a linear-quadratic problem with gamma = 1 has no finite infinite-horizon cost "
                        "(the noise W keeps costing); give a finite --horizon or --gamma < 1")
    pol = GaussianLinearPolicy(system.n, system.m, 1.0 if policy_std is None else policy_std, learn_std)
    th = make_theta(theta, pol.dim, pol)
    return LQRProblem(system, pol, th, env, "zeros" if theta is None else str(theta), float(g), h)


__all__ = ["DEFAULT_GAMMA", "DEFAULT_HORIZON", "SYSTEMS", "LQRProblem", "LQRSystem", "build_lqr_problem", "is_lqr",
           "parse_lqr"]
