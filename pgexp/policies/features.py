"""Feature maps ``phi(s, a) in R^d`` for softmax-linear policies.

A feature map never materialises more than it must: tabular (one-hot) features of a garnet with
10^5 states would be a 4*10^5 x 4*10^5 matrix, so features expose the two products a policy needs --
``logits(theta)`` (``phi @ theta``) and ``pullback(W)`` (``sum_{s,a} W[s,a] phi(s,a)``) -- plus
``rows(s, a)`` for the few places that need explicit feature vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pgexp.errors import UserError
from pgexp.memory import require_memory
from pgexp.specs import check_keys, parse_spec

if TYPE_CHECKING:  # features only read S, A and phi of an MDP: no import of the problems package
    from pgexp.problems.mdp import FiniteMDP


class Features:
    """Interface of a feature map on an ``S x A`` problem with dimension ``dim``.

    ``num_internal``: the problem's last states that are pgexp's own (an appended absorbing state,
    :class:`~pgexp.problems.mdp.FiniteMDP`); no action is taken there, so they need no parameters.
    """

    num_states: int
    num_actions: int
    dim: int
    name: str
    num_internal: int = 0

    def logits(self, theta: np.ndarray) -> np.ndarray:
        """``theta . phi(s, a)``, shape ``(S, A)``."""
        raise NotImplementedError

    def pullback(self, weights: np.ndarray) -> np.ndarray:
        """``sum_{s,a} weights[..., s, a] phi(s, a)``: ``(..., S, A) -> (..., d)``."""
        raise NotImplementedError

    def dense(self) -> np.ndarray:
        """The full ``(S, A, d)`` array (small problems only)."""
        return self.pullback_basis()

    def pullback_basis(self) -> np.ndarray:
        S, A = self.num_states, self.num_actions
        eye = np.eye(S * A).reshape(S * A, S, A)
        return self.pullback(eye).reshape(S, A, self.dim)


@dataclass(frozen=True)
class TabularFeatures(Features):
    """One-hot ``phi(s, a) = e_{s*A + a}`` on the exposed states, ``0`` on internal ones.

    ``d = (S - num_internal) * A`` and ``theta`` is the table of logits of the exposed states (an
    internal state's logits are 0: its policy is uniform and never used).
    """

    num_states: int
    num_actions: int
    name: str = "tabular"
    num_internal: int = 0

    @property
    def dim(self) -> int:  # type: ignore[override]
        return (self.num_states - self.num_internal) * self.num_actions

    def logits(self, theta: np.ndarray) -> np.ndarray:
        table = np.asarray(theta, dtype=np.float64).reshape(self.num_states - self.num_internal, self.num_actions)
        return np.pad(table, ((0, self.num_internal), (0, 0))) if self.num_internal else table

    def pullback(self, weights: np.ndarray) -> np.ndarray:
        w = np.asarray(weights)
        if self.num_internal:
            w = w[..., : self.num_states - self.num_internal, :]
        return w.reshape((*w.shape[:-2], self.dim))


@dataclass(frozen=True, eq=False)
class DenseFeatures(Features):
    """Explicit features ``phi`` of shape ``(S, A, d)`` (the problem's own, or random)."""

    phi: np.ndarray
    name: str = "dense"
    num_internal: int = 0

    @property
    def num_states(self) -> int:  # type: ignore[override]
        return self.phi.shape[0]

    @property
    def num_actions(self) -> int:  # type: ignore[override]
        return self.phi.shape[1]

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.phi.shape[2]

    def logits(self, theta: np.ndarray) -> np.ndarray:
        return self.phi @ np.asarray(theta, dtype=np.float64)

    def pullback(self, weights: np.ndarray) -> np.ndarray:
        w = np.asarray(weights)
        S, A, d = self.phi.shape
        return (w.reshape(-1, S * A) @ self.phi.reshape(S * A, d)).reshape((*w.shape[:-2], d))

    def dense(self) -> np.ndarray:
        return self.phi


FEATURE_KINDS = ("tabular", "random:d=D,seed=S", "native")


def make_features(spec: str | None, mdp: FiniteMDP) -> Features:
    """Features named by ``spec``: ``tabular``, ``random:d=8,seed=0`` or ``native`` (the problem's own).

    ``None`` picks the problem's own features when it brings some (the corridor, a file with ``phi``),
    else tabular.
    """
    S, A, k = mdp.num_states, mdp.num_actions, mdp.num_internal
    if spec is None:
        return DenseFeatures(mdp.phi, name="native", num_internal=k) if mdp.phi is not None else \
            TabularFeatures(S, A, num_internal=k)
    parsed = parse_spec(spec, what="--features")
    if parsed.name == "tabular":
        check_keys(parsed, {}, what="--features")
        return TabularFeatures(S, A, num_internal=k)
    if parsed.name in {"native", "file"}:
        check_keys(parsed, {}, what="--features")
        if mdp.phi is None:
            raise UserError(f"--features {parsed.name}: problem {mdp.name!r} brings no features; "
                            "use tabular or random:d=..,seed=..")
        return DenseFeatures(mdp.phi, name="native", num_internal=k)
    if parsed.name == "random":
        o = check_keys(parsed, {"d": 8, "seed": 0, "scale": 1.0}, what="--features")
        if isinstance(o["d"], bool) or not isinstance(o["d"], int) or o["d"] < 1:
            raise UserError(f"--features random: d={o['d']!r}; allowed: a positive integer")
        # the draw, the features and their policy-centred copies are held at once: four (S, A, d) arrays
        require_memory(4 * 8.0 * S * A * o["d"], f"--features random:d={o['d']} ({S} states x {A} actions x d)")
        rng = np.random.default_rng(np.random.SeedSequence([int(o["seed"]), S, A, o["d"]]))
        phi = float(o["scale"]) * rng.standard_normal((S, A, o["d"]))  # internal rows too: same draws as ever
        return DenseFeatures(phi, name=parsed.canonical(), num_internal=k)
    raise UserError(f"--features: unknown kind {parsed.name!r}; allowed: {', '.join(FEATURE_KINDS)}")
