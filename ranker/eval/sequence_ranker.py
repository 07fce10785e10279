"""The sequence model as a catalog ranker for the offline evaluation."""

from __future__ import annotations

import numpy as np

from ranker.model.sequence_ensemble import ScoringModel
from ranker.training.histories import Histories
from ranker.training.sequence_batches import history_from_eval
from ranker.training.sequence_train import catalog_scores


class SequenceRanker:
    """Scores every catalog item by ``user vector · item vector``."""

    def __init__(self, model: ScoringModel, name: str = "model") -> None:
        self.name = name
        self._model = model.eval()

    def scores(self, histories: Histories, positions: np.ndarray) -> np.ndarray:
        """``(B, items)`` scores for each history (its newest ``max_length`` interactions)."""
        width = self._model.config.max_length
        return catalog_scores(self._model, history_from_eval(histories, width)).astype(np.float64)
