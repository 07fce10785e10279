"""Candidates as they travel through the stages, and the items that end up shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class Candidates:
    """One user's candidates as parallel arrays: position ``i`` of each is one candidate.

    Stages pass arrays rather than one object per candidate: a filter is one
    boolean mask and a selector one array of positions, which took the Python
    cost of a ranking from ~1.5 ms to a fraction of it (docs/benchmarks.md).
    ``rows`` index the replica's vector store and are valid for one ranking pass.
    """

    item_ids: np.ndarray  # object array of str
    rows: np.ndarray  # int64, -1 for an item the replica does not hold
    sources: np.ndarray  # str: the candidate source's name
    retrieval_scores: np.ndarray  # float32
    scores: np.ndarray  # float32, set by the scorer
    # What the scorer saw, logged with the impression so the next model can learn from it.
    features: np.ndarray | None = None  # (n, len(feature_names)) float32
    feature_names: tuple[str, ...] = ()
    explored: np.ndarray | None = None  # bool: placed by exploration
    reasons: list[str] | None = None  # set by the last selector, for what is shown

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def of(
        cls, item_ids: Sequence[str], rows: np.ndarray, source: str, retrieval_scores: np.ndarray
    ) -> Candidates:
        """Candidates from one source."""
        ids = np.empty(len(item_ids), dtype=object)
        ids[:] = item_ids
        scores = np.asarray(retrieval_scores, dtype=np.float32)
        return cls(ids, rows, np.full(len(ids), source), scores, scores.copy())

    @classmethod
    def empty(cls) -> Candidates:
        """No candidates."""
        return cls.of([], np.empty(0, dtype=np.int64), "", np.empty(0, dtype=np.float32))

    @classmethod
    def concat(cls, parts: Sequence[Candidates]) -> Candidates:
        """The candidates of several sources, in order (before scoring)."""
        parts = [part for part in parts if len(part)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(
            np.concatenate([p.item_ids for p in parts]),
            np.concatenate([p.rows for p in parts]),
            np.concatenate([p.sources for p in parts]),
            np.concatenate([p.retrieval_scores for p in parts]),
            np.concatenate([p.scores for p in parts]),
        )

    def take(self, positions: np.ndarray) -> Candidates:
        """The candidates at ``positions`` (indices or a boolean mask), in that order."""
        return Candidates(
            self.item_ids[positions],
            self.rows[positions],
            self.sources[positions],
            self.retrieval_scores[positions],
            self.scores[positions],
            None if self.features is None else self.features[positions],
            self.feature_names,
            None if self.explored is None else self.explored[positions],
            None if self.reasons is None else [self.reasons[i] for i in _indices(positions)],
        )

    def shown(self) -> list[ShownItem]:
        """One record per candidate, for publishing (only what made the homepage)."""
        count = len(self)
        reasons = self.reasons if self.reasons is not None else [""] * count
        if self.features is None:
            return [
                ShownItem(item_id, source, retrieval, score, reason)
                for item_id, source, retrieval, score, reason in zip(
                    self.item_ids.tolist(),
                    self.sources.tolist(),
                    self.retrieval_scores.tolist(),
                    self.scores.tolist(),
                    reasons,
                    strict=True,
                )
            ]
        feature_rows = self.features.tolist()
        return [
            ShownItem(
                item_id,
                source,
                retrieval,
                score,
                reason,
                dict(zip(self.feature_names, values, strict=True)),
            )
            for item_id, source, retrieval, score, reason, values in zip(
                self.item_ids.tolist(),
                self.sources.tolist(),
                self.retrieval_scores.tolist(),
                self.scores.tolist(),
                reasons,
                feature_rows,
                strict=True,
            )
        ]


def _indices(positions: np.ndarray) -> list[int]:
    positions = np.asarray(positions)
    if positions.dtype == bool:
        return np.flatnonzero(positions).tolist()  # type: ignore[no-any-return]
    return positions.tolist()  # type: ignore[no-any-return]


@dataclass(slots=True)
class ShownItem:
    """An item on a homepage, with what put it there (made only for what is shown)."""

    item_id: str
    source: str
    retrieval_score: float
    score: float = 0.0
    reason: str = ""
    features: dict[str, float] = field(default_factory=dict)
