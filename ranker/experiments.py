"""Experiments: which variant of the homepage each user gets, stable for the experiment's life.

An experiment is a salt and a list of variants, each a name, what ranks for
it (a model folder, ``dot-product`` or ``trending``) and a traffic share. A
user's variant is chosen by *weighted rendezvous hashing*: every variant
draws a uniform number ``u`` from a hash of (salt, variant name, user id) and
scores ``-share / ln(u)``; the highest score wins. That gives each variant its
share of users, and, because a user's draws never change while the salt
stays:

* a user's variant never flips between restarts, workers or processes;
* raising one variant's share moves users *into* it only, lowering it moves
  users *out of* it only — nobody else changes variant;
* adding a variant takes its users from the others in proportion, removing one
  spreads its users over the rest, and everybody else stays put.

A fresh salt reshuffles everyone: that is how a new experiment starts.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

DOT_PRODUCT = "dot-product"
TRENDING = "trending"
BUILT_IN_RANKERS = (DOT_PRODUCT, TRENDING)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SCALE = float(1 << 64)


class ExperimentError(ValueError):
    """An experiment declaration that cannot be run, with what is wrong in it."""


@dataclass(frozen=True)
class Variant:
    """One arm: its name, what ranks for it, and its traffic share (any positive weight)."""

    name: str
    ranker: str  # a model folder, or one of BUILT_IN_RANKERS
    share: float

    @property
    def uses_model(self) -> bool:
        """True when the variant ranks with a model artifact (not a built-in ranker)."""
        return self.ranker not in BUILT_IN_RANKERS


@dataclass(frozen=True)
class Experiment:
    """A salt and its variants; :meth:`variant_of` assigns users."""

    salt: str
    variants: tuple[Variant, ...]

    def __post_init__(self) -> None:
        if not self.salt:
            raise ExperimentError("an experiment needs a salt (any text; a new salt reshuffles)")
        if not self.variants:
            raise ExperimentError("an experiment needs at least one variant")
        names = [variant.name for variant in self.variants]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ExperimentError(f"variant names must differ: {', '.join(duplicated)}")
        for variant in self.variants:
            if not _NAME.match(variant.name):
                raise ExperimentError(
                    f"variant name {variant.name!r}: letters, digits, '.', '_' or '-', "
                    "at most 64 characters"
                )
            if not (variant.share > 0 and math.isfinite(variant.share)):
                raise ExperimentError(f"variant {variant.name!r}: share must be above zero")
            if not variant.ranker:
                raise ExperimentError(f"variant {variant.name!r}: say what ranks for it")

    @property
    def total_share(self) -> float:
        """The sum of the variants' shares (shares are weights, not percentages)."""
        return sum(variant.share for variant in self.variants)

    def fraction(self, name: str) -> float:
        """The share of users the variant ``name`` gets, between 0 and 1."""
        return self.by_name(name).share / self.total_share

    def by_name(self, name: str) -> Variant:
        """The variant called ``name``; KeyError when there is none."""
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise KeyError(name)

    def variant_of(self, user_id: str) -> Variant:
        """The user's variant: the highest weighted rendezvous score wins."""
        return max(self.variants, key=lambda variant: self._score(variant, user_id))

    def _score(self, variant: Variant, user_id: str) -> float:
        return -variant.share / math.log(unit_draw(self.salt, variant.name, user_id))


def unit_draw(salt: str, variant: str, user_id: str) -> float:
    """A uniform number in (0, 1) fixed by its inputs (BLAKE2b, the same on every machine)."""
    digest = hashlib.blake2b(f"{salt}\x1f{variant}\x1f{user_id}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / _SCALE


def parse_variants(text: str) -> tuple[Variant, ...]:
    """``name=ranker:share`` items separated by commas.

    For example ``model=models/seq:50,dp=dot-product:50``. The share follows
    the last ``:`` so that a ranker path may hold colons.
    """
    variants = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        name, equals, rest = part.partition("=")
        ranker, colon, share_text = rest.rpartition(":")
        if not equals or not colon:
            raise ExperimentError(f"variant {part!r}: expected name=ranker:share")
        try:
            share = float(share_text)
        except ValueError:
            raise ExperimentError(
                f"variant {part!r}: share {share_text!r} is not a number"
            ) from None
        variants.append(Variant(name.strip(), ranker.strip(), share))
    return tuple(variants)


def experiment_from(salt: str, variants: str) -> Experiment | None:
    """The experiment the settings declare; None when no variants are set."""
    parsed = parse_variants(variants)
    return Experiment(salt, parsed) if parsed else None


def assignment_counts(experiment: Experiment, user_ids: Sequence[str]) -> dict[str, int]:
    """How many of ``user_ids`` each variant gets (reports and tests)."""
    counts = {variant.name: 0 for variant in experiment.variants}
    for user_id in user_ids:
        counts[experiment.variant_of(user_id).name] += 1
    return counts
