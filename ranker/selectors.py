"""Selectors: order, trim and explain the scored candidates of one user."""

from __future__ import annotations

import numpy as np

from indexer.replica import IndexReplica
from ranker.stages import Candidate, RankingQuery

REASON_HISTORY = 10  # how many recent positive interactions a reason may cite


class TopScoreSelector:
    """The ``size`` best-scored candidates, best first."""

    name = "top_score"

    def __init__(self, size: int) -> None:
        self._size = size

    def select(self, query: RankingQuery, candidates: list[Candidate]) -> list[Candidate]:
        """Sort by score, highest first, and cut to size (stable for ties)."""
        return sorted(candidates, key=lambda c: -c.score)[: self._size]


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
                candidate.reason = "trending" if candidate.source == "trending" else "for you"
            return candidates
        anchor_vectors = self._replica.index.vectors(anchors)
        candidate_vectors = self._replica.index.vectors(
            [c.item_id for c in candidates], fill_missing=True
        )
        closest = np.argmax(candidate_vectors @ anchor_vectors.T, axis=1)
        for candidate, anchor in zip(candidates, closest, strict=True):
            if candidate.source == "trending":
                candidate.reason = "trending"
            else:
                candidate.reason = f"because you liked {self._replica.title(anchors[int(anchor)])}"
        return candidates
