"""Policies: the parameterisations whose gradients we estimate.

``make_policy(spec, features)`` is the seam: ``linear`` (softmax-linear, the default) and the neural
``mlp:hidden=64x64,activation=tanh,seed=0`` (torch, :mod:`pgexp.policies.mlp`; imported only when asked
for, so linear-only commands never import torch), both with the same
:class:`~pgexp.policies.base.TabularPolicy` maps.

Importing the package costs no numerical import (the workflow checks policy specs with
:mod:`pgexp.policies.mlp_spec` on every ``snakemake`` call); the classes are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgexp.errors import UserError
from pgexp.specs import parse_spec

if TYPE_CHECKING:
    from pgexp.policies.base import TabularPolicy
    from pgexp.policies.features import DenseFeatures, Features, TabularFeatures, make_features
    from pgexp.policies.softmax_linear import SoftmaxLinearPolicy

_LAZY = {"TabularPolicy": "pgexp.policies.base", "DenseFeatures": "pgexp.policies.features",
         "Features": "pgexp.policies.features", "TabularFeatures": "pgexp.policies.features",
         "make_features": "pgexp.policies.features", "SoftmaxLinearPolicy": "pgexp.policies.softmax_linear"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pgexp.policies' has no attribute {name!r}")


POLICY_KINDS = ("linear", "mlp:hidden=64x64,activation=tanh|relu,seed=0")


def make_policy(spec: str | None, features: Features) -> TabularPolicy:
    """The policy a ``--policy`` spec names over ``features`` (``None`` or ``linear``: softmax-linear;
    ``mlp:...``: an MLP on the one-hot state with ``S`` inputs and ``A`` outputs)."""
    parsed = None if spec is None else parse_spec(spec, what="--policy")
    name = "linear" if parsed is None else parsed.name
    if name == "linear":
        from pgexp.policies.softmax_linear import SoftmaxLinearPolicy

        return SoftmaxLinearPolicy(features)
    if parsed is not None and name == "mlp":
        from pgexp.policies.mlp import make_mlp_policy

        return make_mlp_policy(parsed, features)
    raise UserError(f"--policy: unknown kind {name!r}; allowed: {', '.join(POLICY_KINDS)}")


__all__ = [
    "DenseFeatures", "Features", "SoftmaxLinearPolicy", "TabularFeatures", "TabularPolicy",
    "make_features", "make_policy",
]
