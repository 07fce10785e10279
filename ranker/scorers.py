"""Scorers: give every candidate a number that orders the homepage."""

from __future__ import annotations

from collections.abc import Sequence

from indexer.replica import IndexReplica
from ranker.stages import Candidate, RankingQuery


class DotProductScorer:
    """Cosine between the user's interest vector and the item vector.

    Users without an interest vector (no history yet) keep the retrieval
    score, which for them is the trending count. One matrix product per batch.
    """

    name = "dot"

    def __init__(self, replica: IndexReplica) -> None:
        self._replica = replica

    def version(self) -> str:
        """Name the scorer: dot@ plus the encoder versions of the item vectors."""
        return f"dot@{','.join(sorted(self._replica.encoder_versions)) or 'none'}"

    def score(self, queries: Sequence[RankingQuery], candidates: list[list[Candidate]]) -> None:
        """Score all candidates of all queries in place."""
        for query, user_candidates in zip(queries, candidates, strict=True):
            if query.user_vector is None or not user_candidates:
                for candidate in user_candidates:
                    candidate.score = candidate.retrieval_score
                continue
            item_vectors = self._replica.index.vectors(
                [c.item_id for c in user_candidates], fill_missing=True
            )
            similarities = item_vectors @ query.user_vector
            for candidate, similarity in zip(user_candidates, similarities, strict=True):
                candidate.score = float(similarity)
