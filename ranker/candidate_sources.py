"""Candidate sources: where the items considered for a homepage come from."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from indexer.replica import IndexReplica
from ranker.stages import Candidate, RankingQuery
from ranker.trending import TrendingCounter


class FaissCandidateSource:
    """Nearest items to each user's interest vector: one batched FAISS search."""

    name = "ann"
    fail_open = True

    def __init__(self, replica: IndexReplica) -> None:
        self._replica = replica

    def fetch(self, queries: Sequence[RankingQuery], limit: int) -> list[list[Candidate]]:
        """ANN candidates, excluding what each user has already seen."""
        results: list[list[Candidate]] = [[] for _ in queries]
        with_vector = [i for i, query in enumerate(queries) if query.user_vector is not None]
        if not with_vector or len(self._replica) == 0:
            return results
        matrix = np.stack([queries[i].user_vector for i in with_vector]).astype(np.float32)
        exclude = [queries[i].seen for i in with_vector]
        hits = self._replica.index.search(matrix, limit, exclude=exclude)
        for position, neighbours in zip(with_vector, hits, strict=True):
            results[position] = [
                Candidate(item_id, self.name, float(similarity))
                for item_id, similarity in neighbours
            ]
        return results


class TrendingCandidateSource:
    """The hottest items right now: the whole homepage for a newcomer."""

    name = "trending"
    fail_open = True

    def __init__(self, trending: TrendingCounter, replica: IndexReplica, size: int) -> None:
        self._trending = trending
        self._replica = replica
        self._size = size

    def fetch(self, queries: Sequence[RankingQuery], limit: int) -> list[list[Candidate]]:
        """The same trending list for every query (computed once per batch)."""
        hot = [
            Candidate(item_id, self.name, score)
            for item_id, score in self._trending.top(self._size * 2)
            if item_id in self._replica
        ][: self._size]
        return [[Candidate(c.item_id, c.source, c.retrieval_score) for c in hot] for _ in queries]
