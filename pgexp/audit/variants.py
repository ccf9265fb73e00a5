"""The audited choices and their estimator variants, each compared with its textbook reference.

A *variant* is an estimator with batch-level options (:class:`~pgexp.estimators.practice.Practice`) and the
textbook estimator it stands in for (same baseline, no options):

============ ========================================================= =====================================
choice       variants                                                  reference
============ ========================================================= =====================================
``common``   ``reward_to_go_common``, ``gae_common`` (no ``gamma^h``)    ``reward_to_go``, ``gae``
``normalize`` ``reward_to_go``, ``reward_to_go_common``, ``gae_common``  ``reward_to_go``, ``reward_to_go``,
             with ``--normalize-advantages``                           ``gae``
``truncate`` ``reward_to_go`` cut at ``T`` with ``--bootstrap`` ``none``,   ``reward_to_go`` (uncut)
             ``value_exact``, ``value_learned``
============ ========================================================= =====================================

``common`` needs a finite horizon (the common variants are defined for the finite and episodic objectives;
they differ from the textbook form only when ``gamma < 1``); ``truncate`` an infinite horizon (discounted or
episodic).  Every variant of a problem is sampled on the same streams as its reference (common random
numbers; a cut trajectory is a prefix of the uncut one), so their comparison is paired.

Metadata only (no numerical imports): the study reads it at every ``snakemake`` call.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgexp.estimators.practice import PLAIN_LABEL, Practice

CHOICES = ("common", "normalize", "truncate")
TEXTBOOK = "textbook"  # the choice label of a reference row
PLAIN_OPTION = PLAIN_LABEL


@dataclass(frozen=True)
class Variant:
    """An estimator with batch-level options, the choice it illustrates and its textbook reference."""

    choice: str
    estimator: str
    baseline: str
    practice: Practice
    reference: str

    @property
    def option(self) -> str:
        """``plain``, ``norm``, ``cut10-value_exact`` ... (a path component and a table column)."""
        return self.practice.label or PLAIN_OPTION

    @property
    def key(self) -> str:
        """``estimator~baseline~option``: the variant's name in paths and tables."""
        return f"{self.estimator}~{self.baseline}~{self.option}"

    @property
    def reference_key(self) -> str:
        return f"{self.reference}~{self.baseline}~{PLAIN_OPTION}"

    @property
    def is_reference(self) -> bool:
        return self.choice == TEXTBOOK


def variants(choices: tuple[str, ...], baseline: str, truncate: int | None) -> list[Variant]:
    """The variants of ``choices`` (module docstring), references first, each once."""
    out: list[Variant] = []

    def add(v: Variant) -> None:
        if all(v.key != o.key for o in out):
            out.append(v)

    def ref(est: str) -> Variant:
        return Variant(TEXTBOOK, est, baseline, Practice(), est)

    for choice in choices:
        if choice == "common":
            for est, common in (("reward_to_go", "reward_to_go_common"), ("gae", "gae_common")):
                add(ref(est))
                add(Variant("common", common, baseline, Practice(), est))
        elif choice == "normalize":
            norm = Practice(normalize_advantages=True)
            add(ref("reward_to_go"))
            add(ref("gae"))
            for est, reference in (("reward_to_go", "reward_to_go"), ("reward_to_go_common", "reward_to_go"),
                                   ("gae_common", "gae")):
                add(Variant("normalize", est, baseline, norm, reference))
        elif choice == "truncate":
            add(ref("reward_to_go"))
            for boot in ("none", "value_exact", "value_learned"):
                add(Variant("truncate", "reward_to_go", baseline, Practice(truncate=truncate, bootstrap=boot),
                            "reward_to_go"))
        else:
            raise ValueError(choice)
    return out


def parse_key(key: str) -> tuple[str, str, str]:
    """``estimator~baseline~option`` -> its three parts."""
    est, base, option = key.split("~")
    return est, base, option


__all__ = ["CHOICES", "PLAIN_OPTION", "TEXTBOOK", "Variant", "parse_key", "variants"]
