"""The sequence model's stages: encode the batch's users, retrieve, score.

All three read the same :class:`ranker.model.sequence_live.SequenceServing`.
The encoder runs the model once per batch and leaves each user's vector (and
the version that made it) on the query; the source searches the model's item
index with it; the scorer orders every candidate, whichever source found it,
by ``user · item``. Without a loaded model (or for a user with no known
history) they step aside: the source returns nothing and the scorer hands the
batch, or that user, to the scorer it wraps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from indexer.replica import IndexReplica
from ranker.model.sequence_live import SequenceServing
from ranker.pipeline.candidates import Candidates
from ranker.pipeline.stages import RankingQuery, Scorer

UNKNOWN_ITEM_SCORE = -1e9


class SequenceUserEncoder:
    """The user vector of each query with a known history: one forward pass per batch."""

    name = "sequence_users"

    def __init__(self, serving: SequenceServing) -> None:
        self._serving = serving

    def encode(self, queries: Sequence[RankingQuery]) -> None:
        """Set ``model_vector`` and ``model_vector_version`` where the model can."""
        live = self._serving.current()
        if live is None:
            return
        batch = live.user_vectors([query.history for query in queries])
        for position, vector in zip(batch.positions, batch.vectors, strict=True):
            queries[position].model_vector = vector
            queries[position].model_vector_version = live.model_version


class SequenceCandidateSource:
    """The items the sequence model scores highest for each user: one batched search."""

    name = "sequence"
    fail_open = True

    def __init__(self, serving: SequenceServing, replica: IndexReplica) -> None:
        self._serving = serving
        self._replica = replica

    def fetch(self, queries: Sequence[RankingQuery], limit: int) -> list[Candidates]:
        """Top items by model score, excluding what each user has already seen."""
        results = [Candidates.empty() for _ in queries]
        live = self._serving.current()
        if live is None:
            return results
        encoded = [i for i, q in enumerate(queries) if q.model_vector_version == live.model_version]
        if not encoded:
            return results
        matrix = np.stack([q.model_vector for q in map(queries.__getitem__, encoded)])  # type: ignore[misc]
        hits = live.index.search_rows(matrix, limit, exclude=[queries[i].seen for i in encoded])
        for position, (model_rows, scores) in zip(encoded, hits, strict=True):
            item_ids = live.index.ids_at(model_rows)
            # Later stages address items by the replica's rows.
            rows = self._replica.index.rows(item_ids)
            results[position] = Candidates.of(item_ids, rows, self.name, scores)
            queries[position].retrieved_by_model = True
        return results


class SequenceScorer:
    """``user · item`` from the sequence model for every candidate of every encoded user.

    Users the encoder could not encode keep what ``fallback`` gives them; a
    batch with none encoded is the fallback's entirely (and carries its version).
    """

    name = "sequence"

    def __init__(self, serving: SequenceServing, fallback: Scorer) -> None:
        self._serving = serving
        self._fallback = fallback

    def score(self, queries: Sequence[RankingQuery], candidates: list[Candidates]) -> str:
        """Score in place; returns the sequence model's version when it scored."""
        live = self._serving.current()
        version = live.model_version if live is not None else ""
        encoded = [
            q.model_vector is not None and q.model_vector_version == version for q in queries
        ]
        if live is None or not any(encoded):
            return self._fallback.score(queries, candidates)
        missing = [position for position, has_vector in enumerate(encoded) if not has_vector]
        if missing:
            # A newcomer (no known history) gets what the wrapped scorer gives.
            self._fallback.score([queries[i] for i in missing], [candidates[i] for i in missing])
        for query, user_candidates, has_vector in zip(queries, candidates, encoded, strict=True):
            if not has_vector or not len(user_candidates):
                continue
            model_rows = live.index.rows(user_candidates.item_ids.tolist())
            scores = live.index.vectors_at(model_rows) @ query.model_vector
            # An item the model's index lacks (it left the catalog mid-pass) goes last
            # (finite: rankings are also served as JSON).
            scores[model_rows < 0] = UNKNOWN_ITEM_SCORE
            user_candidates.scores = scores.astype(np.float32)
        return version
