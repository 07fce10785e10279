"""Filters: rules that remove candidates, each a boolean mask over them."""

from __future__ import annotations

import numpy as np

from indexer.replica import IndexReplica
from ranker.pipeline.candidates import Candidates
from ranker.pipeline.stages import RankingQuery


class DuplicateCandidatesFilter:
    """Keeps the first occurrence of an item offered by several sources."""

    name = "duplicates"

    def keep(self, query: RankingQuery, candidates: Candidates) -> np.ndarray:
        """True at each item id's first position."""
        kept = np.zeros(len(candidates), dtype=bool)
        if len(candidates):
            # Rows identify items while the replica holds them; unknown items
            # (row -1) are left to RemovedItemsFilter.
            _, first = np.unique(candidates.rows, return_index=True)
            kept[first] = True
            kept |= candidates.rows < 0
        return kept


class SeenItemsFilter:
    """Never show an item the user already clicked, viewed or disliked."""

    name = "seen"

    def keep(self, query: RankingQuery, candidates: Candidates) -> np.ndarray:
        """False for items in the user's seen set."""
        seen = query.seen
        return np.fromiter(
            (item_id not in seen for item_id in candidates.item_ids.tolist()),
            dtype=bool,
            count=len(candidates),
        )


class RemovedItemsFilter:
    """Drop items no longer in the catalog (deleted after they were retrieved)."""

    name = "removed"

    def __init__(self, replica: IndexReplica) -> None:
        self._replica = replica

    def keep(self, query: RankingQuery, candidates: Candidates) -> np.ndarray:
        """Keep only items the replica still holds."""
        return self._replica.index.live_at(candidates.rows)
