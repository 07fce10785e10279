"""The learned click model as a live pipeline stage.

The features are the ones the model was trained on (``ranker.model.features``),
computed from what this worker has seen so far: the same code, fed with the
live stream instead of the training log.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from indexer.replica import IndexReplica
from ranker.model.artifacts import ClickPredictor
from ranker.model.features import (
    LiveItemStats,
    candidate_features,
    genre_affinity,
    genre_matrix,
    genre_profiles,
)
from ranker.model.item_text import genre_set, release_year
from ranker.pipeline.candidates import Candidates
from ranker.pipeline.stages import RankingQuery, Scorer
from ranker.state import INTERACTION_WEIGHTS

log = logging.getLogger(__name__)

MS_PER_DAY = 86_400_000.0


class ClickModelScorer:
    """Click probability from the trained model; falls back while none is usable.

    The model reads item vectors from its own fine-tuned tower, so it is used
    only once the replica holds vectors of that model version for the whole
    catalog; until the indexer has re-encoded everything the fallback scores.
    """

    name = "click_model"

    def __init__(
        self,
        replica: IndexReplica,
        stats: LiveItemStats,
        model: Callable[[], ClickPredictor | None],
        fallback: Scorer,
    ) -> None:
        self._replica = replica
        self._stats = stats
        self._model = model
        self._fallback = fallback

    def usable(self) -> ClickPredictor | None:
        """The model, if the replica's vectors all come from its item tower."""
        scorer = self._model()
        if scorer is None or not len(self._replica):
            return None
        if self._replica.version_share(scorer.model_version) < 1.0:
            return None
        return scorer

    def score(self, queries: Sequence[RankingQuery], candidates: list[Candidates]) -> str:
        """Score every candidate of every query in place (one model call per batch).

        Returns the version of the model that scored, or the fallback's.
        """
        scorer = self.usable()
        if scorer is None or not any(len(c) for c in candidates):
            return self._fallback.score(queries, candidates)
        history = self._histories(queries, scorer)
        width = max(len(c) for c in candidates)
        dim = scorer.dim
        vectors = np.zeros((len(queries), width, dim), dtype=np.float32)
        features = np.zeros((len(queries), width, len(scorer.feature_names)), dtype=np.float32)
        for row, (query, user_candidates) in enumerate(zip(queries, candidates, strict=True)):
            count = len(user_candidates)
            if not count:
                continue
            ids = user_candidates.item_ids.tolist()
            vectors[row, :count] = self._replica.index.vectors_at(user_candidates.rows)
            features[row, :count] = self._features(query, ids, float(history.event_ts[row]))
        probabilities = scorer.score(
            history.vectors, history.weights, history.age_days, history.mask, vectors, features
        )
        names = tuple(scorer.feature_names)
        for row, user_candidates in enumerate(candidates):
            count = len(user_candidates)
            user_candidates.scores = np.asarray(probabilities[row, :count], dtype=np.float32)
            user_candidates.features = features[row, :count]
            user_candidates.feature_names = names
        return scorer.model_version

    def _histories(self, queries: Sequence[RankingQuery], scorer: ClickPredictor) -> _Histories:
        max_history = int(scorer.model.config.max_history)
        batch = len(queries)
        dim = scorer.dim
        result = _Histories(
            vectors=np.zeros((batch, max_history, dim), dtype=np.float32),
            weights=np.zeros((batch, max_history), dtype=np.float32),
            age_days=np.zeros((batch, max_history), dtype=np.float32),
            mask=np.zeros((batch, max_history), dtype=bool),
            event_ts=np.zeros(batch, dtype=np.float64),
        )
        for row, query in enumerate(queries):
            known = [i for i in query.history if i.item_id in self._replica][-max_history:]
            now_ms = max((i.ts for i in query.history), default=0)
            result.event_ts[row] = now_ms / 1000.0
            if not known:
                continue
            width = len(known)
            result.vectors[row, :width] = self._replica.index.vectors([i.item_id for i in known])
            result.weights[row, :width] = [INTERACTION_WEIGHTS.get(i.type, 0.0) for i in known]
            result.age_days[row, :width] = [(now_ms - i.ts) / MS_PER_DAY for i in known]
            result.mask[row, :width] = True
        return result

    def _features(self, query: RankingQuery, item_ids: list[str], ts: float) -> np.ndarray:
        popularity, trending, first_ts = self._stats.rows(item_ids, ts)
        info = self._replica.info.get
        history_infos = [info(interaction.item_id) for interaction in query.history]
        candidate_infos = [info(item_id) for item_id in item_ids]
        history_genres = [genre_set(i.category if i else None) for i in history_infos]
        candidate_genres = [genre_set(i.category if i else None) for i in candidate_infos]
        # The genre profile and affinity of training (ranker.model.features), over
        # the genres this user's history and candidates mention.
        vocabulary: dict[str, int] = {}
        for genres in (*history_genres, *candidate_genres):
            for genre in genres:
                vocabulary.setdefault(genre, len(vocabulary))
        weights = np.array(
            [[INTERACTION_WEIGHTS.get(i.type, 0.0) for i in query.history]], dtype=np.float32
        )
        profile = genre_profiles(
            genre_matrix(history_genres, vocabulary),
            np.arange(len(history_genres))[None, :],
            weights,
        )
        affinity = genre_affinity(profile, genre_matrix(candidate_genres, vocabulary))[0]
        years = np.array(
            [release_year(i.title) if i else math.nan for i in candidate_infos], dtype=np.float64
        )
        return candidate_features(
            popularity=popularity,
            trending=trending,
            first_ts=first_ts,
            release_years=years,
            genre_affinity=affinity,
            event_ts=np.array([ts]),
            history_length=np.array([float(query.history_length)]),
        )


@dataclass
class _Histories:
    vectors: np.ndarray
    weights: np.ndarray
    age_days: np.ndarray
    mask: np.ndarray
    event_ts: np.ndarray
