"""Cheap features of a (user, candidate) pair and the user histories the click model reads.

Every feature is computed from what was known *before* the scored moment:
item counts come from an :class:`ItemStats` fed only with earlier events, and
a history holds only the user's earlier interactions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranker.click_data import TYPE_WEIGHTS, Catalog, InteractionLog

FEATURE_NAMES: tuple[str, ...] = (
    "log_popularity",  # interactions with the item so far
    "log_trending",  # the same, decayed with a 30-day half-life
    "item_age_decades",  # years between release and the scored moment
    "log_days_in_catalog",  # days since the item's first interaction
    "genre_affinity",  # cosine of the user's genre profile and the item's genres
    "log_history_length",  # how much we know about the user
)
TRENDING_HALF_LIFE_S = 30 * 86400.0
SECONDS_PER_YEAR = 365.25 * 86400.0
# Unknown release year: treat the item as a decade old rather than brand new.
UNKNOWN_AGE_DECADES = 1.0


class ItemStats:
    """Per-item interaction counts as of a moment, fed in time order."""

    def __init__(self, item_count: int) -> None:
        self.popularity = np.zeros(item_count, dtype=np.float64)
        self._trending = np.zeros(item_count, dtype=np.float64)
        self._last_ts = np.zeros(item_count, dtype=np.float64)
        self.first_ts = np.full(item_count, np.nan, dtype=np.float64)

    @classmethod
    def from_events(cls, log_: InteractionLog, mask: np.ndarray, item_count: int) -> ItemStats:
        """Stats after every event where ``mask`` is true (the log is time-ordered)."""
        stats = cls(item_count)
        for item, ts in zip(log_.items[mask].tolist(), log_.ts[mask].tolist(), strict=True):
            stats.add(item, ts)
        return stats

    def add(self, item: int, ts: int) -> None:
        """Count one interaction with ``item`` at ``ts`` seconds."""
        if np.isnan(self.first_ts[item]):
            self.first_ts[item] = ts
        decay = 0.5 ** (max(0.0, ts - self._last_ts[item]) / TRENDING_HALF_LIFE_S)
        self._trending[item] = self._trending[item] * decay + 1.0
        self._last_ts[item] = ts
        self.popularity[item] += 1.0

    def trending(self, items: np.ndarray, ts: np.ndarray | float) -> np.ndarray:
        """Decayed counts of ``items`` read at ``ts`` (never grown for earlier reads)."""
        age = np.maximum(0.0, np.asarray(ts, dtype=np.float64) - self._last_ts[items])
        return self._trending[items] * 0.5 ** (age / TRENDING_HALF_LIFE_S)

    def rows(self, items: np.ndarray, ts: np.ndarray | float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Popularity, trending and first-seen time of ``items`` read at ``ts``."""
        return self.popularity[items], self.trending(items, ts), self.first_ts[items]


def genre_profiles(item_genres: np.ndarray, history_items: np.ndarray,
                   history_weights: np.ndarray) -> np.ndarray:
    """L2-normalised genre mix of each history, counting only positive interactions.

    Args:
        item_genres: ``(items, genres)`` one-hot matrix.
        history_items: ``(users, L)`` item rows.
        history_weights: ``(users, L)`` interaction weights, 0 on padding.

    """
    weights = np.clip(history_weights, 0.0, None)[..., None]
    profile = (item_genres[history_items] * weights).sum(axis=1)
    norm = np.linalg.norm(profile, axis=1, keepdims=True)
    return (profile / np.maximum(norm, 1e-6)).astype(np.float32)


def candidate_features(*, popularity: np.ndarray, trending: np.ndarray, first_ts: np.ndarray,
                       release_years: np.ndarray, genre_affinity: np.ndarray,
                       event_ts: np.ndarray, history_length: np.ndarray) -> np.ndarray:
    """Stack the cheap features, in :data:`FEATURE_NAMES` order, on a last axis.

    Item arrays have shape ``(..., C)``; ``event_ts`` and ``history_length`` are
    ``(..., 1)`` so they broadcast over the candidates. ``first_ts`` is NaN for
    items nobody has touched yet.
    """
    days_in_catalog = np.where(np.isnan(first_ts), 0.0, (event_ts - first_ts) / 86400.0)
    event_year = 1970.0 + event_ts / SECONDS_PER_YEAR
    # Negative ages (not released yet at the moment) stay visible, a little.
    age = np.where(np.isnan(release_years), UNKNOWN_AGE_DECADES * 10,
                   np.clip(event_year - release_years, -5.0, 100.0))
    shape = np.broadcast_shapes(popularity.shape, event_ts.shape, genre_affinity.shape)
    columns = [
        np.log1p(popularity) / 5.0,
        np.log1p(trending) / 3.0,
        age / 10.0,
        np.log1p(np.maximum(days_in_catalog, 0.0)) / 5.0,
        genre_affinity,
        np.log1p(history_length) / 4.0,
    ]
    return np.stack([np.broadcast_to(c, shape) for c in columns], axis=-1).astype(np.float32)


@dataclass(frozen=True)
class Histories:
    """Padded recent histories of a batch of scored moments (oldest first)."""

    items: np.ndarray  # (B, L) int64 item rows, 0 on padding
    weights: np.ndarray  # (B, L) float32 interaction weights, 0 on padding
    age_days: np.ndarray  # (B, L) float32 days between interaction and moment
    mask: np.ndarray  # (B, L) bool, True on real entries
    lengths: np.ndarray  # (B,) all earlier interactions, not only the kept L
    event_ts: np.ndarray  # (B,) int64 the scored moment

    def __len__(self) -> int:
        return len(self.lengths)

    def take(self, rows: np.ndarray) -> Histories:
        """The histories at ``rows``."""
        return Histories(self.items[rows], self.weights[rows], self.age_days[rows],
                         self.mask[rows], self.lengths[rows], self.event_ts[rows])


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
        return Histories(items, weights, age_days, mask, lengths, event_ts)


def features_for(catalog: Catalog, histories: Histories, candidates: np.ndarray, *,
                 popularity: np.ndarray, trending: np.ndarray, first_ts: np.ndarray
                 ) -> np.ndarray:
    """Features of ``candidates`` (``(B, C)``, or ``(C,)`` shared) at each history's moment.

    ``popularity``, ``trending`` and ``first_ts`` are the candidates' item counts
    as the caller may know them (broadcastable to ``(B, C)``): as of each event in
    training, frozen at the split time in evaluation.
    """
    event_ts = histories.event_ts.astype(np.float64)[:, None]
    profiles = genre_profiles(catalog.genres, histories.items, histories.weights)
    item_genres = catalog.genres[candidates]
    norms = np.maximum(np.linalg.norm(item_genres, axis=-1), 1e-6)
    if candidates.ndim == 1:  # one candidate list shared by every history (full ranking)
        affinity = (profiles @ item_genres.T) / norms
    else:
        affinity = np.einsum("bcg,bg->bc", item_genres, profiles) / norms
    return candidate_features(
        popularity=popularity,
        trending=trending,
        first_ts=np.where(first_ts <= event_ts, first_ts, np.nan),
        release_years=catalog.release_years[candidates],
        genre_affinity=affinity,
        event_ts=event_ts,
        history_length=histories.lengths.astype(np.float64)[:, None],
    )
