"""Candidate sources: where the items considered for a homepage come from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from indexer.replica import IndexReplica
from ranker.pipeline.candidates import Candidates
from ranker.pipeline.stages import RankingQuery
from ranker.trending import TrendingCounter


class FaissCandidateSource:
    """Nearest items to each user's interest vector: one batched FAISS search.

    With ``skip_model_retrieved``, users whose candidates the sequence model's
    source already found are left out. Its index holds every catalog item
    (brand-new ones from their text) and its scorer orders all candidates,
    so text neighbours beyond the model's own top items could only reach the
    homepage from below its top ``limit``; the search cost as much as the
    model's own (docs/benchmarks.md, "Ranking cost").
    """

    name = "ann"
    fail_open = True

    def __init__(self, replica: IndexReplica, *, skip_model_retrieved: bool = False) -> None:
        self._replica = replica
        self._skip_model_retrieved = skip_model_retrieved

    def fetch(self, queries: Sequence[RankingQuery], limit: int) -> list[Candidates]:
        """ANN candidates, excluding what each user has already seen."""
        results = [Candidates.empty() for _ in queries]
        with_vector = [
            i
            for i, query in enumerate(queries)
            if query.user_vector is not None
            and not (self._skip_model_retrieved and query.retrieved_by_model)
        ]
        vectors = [cast("np.ndarray", queries[i].user_vector) for i in with_vector]
        if not vectors or len(self._replica) == 0:
            return results
        index = self._replica.index
        matrix = np.stack(vectors).astype(np.float32)
        exclude = [queries[i].seen for i in with_vector]
        hits = index.search_rows(matrix, limit, exclude=exclude)
        for position, (rows, similarities) in zip(with_vector, hits, strict=True):
            results[position] = Candidates.of(index.ids_at(rows), rows, self.name, similarities)
        return results


class TrendingCandidateSource:
    """The hottest items right now: the whole homepage for a newcomer."""

    name = "trending"
    fail_open = True

    def __init__(self, trending: TrendingCounter, replica: IndexReplica, size: int) -> None:
        self._trending = trending
        self._replica = replica
        self._size = size

    def fetch(self, queries: Sequence[RankingQuery], limit: int) -> list[Candidates]:
        """The same trending list for every query (computed once per batch)."""
        hot = [
            (item_id, score)
            for item_id, score in self._trending.top(self._size * 2)
            if item_id in self._replica
        ][: self._size]
        ids = [item_id for item_id, _ in hot]
        shared = Candidates.of(
            ids,
            self._replica.index.rows(ids),
            self.name,
            np.array([score for _, score in hot], dtype=np.float32),
        )
        # One copy per user: stages set fields (scores, explored) on what they get.
        everything = np.arange(len(shared))
        return [shared.take(everything) for _ in queries]
