"""The group estimators' weights in counts (:mod:`pgexp.exact.groups`, module docstring): each covered
estimator~baseline as a :class:`Rule` ``c = f(tau, S)`` of its own type and the others' reward counts (and total
length); the estimators as a study names them (:class:`Variant`), and the weight a length-blind rule gives a
prompt of a 0/1 task by its difficulty (:func:`difficulty_weights`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from pgexp.errors import UserError

# ------------------------------------------------------------------------------------------ the rules

@dataclass(frozen=True)
class Setting:
    """What a rule's weight reads besides the type and the others' statistic: ``values`` ``(m,)`` the reward
    values, ``G``, ``N`` (batch responses), ``H`` (horizon, or ``None``), ``params`` (hyperparameters) and
    ``b`` (ReMax's baseline at the prompt)."""

    values: np.ndarray
    G: int
    N: int
    H: int | None
    params: Mapping[str, float]
    b: float = 0.0


def with_own(s: Setting, v: int, counts: np.ndarray) -> np.ndarray:
    full = np.array(counts, dtype=np.float64)
    full[:, v] += 1.0
    return full


def normalised(s: Setting, v: int, counts: np.ndarray, n: int) -> np.ndarray:
    """``(r - rbar) / (std + eps)`` of the own reward among ``n`` with the others' ``counts`` ``(S, m)`` (0 where
    all are equal): :func:`pgexp.estimators.groups.normalised` in counts."""
    ddof, eps = float(s.params.get("std_ddof", 1.0)), float(s.params.get("eps", 1e-6))
    full = with_own(s, v, counts)
    mean = full @ s.values / n
    ss = (full * np.square(s.values[None, :] - mean[:, None])).sum(axis=1)
    var = ss / (n - ddof) if n - ddof > 0 else np.zeros_like(ss)
    den = np.sqrt(var) + eps
    spread = (full > 0).sum(axis=1) > 1
    return np.where(spread & (den > 0), (s.values[v] - mean) / np.where(den > 0, den, 1.0), 0.0)


Weight = Callable[[Setting, int, float, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Rule:
    """An estimator's weight ``c = f(tau, S)``: ``scope`` ``group`` or ``batch``; ``lengths``: reads the others'
    total length; ``weight(setting, v, l, counts (S, m), lens (S,)) -> (S,)`` for own reward index ``v`` and
    length ``l``; ``dynamic``: DAPO's selection applies when ``dynamic_sampling = 1``."""

    scope: str
    weight: Weight
    lengths: bool = False
    dynamic: bool = False


def _rloo(s: Setting, v: int, ell: float, counts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    return s.values[v] - counts @ s.values / (s.G - 1)


def _grpo(s: Setting, v: int, ell: float, counts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    A = normalised(s, v, counts, s.G)
    return A if float(s.params.get("length_norm", 1.0)) == 0.0 else A / max(ell, 1.0)


def _dr_grpo(s: Setting, v: int, ell: float, counts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    if s.H is None:
        raise UserError("dr_grpo: L_max is the horizon; give a finite --horizon")
    return (s.values[v] - (s.values[v] + counts @ s.values) / s.G) / float(s.H)


def _dapo(s: Setting, v: int, ell: float, counts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    return s.G * normalised(s, v, counts, s.G) / np.maximum(ell + lens, 1.0)


def _reinforce_pp(s: Setting, v: int, ell: float, counts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    return normalised(s, v, counts, s.N)


def _remax(s: Setting, v: int, ell: float, counts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    return np.full(counts.shape[0], s.values[v] - s.b)


def _reinforce(s: Setting, v: int, ell: float, counts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    return np.full(counts.shape[0], s.values[v])


def _loo_batch(s: Setting, v: int, ell: float, counts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    return s.values[v] - counts @ s.values / (s.N - 1)


RULES: dict[tuple[str, str], Rule] = {
    ("rloo", "none"): Rule("group", _rloo),
    ("grpo", "none"): Rule("group", _grpo),
    ("dr_grpo", "none"): Rule("group", _dr_grpo),
    ("dapo_token_mean", "none"): Rule("group", _dapo, lengths=True, dynamic=True),
    ("reinforce_pp", "none"): Rule("batch", _reinforce_pp),
    ("remax", "none"): Rule("group", _remax),
    ("reinforce", "none"): Rule("group", _reinforce),
    ("reinforce", "constant"): Rule("batch", _loo_batch),
}
GROUP_ESTIMATORS = ("rloo", "grpo", "dr_grpo", "dapo_token_mean", "reinforce_pp", "remax")


def check_rule(estimator: str, baseline: str) -> Rule:
    """The rule of a covered estimator~baseline, else a one-line error naming the covered ones."""
    key = (estimator, baseline.partition(":")[0])
    if key not in RULES:
        raise UserError(f"exact variance with --group-size: {estimator}~{baseline} not covered; allowed: "
                        + ", ".join(f"{e}~{b}" for e, b in RULES))
    return RULES[key]


@dataclass(frozen=True)
class Variant:
    """An estimator as a study names it: ``label`` (e.g. ``grpo:length_norm=0``), ``estimator``, ``baseline``,
    ``params``."""

    label: str
    estimator: str
    baseline: str
    params: Mapping[str, float]


def parse_variant(text: str) -> Variant:
    """``NAME[~BASELINE][:key=value;key=value]`` (hyperparameters by name), e.g. ``grpo:length_norm=0``."""
    head, _, opts = str(text).partition(":")
    est, _, base = head.partition("~")
    params: dict[str, float] = {}
    for item in filter(None, opts.split(";")):
        key, sep, value = item.partition("=")
        try:
            params[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise UserError(f"--estimators: {text!r}; allowed: NAME[~BASELINE][:key=value;...]")
    check_rule(est, base or "none")
    from pgexp.estimators import get_estimator

    spec = get_estimator(est)
    unknown = sorted(set(params) - set(spec.defaults()))
    if unknown:
        raise UserError(f"--estimators {text}: {est} has no hyperparameter {unknown[0]!r}; it has: "
                        f"{', '.join(spec.defaults()) or 'none'}")
    spec.params(params)
    return Variant(str(text), est, base or "none", params)


def difficulty_rows(variants: list[Variant], group_sizes: list[int], points: int = 99,
                    horizon: int | None = None) -> list[dict]:
    """:func:`difficulty_weights` on a grid of ``p`` in (0, 1), for every length-blind variant and ``G``."""
    ps = np.linspace(0.0, 1.0, points + 2)[1:-1]
    out = []
    for v in variants:
        for G in group_sizes:
            w = difficulty_weights(v.estimator, G, ps, params=v.params, horizon=horizon)
            out += [{"label": v.label, "estimator": v.estimator, "group_size": int(G), "p": float(p),
                     "weight": float(x)} for p, x in zip(ps, w)]
    return out


def difficulty_weights(estimator: str, group_size: int, ps: np.ndarray, *, params: Mapping[str, float] | None = None,
                       horizon: int | None = None) -> np.ndarray:
    """The weight ``w(p) = a(1) - a(0)`` a length-blind group rule gives a prompt with success probability ``p`` on
    a 0/1 task (module docstring, "Per prompt": its mean given the prompt is exactly ``w(p) grad p``; RLOO's is 1):
    ``a(v) = sum_k Bin(k; G - 1, p) f(v, k)`` over the others' successes ``k``.  GRPO needs ``length_norm = 0``
    here (its ``1/|o|`` makes the weight depend on the lengths too)."""
    from scipy.stats import binom

    from pgexp.estimators import get_estimator

    rule = check_rule(estimator, "none")
    p = get_estimator(estimator).params(params)
    if rule.lengths or rule.scope != "group" or (estimator == "grpo" and p.get("length_norm", 1.0) != 0.0):
        raise UserError(f"difficulty weights: {estimator} reads response lengths or the whole batch; allowed: a "
                        "length-blind group rule (rloo, dr_grpo, remax, grpo with length_norm=0)")
    G = int(group_size)
    s = Setting(np.array([0.0, 1.0]), G, G, horizon, p)
    k = np.arange(G)
    counts = np.stack([G - 1 - k, k], axis=1).astype(np.float64)
    zeros = np.zeros(G)
    f1, f0 = rule.weight(s, 1, 1.0, counts, zeros), rule.weight(s, 0, 1.0, counts, zeros)
    pmf = binom.pmf(k[None, :], G - 1, np.asarray(ps, dtype=np.float64)[:, None])
    return pmf @ (f1 - f0)
