"""Selectors: order, trim and explain the scored candidates of one user."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

import numpy as np

from indexer.replica import IndexReplica
from ranker.stages import Candidate, RankingQuery

REASON_HISTORY = 10  # how many recent positive interactions a reason may cite
EXPLORE_REASON = "something new to explore"


class HomepageSizeSelector:
    """Cuts the ordered candidates to the number of slots on a homepage."""

    name = "homepage_size"

    def __init__(self, size: int) -> None:
        self._size = size

    def select(self, query: RankingQuery, candidates: list[Candidate]) -> list[Candidate]:
        """The first ``size`` candidates, order unchanged."""
        return candidates[: self._size]


def category_key(category: str | None) -> str:
    """The category a diversity rule counts: the first of a multi-genre label."""
    if not category:
        return ""
    return category.split(",")[0].strip().lower()


class DiversitySelector:
    """Best score first, but no category fills more than ``max_per_category`` of the top ``window``.

    Items over the cap are not dropped: they move just below the window, so a
    one-interest user still sees their interest first and the rest next.
    """

    name = "diversity"

    def __init__(
        self, replica: IndexReplica, *, window: int = 10, max_per_category: int = 6
    ) -> None:
        self._replica = replica
        self._window = window
        self._max = max_per_category

    def select(self, query: RankingQuery, candidates: list[Candidate]) -> list[Candidate]:
        """All candidates by score, re-ordered so the window respects the category cap."""
        ranked = sorted(candidates, key=lambda c: -c.score)
        keys = []
        for candidate in ranked:
            info = self._replica.info.get(candidate.item_id)
            keys.append(category_key(info.category if info else None))
        return [ranked[i] for i in capped_order(keys, self._window, self._max)]


def capped_order(keys: Sequence[str], window: int, max_per_key: int) -> list[int]:
    """Re-order a best-first list so no key fills more than ``max_per_key`` of the window.

    Returns positions into ``keys``; empty keys are never capped. Items over the
    cap move just below the window, ahead of everything that scored lower than
    them, so nothing is dropped (and they fill the window if too few others exist).
    """
    chosen: list[int] = []
    deferred: list[int] = []
    counts: dict[str, int] = {}
    for position, key in enumerate(keys):
        if len(chosen) == window:
            break
        if key and counts.get(key, 0) >= max_per_key:
            deferred.append(position)
            continue
        counts[key] = counts.get(key, 0) + 1
        chosen.append(position)
    taken = set(chosen) | set(deferred)
    return chosen + deferred + [p for p in range(len(keys)) if p not in taken]


class ExplorationSelector:
    """Gives a small share of the shown slots to candidates ranked below the fold.

    Without it the system only ever learns about what it already shows. The
    picks are seeded by user and history length, so a ranking is reproducible.
    """

    name = "exploration"

    def __init__(self, size: int, share: float, *, first_slot: int = 3) -> None:
        self._size = size
        self._share = share
        self._first_slot = first_slot

    def select(self, query: RankingQuery, candidates: list[Candidate]) -> list[Candidate]:
        """Swap ``share`` of the first ``size`` slots for random candidates after them."""
        shown = min(self._size, len(candidates))
        pool = candidates[self._size :]
        slots = min(int(round(self._share * shown)), len(pool), shown - self._first_slot)
        if slots <= 0:
            return candidates
        seed_text = f"{query.user_id}:{len(query.history)}".encode()
        rng = random.Random(int.from_bytes(hashlib.blake2b(seed_text, digest_size=8).digest()))
        picks = rng.sample(pool, slots)
        positions = sorted(rng.sample(range(self._first_slot, shown), slots))
        result = list(candidates[:shown])
        for position, pick in zip(positions, picks, strict=True):
            pick.reason = EXPLORE_REASON
            result[position] = pick
        return result


class ReasonSelector:
    """Says why each item is there: the recent item it is most like, or trending."""

    name = "reason"

    def __init__(self, replica: IndexReplica) -> None:
        self._replica = replica

    def select(self, query: RankingQuery, candidates: list[Candidate]) -> list[Candidate]:
        """Annotate ``reason`` on each candidate; order is unchanged."""
        liked = [i.item_id for i in reversed(query.history) if i.type == "click"]
        anchors = self._replica.known(dict.fromkeys(liked))[:REASON_HISTORY]
        if not anchors:
            anchors = self._replica.known(
                dict.fromkeys(i.item_id for i in reversed(query.history) if i.type == "view")
            )[:REASON_HISTORY]
        if not anchors or not candidates:
            for candidate in candidates:
                if candidate.reason != EXPLORE_REASON:
                    candidate.reason = "trending" if candidate.source == "trending" else "for you"
            return candidates
        anchor_vectors = self._replica.index.vectors(anchors)
        candidate_vectors = self._replica.index.vectors(
            [c.item_id for c in candidates], fill_missing=True
        )
        closest = np.argmax(candidate_vectors @ anchor_vectors.T, axis=1)
        for candidate, anchor in zip(candidates, closest, strict=True):
            if candidate.reason == EXPLORE_REASON:
                continue
            if candidate.source == "trending":
                candidate.reason = "trending"
            else:
                candidate.reason = f"because you liked {self._replica.title(anchors[int(anchor)])}"
        return candidates
