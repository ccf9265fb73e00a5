"""Policies: the parameterisations whose gradients we estimate.

``make_policy(spec, features)`` is the seam: ``linear`` (softmax-linear, the default) today; the
neural ``mlp:...`` policy plugs in here with the same :class:`~pgexp.policies.base.TabularPolicy` maps.
"""

from __future__ import annotations

from pgexp.errors import UserError
from pgexp.policies.base import TabularPolicy
from pgexp.policies.features import DenseFeatures, Features, TabularFeatures, make_features
from pgexp.policies.softmax_linear import SoftmaxLinearPolicy
from pgexp.specs import parse_spec

POLICY_KINDS = ("linear",)


def make_policy(spec: str | None, features: Features) -> TabularPolicy:
    """The policy a ``--policy`` spec names over ``features`` (``None`` or ``linear``: softmax-linear)."""
    name = "linear" if spec is None else parse_spec(spec, what="--policy").name
    if name == "linear":
        return SoftmaxLinearPolicy(features)
    raise UserError(f"--policy: unknown kind {name!r}; allowed: {', '.join(POLICY_KINDS)}")


__all__ = [
    "DenseFeatures", "Features", "SoftmaxLinearPolicy", "TabularFeatures", "TabularPolicy",
    "make_features", "make_policy",
]
