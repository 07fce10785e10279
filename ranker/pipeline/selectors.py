"""Selectors: order, trim and explain the scored candidates of one user."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Hashable, Iterator, Sequence

import numpy as np

from indexer.replica import IndexReplica
from ranker.pipeline.candidates import Candidates
from ranker.pipeline.stages import RankingQuery

REASON_HISTORY = 10  # how many recent positive interactions a reason may cite
EXPLORE_REASON = "something new to explore"


class HomepageSizeSelector:
    """Cuts the ordered candidates to the number of slots on a homepage."""

    name = "homepage_size"

    def __init__(self, size: int) -> None:
        self._size = size

    def select(self, query: RankingQuery, candidates: Candidates) -> Candidates:
        """The first ``size`` candidates, order unchanged."""
        if len(candidates) <= self._size:
            return candidates
        return candidates.take(np.arange(self._size))


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

    def select(self, query: RankingQuery, candidates: Candidates) -> Candidates:
        """All candidates by score, re-ordered so the window respects the category cap."""
        ranked = np.argsort(-candidates.scores, kind="stable")
        keys = _LazyKeys(self._replica, candidates.item_ids[ranked].tolist())
        order = np.asarray(capped_order(keys, self._window, self._max), dtype=np.int64)
        return candidates.take(ranked[order])


class _LazyKeys(Sequence[str]):
    """Category keys looked up only as far as the cap walks (usually just past the window)."""

    def __init__(self, replica: IndexReplica, item_ids: list[str]) -> None:
        self._replica = replica
        self._item_ids = item_ids

    def __len__(self) -> int:
        return len(self._item_ids)

    def __getitem__(self, position: int) -> str:  # type: ignore[override]
        return self._replica.category_key_of(self._item_ids[position])

    def __iter__(self) -> Iterator[str]:
        return map(self._replica.category_key_of, self._item_ids)


def capped_order(keys: Sequence[Hashable], window: int, max_per_key: int) -> list[int]:
    """Re-order a best-first list so no key fills more than ``max_per_key`` of the window.

    Returns positions into ``keys``; empty keys are never capped. Items over the
    cap move just below the window, ahead of everything that scored lower than
    them, so nothing is dropped (and they fill the window if too few others exist).
    """
    chosen: list[int] = []
    deferred: list[int] = []
    counts: dict[Hashable, int] = {}
    for position, key in enumerate(keys):
        if len(chosen) == window:
            break
        if key and counts.get(key, 0) >= max_per_key:
            deferred.append(position)
            continue
        counts[key] = counts.get(key, 0) + 1
        chosen.append(position)
    # Every position before the stop is chosen or deferred; the rest keep their order.
    examined = len(chosen) + len(deferred)
    return chosen + deferred + list(range(examined, len(keys)))


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

    def select(self, query: RankingQuery, candidates: Candidates) -> Candidates:
        """Swap ``share`` of the first ``size`` slots for random candidates after them."""
        shown = min(self._size, len(candidates))
        pool = range(self._size, len(candidates))
        slots = min(int(round(self._share * shown)), len(pool), shown - self._first_slot)
        if slots <= 0:
            return candidates
        seed_text = f"{query.user_id}:{len(query.history)}".encode()
        rng = random.Random(int.from_bytes(hashlib.blake2b(seed_text, digest_size=8).digest()))
        picks = rng.sample(pool, slots)
        positions = sorted(rng.sample(range(self._first_slot, shown), slots))
        order = np.arange(shown)
        order[positions] = picks
        explored = (
            np.zeros(len(candidates), dtype=bool)
            if candidates.explored is None
            else candidates.explored.copy()
        )
        explored[picks] = True
        candidates.explored = explored
        return candidates.take(order)


class ReasonSelector:
    """Says why each item is there: the recent item it is most like, or trending."""

    name = "reason"

    def __init__(self, replica: IndexReplica) -> None:
        self._replica = replica

    def select(self, query: RankingQuery, candidates: Candidates) -> Candidates:
        """Set ``reasons``, one per candidate; order is unchanged."""
        liked = [i.item_id for i in reversed(query.history) if i.type == "click"]
        anchors = self._replica.known(dict.fromkeys(liked))[:REASON_HISTORY]
        if not anchors:
            anchors = self._replica.known(
                dict.fromkeys(i.item_id for i in reversed(query.history) if i.type == "view")
            )[:REASON_HISTORY]
        count = len(candidates)
        explored = (
            candidates.explored.tolist() if candidates.explored is not None else [False] * count
        )
        trending = (candidates.sources == "trending").tolist()
        if anchors and count:
            anchor_vectors = self._replica.index.vectors(anchors)
            candidate_vectors = self._replica.index.vectors_at(candidates.rows)
            closest = np.argmax(candidate_vectors @ anchor_vectors.T, axis=1).tolist()
            liked_titles = [f"because you liked {self._replica.title(a)}" for a in anchors]
            personal = [liked_titles[anchor] for anchor in closest]
        else:
            personal = ["for you"] * count
        candidates.reasons = [
            EXPLORE_REASON if was_explored else "trending" if is_trending else reason
            for was_explored, is_trending, reason in zip(explored, trending, personal, strict=True)
        ]
        return candidates
