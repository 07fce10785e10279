"""Scorers: give every candidate a number that orders the homepage."""

from __future__ import annotations

from collections.abc import Sequence

from indexer.replica import IndexReplica
from ranker.pipeline.candidates import Candidates
from ranker.pipeline.stages import RankingQuery


class DotProductScorer:
    """Cosine between the user's interest vector and the item vector.

    Users without an interest vector (no history yet) keep the retrieval
    score, which for them is the trending count.
    """

    name = "dot"

    def __init__(self, replica: IndexReplica) -> None:
        self._replica = replica

    def version(self) -> str:
        """Name the scorer: dot@ plus the encoder versions of the item vectors."""
        return f"dot@{','.join(sorted(self._replica.encoder_versions)) or 'none'}"

    def score(self, queries: Sequence[RankingQuery], candidates: list[Candidates]) -> str:
        """Score all candidates of all queries in place: one gather and matvec per user."""
        version = self.version()
        vectors_at = self._replica.index.vectors_at
        for query, user_candidates in zip(queries, candidates, strict=True):
            if query.user_vector is None or not len(user_candidates):
                user_candidates.scores = user_candidates.retrieval_scores.copy()
                continue
            user_candidates.scores = vectors_at(user_candidates.rows) @ query.user_vector
        return version


class TrendingScorer:
    """Keeps the trending order: the score is the item's trending weight.

    The ``trending`` experiment variant, a popularity baseline on live traffic
    (what every user would see without personalisation, minus what they saw).
    """

    name = "trending"

    def score(self, queries: Sequence[RankingQuery], candidates: list[Candidates]) -> str:
        """Scores are the retrieval scores (trending weights from the trending source)."""
        for user_candidates in candidates:
            user_candidates.scores = user_candidates.retrieval_scores.copy()
        return "trending"
