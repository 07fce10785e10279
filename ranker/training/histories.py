"""User histories cut at any event of a log, and the candidate features at those moments.

Every feature is computed from what was known *before* the scored moment: a
history holds only the user's earlier interactions, and the item counts are
the caller's (:class:`ranker.model.features.ItemStats` fed with earlier events).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranker.model.features import candidate_features, genre_affinity, genre_profiles
from ranker.training.data import TEST, TYPE_WEIGHTS, Catalog, InteractionLog, Split


@dataclass(frozen=True)
class Histories:
    """Padded recent histories of a batch of scored moments (oldest first)."""

    items: np.ndarray  # (B, L) int64 item rows, 0 on padding
    weights: np.ndarray  # (B, L) float32 interaction weights, 0 on padding
    age_days: np.ndarray  # (B, L) float32 days between interaction and moment
    mask: np.ndarray  # (B, L) bool, True on real entries
    lengths: np.ndarray  # (B,) all earlier interactions, not only the kept L
    event_ts: np.ndarray  # (B,) int64 the scored moment
    types: np.ndarray  # (B, L) int64 event type codes (ranker.training.data), 0 on padding

    def __len__(self) -> int:
        return len(self.lengths)

    def take(self, rows: np.ndarray) -> Histories:
        """The histories at ``rows``."""
        return Histories(
            self.items[rows],
            self.weights[rows],
            self.age_days[rows],
            self.mask[rows],
            self.lengths[rows],
            self.event_ts[rows],
            self.types[rows],
        )


class UserSequences:
    """Each user's events in time order, to cut histories at any event."""

    def __init__(self, log_: InteractionLog) -> None:
        self.log = log_
        self.by_user = log_.user_events()
        # rank[p]: how many earlier events the user of event p has.
        self.rank = np.empty(len(log_), dtype=np.int64)
        for positions in self.by_user:
            self.rank[positions] = np.arange(len(positions))

    def before(self, position: int) -> np.ndarray:
        """Positions of the same user's events before ``position``."""
        return self.by_user[int(self.log.users[position])][: self.rank[position]]

    def histories(self, positions: np.ndarray, max_length: int) -> Histories:
        """The last ``max_length`` interactions before each event in ``positions``."""
        count = len(positions)
        items = np.zeros((count, max_length), dtype=np.int64)
        weights = np.zeros((count, max_length), dtype=np.float32)
        age_days = np.zeros((count, max_length), dtype=np.float32)
        mask = np.zeros((count, max_length), dtype=bool)
        types = np.zeros((count, max_length), dtype=np.int64)
        lengths = np.zeros(count, dtype=np.int64)
        event_ts = self.log.ts[positions].astype(np.int64)
        for row, position in enumerate(positions.tolist()):
            earlier = self.before(position)
            lengths[row] = len(earlier)
            kept = earlier[-max_length:]
            width = len(kept)
            items[row, :width] = self.log.items[kept]
            weights[row, :width] = TYPE_WEIGHTS[self.log.types[kept]]
            age_days[row, :width] = (event_ts[row] - self.log.ts[kept]) / 86400.0
            mask[row, :width] = True
            types[row, :width] = self.log.types[kept]
        return Histories(items, weights, age_days, mask, lengths, event_ts, types)

    def held_out_moments(self, split: Split, role: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Positive events of ``role`` whose user has history and whose item is new to them.

        Returns their positions and each user's earlier items (what full
        ranking masks). Under the new-items protocol the test moments are those
        of held-out items only. Evaluation and early stopping both score these.
        """
        log_ = self.log
        candidates = np.flatnonzero(
            (split.roles == role) & np.isin(log_.types, list(split.positive_types))
        )
        if split.new_items is not None and role == TEST:
            candidates = candidates[split.new_items[log_.items[candidates]]]
        positions, seen = [], []
        for position in candidates.tolist():
            earlier = np.unique(log_.items[self.before(position)])
            if len(earlier) and not np.isin(log_.items[position], earlier):
                positions.append(position)
                seen.append(earlier.astype(np.int64))
        return np.array(positions, dtype=np.int64), seen


def features_for(
    catalog: Catalog,
    histories: Histories,
    candidates: np.ndarray,
    *,
    popularity: np.ndarray,
    trending: np.ndarray,
    first_ts: np.ndarray,
) -> np.ndarray:
    """Features of ``candidates`` (``(B, C)``, or ``(C,)`` shared) at each history's moment.

    ``popularity``, ``trending`` and ``first_ts`` are the candidates' item counts
    as the caller may know them (broadcastable to ``(B, C)``): as of each event in
    training, frozen at the split time in evaluation.
    """
    event_ts = histories.event_ts.astype(np.float64)[:, None]
    profiles = genre_profiles(catalog.genres, histories.items, histories.weights)
    affinity = genre_affinity(profiles, catalog.genres[candidates])
    return candidate_features(
        popularity=popularity,
        trending=trending,
        first_ts=np.where(first_ts <= event_ts, first_ts, np.nan),
        release_years=catalog.release_years[candidates],
        genre_affinity=affinity,
        event_ts=event_ts,
        history_length=histories.lengths.astype(np.float64)[:, None],
    )
