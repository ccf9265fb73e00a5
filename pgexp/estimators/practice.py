r"""Implementation choices practitioners make around any estimator: per-batch advantage normalisation, and
cutting episodes at a time limit with or without bootstrapping.

Both are *batch-level options* (:class:`Practice`), applied by the runner around whichever registered
estimator is chosen -- not a property of one estimator.  They answer questions users ask of their code:
is normalising advantages per batch biased?  What does cutting episodes at a time limit cost?

**Advantage normalisation** (``--normalize-advantages``, config ``normalize_advantages: true``).  PPO
implementations standardise the advantages of a (mini)batch before the policy loss: CleanRL's ``ppo.py``
``(adv - adv.mean()) / (adv.std() + 1e-8)`` per minibatch of steps, Stable-Baselines3's PPO the same when
the minibatch has more than one step (torch's ``std`` is the ``n - 1`` form).  Here the batch is the
``N`` trajectories of one estimate and the quantity standardised is the estimator's step weight ``w_ih``
(the advantage for the ``*_common`` variants and GAE; ``gamma^h`` times it for the textbook forms): with
``K = sum_i len_i`` real steps,

    m̂ = (1/K) sum_ih w_ih,   ŝ² = (1/(K-1)) sum_ih (w_ih - m̂)²,   w'_ih = (w_ih - m̂) / (ŝ + ε),   ε = 1e-8,

and the batch estimate is ``(1/N) sum_i sum_h w'_ih score_ih`` (``K < 2``: the weights are left as they are,
as SB3 does) -- what the code computes, nothing rescaled.  ``m̂`` and ``ŝ`` converge to the population mean
``m = E[sum_h w_h] / E[len]`` and standard deviation ``s`` (``s² = E[sum_h w_h²] / E[len] - m²``) of the step
weights, so as ``N -> inf`` the normalised estimate tends to ``(E[g] - m E[sum_h score_h]) / (s + ε) = E[g] /
(s + ε)`` (scores have mean zero): ``E[g]``'s direction, not its length.  A normalised estimate is therefore
judged by its *direction* (the cosine of its mean with ``grad J``) and its *effective step size* ``k_i =
<ĝ_i, grad J> / ||grad J||²`` (how far a step along it goes along ``grad J``, which the learning rate and Adam
absorb) -- not by its bias² or MSE against ``grad J``, which mostly measure the change of length
(:mod:`pgexp.audit.table`).  At finite ``N`` its mean also departs from the limit's direction and length: the
ratio estimator's bias (``m̂`` and ``ŝ`` depend on the trajectory's own actions; exact by enumerating batches
in :mod:`pgexp.exact.normalization`).  The exact ``s + ε`` (:func:`pgexp.exact.practice.normalization_scale`)
is recorded as ``normalize_scale``, so the limit ``E[g] / normalize_scale`` is known; it is not applied.
(``normalize_scale`` times the estimate has limit ``E[g]``; no PPO implementation rescales so, and that
multiple is a fixed factor of the recorded estimate, so no option computes it.)  PPO's fixed-length rollouts
average over steps rather than episodes: a factor ``K / N`` apart.

**Truncation** (``--truncate T --bootstrap none|value_exact|value_learned``, for the discounted and episodic
objectives).  Episodes are cut after ``T`` steps, as Gymnasium's ``TimeLimit`` does; the objective is still
the untruncated one (its exact gradient is the target).  The last step's reward of a cut episode is
completed with the discounted value of the state after the cut, ``r_{T-1} + gamma V_boot(s_T)``, and the
episode counts as *ended* there (so GAE does not add its own ``V(s_T)`` again): every estimator then sees
returns completed the same way.  ``V_boot`` is ``0`` (``none``: the return left as is), the exact ``V``
(``value_exact``), or the per-state mean of the observed returns of an independent batch cut the same
way (``value_learned``: what a critic fitted on truncated Monte-Carlo returns learns; the fitting batch is
shared with a ``value_learned`` baseline and charged to ``env_steps`` once).

With exact bootstrapping the completed return has conditional mean ``Q(s_h, a_h)``, so for reward-to-go
``E[g_T] = sum_{h<T} gamma^h E[score_h Q(s_h, a_h)]`` and the whole cost of the cut is the missing tail of the
policy-gradient theorem::

    E[g_T] - grad J = - sum_{h>=T} gamma^h E[score_h Q(s_h, a_h)] = - gamma^T sum_s p_T(s) grad V(s),

with ``p_T`` the distribution of ``s_T`` (absorbing states: ``V = 0``, ``grad V = 0``) and ``grad V(s) =
sum_s' [(I - gamma P_pi)^-1]_{s s'} sum_a grad pi(a|s') Q(s', a)`` the gradient of the value *from* ``s``
(the policy-gradient theorem started in ``s``): bootstrapping with the right value credits the value of
the state reached, never the policy's influence on what happens after the cut.  It shrinks like
``gamma^T`` on a discounted problem; on an episodic one (``gamma = 1``) like the probability of still
running at ``T``.  :mod:`pgexp.exact.practice` computes it and ``tests/estimators/test_practice.py`` checks it.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgexp.errors import UserError

if TYPE_CHECKING:  # the options and their checks are metadata (the study reads them): numpy is imported where used
    import numpy as np

    from pgexp.estimators.batch import Batch

BOOTSTRAPS = ("none", "value_exact", "value_learned")
NORMALIZE_EPS = 1e-8  # CleanRL's and Stable-Baselines3's epsilon


def normalizable() -> dict[str, tuple[str, ...]]:
    """Estimator -> the baselines whose step weights form a family without a past part, so that the scale of
    the normalised estimate's ``N -> inf`` limit is exact (:mod:`pgexp.exact.practice` computes it): each spec's
    :attr:`~pgexp.estimators.exact_spec.ExactSpec.normalizable`, in registration order."""
    from pgexp.estimators import ESTIMATORS

    return {name: est.normalizable for name, est in ESTIMATORS.items() if est.normalizable}


def __getattr__(name: str) -> Any:
    """``NORMALIZABLE``: :func:`normalizable`, derived from the registry when read."""
    if name == "NORMALIZABLE":
        return normalizable()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# Options that apply to any estimator on the job's common trajectories without an auxiliary fit of its own
# (the cut and the normalisation act on a batch of whole trajectories).


@dataclass(frozen=True)
class Practice:
    """The batch-level implementation choices of one run (the default: none of them).

    Attributes:
        normalize_advantages: standardise the step weights per batch (module docstring).
        truncate: cut episodes after this many steps (``None``: not cut).
        bootstrap: the value completing a cut episode's return: ``none``, ``value_exact``, ``value_learned``.
    """

    normalize_advantages: bool = False
    truncate: int | None = None
    bootstrap: str = "none"

    @property
    def plain(self) -> bool:
        """No option: the estimator as registered."""
        return not self.normalize_advantages and self.truncate is None

    @property
    def label(self) -> str:
        """A short name, e.g. ``norm``, ``cut10-value_exact``, ``norm+cut10-none`` (``""`` when plain)."""
        parts = ["norm"] if self.normalize_advantages else []
        if self.truncate is not None:
            parts.append(f"cut{self.truncate}-{self.bootstrap}")
        return "+".join(parts)

    def columns(self) -> dict[str, Any]:
        """The table columns: ``normalize_advantages`` (bool), ``truncate`` (int or None), ``truncate_bootstrap``
        (``None`` when not truncated)."""
        return {"normalize_advantages": bool(self.normalize_advantages), "truncate": self.truncate,
                "truncate_bootstrap": self.bootstrap if self.truncate is not None else None}


PLAIN = Practice()
PLAIN_LABEL = "plain"  # the label of no option, where one must be written (a path component, a --pairs entry)


def practice_from_label(text: str, what: str = "--pairs") -> Practice:
    """The options a label names -- ``plain``, ``norm``, ``cut10-value_exact``, ``norm+cut10-none`` (the inverse of
    :attr:`Practice.label`) -- checked like the flags."""
    if text == PLAIN_LABEL:
        return PLAIN
    normalize, truncate, bootstrap = False, None, None
    for part in text.split("+"):
        head, _, boot = part.partition("-")
        if part == "norm" and not normalize:
            normalize = True
        elif head.startswith("cut") and head[3:].isdigit() and boot and truncate is None:
            truncate, bootstrap = int(head[3:]), boot
        else:
            raise UserError(f"{what}: option {text!r}; allowed: plain, norm, cutT-BOOTSTRAP (T steps; BOOTSTRAP one of "
                            f"{', '.join(BOOTSTRAPS)}) or norm+cutT-BOOTSTRAP")
    return make_practice(normalize, truncate, bootstrap, names={k: what for k in CLI_NAMES})


CLI_NAMES = {"normalize": "--normalize-advantages", "truncate": "--truncate", "bootstrap": "--bootstrap"}


def config_names(where: str) -> dict[str, str]:
    """How a config section names the options in errors (``config key 'environments.x.truncate'``)."""
    pre = f"{where}." if where else ""
    return {"normalize": f"config key '{pre}normalize_advantages'", "truncate": f"config key '{pre}truncate'",
            "bootstrap": f"config key '{pre}truncate_bootstrap'"}


def is_bool(value: Any) -> bool:
    """A Python or numpy boolean (numpy's are no :class:`numbers.Integral`; a value can only be one once numpy is
    imported, so this check never imports it)."""
    np = sys.modules.get("numpy")
    return isinstance(value, bool) or (np is not None and isinstance(value, np.bool_))


def make_practice(normalize_advantages: Any = False, truncate: Any = None, bootstrap: Any = None, *,
                  names: dict[str, str] | None = None) -> Practice:
    """A checked :class:`Practice`; ``names`` say how errors name the options (default: the CLI's)."""
    n = names or CLI_NAMES
    if not is_bool(normalize_advantages):
        raise UserError(f"{n['normalize']}: {normalize_advantages!r}; allowed: true or false")
    if truncate is not None and (is_bool(truncate) or not isinstance(truncate, numbers.Integral) or truncate < 1):
        raise UserError(f"{n['truncate']}: {truncate!r}; allowed: a positive integer (steps before the cut)")
    if bootstrap is not None and bootstrap not in BOOTSTRAPS:
        raise UserError(f"{n['bootstrap']}: {bootstrap!r}; allowed: {', '.join(BOOTSTRAPS)}")
    if bootstrap is not None and truncate is None:
        raise UserError(f"{n['bootstrap']}: {bootstrap!r} completes the return of a cut episode; give "
                        f"{n['truncate']} T as well")
    return Practice(bool(normalize_advantages), None if truncate is None else int(truncate), bootstrap or "none")


def check_practice(practice: Practice, est: Any, baseline: str, objective: str, track: str) -> None:
    """Refuse a practice option where it is not defined, by name (before any work)."""
    if practice.plain:
        return
    opt = "--normalize-advantages" if practice.normalize_advantages else "--truncate"
    if track != "tabular":
        raise UserError(f"{opt}: tabular problems only (the normalisation scale and the cut's target are exact)")
    if est.sampling != "trajectories" or est.fit is not None:
        raise UserError(f"{opt}: not for {est.name} (it samples or fits on its own); allowed: estimators on the "
                        "job's common trajectories without a fit of their own, e.g. reward_to_go, gae, "
                        "reward_to_go_common, gae_common")
    if practice.truncate is not None and objective not in ("discounted", "episodic"):
        raise UserError(f"--truncate: for the discounted and episodic objectives (H = inf), not {objective} "
                        "(a finite horizon already ends every episode at H)")
    if practice.normalize_advantages:
        check_normalizable(est.name, baseline)


def check_normalizable(estimator: str, baseline: str) -> None:
    """Refuse ``--normalize-advantages`` where the exact scale is not available, naming what is."""
    base = baseline.partition(":")[0]
    known = normalizable()
    if base not in known.get(estimator, ()):
        allowed = "; ".join(f"{e} with {', '.join(bs)}" for e, bs in known.items())
        raise UserError(f"--normalize-advantages: not available for {estimator}~{base} (the exact standard deviation "
                        f"of its step weights, the scale of its N -> inf limit, is not covered); allowed: {allowed}")


# ------------------------------------------------------------------------------------------ truncation

def bootstrap_values(ctx: Any, practice: Practice, aux: Batch | None,
                     seq: Any) -> Callable[..., np.ndarray] | None:
    """``V_boot(states, times)`` of a truncated run (``None`` for ``none``); ``value_learned`` fits on ``aux``
    (the independent batch, not yet completed)."""
    if practice.truncate is None or practice.bootstrap == "none":
        return None
    if practice.bootstrap == "value_exact":
        return ctx.exact_state_values
    if aux is None:
        raise ValueError("bootstrap value_learned needs an independent fitting batch")
    return ctx.fit_values(aux, seq)


def cut(batch: Batch, truncate: int, values: Callable[..., np.ndarray] | None) -> Batch:
    """A batch sampled for ``truncate`` steps at most, with every cut episode ended and its last reward
    completed by ``gamma V_boot(s_T)`` (module docstring).  Cached returns are recomputed."""
    import numpy as np

    cut_rows = (~batch.ended) & (batch.lengths == truncate)
    rewards = batch.rewards
    if values is not None and cut_rows.any():
        rows = np.flatnonzero(cut_rows)
        last = batch.lengths[rows] - 1
        nxt = batch.next_states[rows, last]
        rewards = np.array(batch.rewards, dtype=np.float64, copy=True)
        blocks = batch.block_ids[rows][:, None] if batch.blocks > 1 else None
        boot = np.asarray(values(nxt[:, None], (last + 1)[:, None], blocks), dtype=np.float64)[:, 0]
        rewards[rows, last] += batch.gamma * boot
    new = batch.replace(rewards=rewards, ended=np.ones(batch.num, bool), truncated=cut_rows)
    for cached in ("returns", "first_returns", "end_mask"):  # derived from the rewards and the ends
        new.__dict__.pop(cached, None)
    return new


# ------------------------------------------------------------------------------------------ normalisation

def normalize_weights(weights: np.ndarray, mask: np.ndarray, blocks: int = 1) -> np.ndarray:
    """``(w - m̂) / (ŝ + ε)`` over the real steps (``mask``) of each batch of a stack of ``blocks`` (``ŝ`` the
    ``n - 1`` standard deviation), as CleanRL and Stable-Baselines3 do; a batch with fewer than two real steps:
    unchanged.  ``weights`` and ``mask`` are ``(blocks * rows, steps)``; so is the result."""
    import numpy as np

    w = np.where(mask, np.asarray(weights, dtype=np.float64), 0.0)
    rows = w.shape[0] // max(blocks, 1)
    per_w = w.reshape(blocks, rows * w.shape[1])
    per_m = mask.reshape(blocks, rows * w.shape[1])
    k = per_m.sum(axis=1)
    m = per_w.sum(axis=1) / np.maximum(k, 1)
    dev = np.where(per_m, per_w - m[:, None], 0.0)
    sd = np.sqrt((dev * dev).sum(axis=1) / np.maximum(k - 1, 1))
    divisor = np.where(k >= 2, sd + NORMALIZE_EPS, 1.0)
    shift = np.where(k >= 2, m, 0.0)
    out = np.where(per_m, (per_w - shift[:, None]) / divisor[:, None], 0.0)
    return out.reshape(w.shape)


__all__ = ["BOOTSTRAPS", "CLI_NAMES", "NORMALIZE_EPS", "PLAIN", "PLAIN_LABEL", "Practice",
           "bootstrap_values", "check_normalizable", "check_practice", "config_names", "cut", "make_practice",
           "normalizable", "normalize_weights", "practice_from_label"]
