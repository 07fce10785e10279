"""Cheap features of a (user, candidate) pair: one implementation for training and serving.

Every feature is computed from what was known *before* the scored moment:
item counts come from an :class:`ItemStats` fed only with earlier events.
Training feeds it the log in time order (items are catalog rows); a ranking
worker feeds it the event stream through :class:`LiveItemStats` (items are
ids, given rows as they appear). Both read the same counts with the same
formulas, and :func:`candidate_features` turns them into the model's inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

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
_INITIAL_CAPACITY = 1024


class EventColumns(Protocol):
    """A time-ordered log as columns: the item row and the time (seconds) of each event."""

    @property
    def items(self) -> np.ndarray:
        """Item row of each event."""
        ...

    @property
    def ts(self) -> np.ndarray:
        """Time of each event, seconds."""
        ...


class ItemStats:
    """Per-item interaction counts as of a moment, fed in time order.

    Items are rows ``0 .. len(self) - 1``; :meth:`grow` adds one. Popularity
    counts interactions, trending decays them with a 30-day half-life of event
    time, first-seen is the time of the first interaction (NaN before it).
    """

    def __init__(self, item_count: int = 0) -> None:
        self._count = item_count
        self._popularity = np.zeros(item_count, dtype=np.float64)
        self._trending = np.zeros(item_count, dtype=np.float64)
        self._last_ts = np.zeros(item_count, dtype=np.float64)
        self._first_ts = np.full(item_count, np.nan, dtype=np.float64)

    @classmethod
    def from_events(cls, log_: EventColumns, mask: np.ndarray, item_count: int) -> ItemStats:
        """Stats after every event where ``mask`` is true (the log is time-ordered)."""
        stats = cls(item_count)
        for item, ts in zip(log_.items[mask].tolist(), log_.ts[mask].tolist(), strict=True):
            stats.add(item, ts)
        return stats

    def __len__(self) -> int:
        return self._count

    @property
    def popularity(self) -> np.ndarray:
        """Interactions per item row."""
        return self._popularity[: self._count]

    @property
    def first_ts(self) -> np.ndarray:
        """Time of each item's first interaction, NaN if none yet."""
        return self._first_ts[: self._count]

    def grow(self) -> int:
        """Add one item row, never interacted with, and return it."""
        row = self._count
        if row == len(self._popularity):
            capacity = max(_INITIAL_CAPACITY, 2 * row)
            # New arrays are filled before they replace the old ones, so a reader
            # in another thread sees either array whole.
            self._popularity = _grown(self._popularity, capacity, 0.0)
            self._trending = _grown(self._trending, capacity, 0.0)
            self._last_ts = _grown(self._last_ts, capacity, 0.0)
            self._first_ts = _grown(self._first_ts, capacity, math.nan)
        self._count += 1
        return row

    def add(self, item: int, ts: float) -> None:
        """Count one interaction with ``item`` at ``ts`` seconds."""
        if math.isnan(self._first_ts[item]):
            self._first_ts[item] = ts
        last = float(self._last_ts[item])
        decay = 0.5 ** (max(0.0, ts - last) / TRENDING_HALF_LIFE_S)
        self._trending[item] = float(self._trending[item]) * decay + 1.0
        # An event older than the newest one counted does not move the clock back.
        self._last_ts[item] = max(ts, last)
        self._popularity[item] += 1.0

    def trending(self, items: np.ndarray, ts: np.ndarray | float) -> np.ndarray:
        """Decayed counts of ``items`` read at ``ts`` (never grown for earlier reads)."""
        age = np.maximum(0.0, np.asarray(ts, dtype=np.float64) - self._last_ts[items])
        return self._trending[items] * 0.5 ** (age / TRENDING_HALF_LIFE_S)

    def rows(
        self, items: np.ndarray, ts: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Popularity, trending and first-seen time of ``items`` read at ``ts``."""
        return self._popularity[items], self.trending(items, ts), self._first_ts[items]


def _grown(values: np.ndarray, capacity: int, fill: float) -> np.ndarray:
    grown = np.full(capacity, fill, dtype=values.dtype)
    grown[: len(values)] = values
    return grown


class LiveItemStats:
    """:class:`ItemStats` keyed by item id, fed from the event stream (times in ms).

    A ranking worker counts every interaction as it applies it and reads the
    counts when it scores, with the formulas training used.
    """

    def __init__(self) -> None:
        self._row_of: dict[str, int] = {}
        self.counts = ItemStats()

    def add(self, item_id: str, ts_ms: int) -> None:
        """Count one interaction with ``item_id`` at event time ``ts_ms``."""
        row = self._row_of.get(item_id)
        if row is None:
            row = self.counts.grow()
            self._row_of[item_id] = row
        self.counts.add(row, ts_ms / 1000.0)

    def rows(self, item_ids: Sequence[str], ts: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Popularity, trending read at ``ts`` seconds, first-seen time (NaN: never, or later)."""
        get = self._row_of.get
        rows = np.fromiter((get(item_id, -1) for item_id in item_ids), np.int64, len(item_ids))
        known = rows >= 0
        popularity = np.zeros(len(rows))
        trending = np.zeros(len(rows))
        first = np.full(len(rows), np.nan)
        if known.any():
            popularity[known], trending[known], first[known] = self.counts.rows(rows[known], ts)
        return popularity, trending, np.where(first <= ts, first, np.nan)


def genre_profiles(
    item_genres: np.ndarray, history_items: np.ndarray, history_weights: np.ndarray
) -> np.ndarray:
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


def genre_affinity(profiles: np.ndarray, item_genres: np.ndarray) -> np.ndarray:
    """Cosine of each user's genre profile and each candidate's genres.

    Args:
        profiles: ``(users, genres)`` from :func:`genre_profiles`.
        item_genres: ``(C, genres)`` one-hot rows shared by every user, or
            ``(users, C, genres)`` per user.

    """
    norms = np.maximum(np.linalg.norm(item_genres, axis=-1), 1e-6)
    if item_genres.ndim == 2:  # one candidate list for every user (full ranking)
        return (profiles @ item_genres.T) / norms  # type: ignore[no-any-return]
    return np.einsum("bcg,bg->bc", item_genres, profiles) / norms  # type: ignore[no-any-return]


def genre_matrix(genre_sets: Sequence[set[str]], vocabulary: dict[str, int]) -> np.ndarray:
    """One-hot ``(len(genre_sets), len(vocabulary))`` rows of genre sets (float32)."""
    matrix = np.zeros((len(genre_sets), len(vocabulary)), dtype=np.float32)
    for row, genres in enumerate(genre_sets):
        for genre in genres:
            matrix[row, vocabulary[genre]] = 1.0
    return matrix


def candidate_features(
    *,
    popularity: np.ndarray,
    trending: np.ndarray,
    first_ts: np.ndarray,
    release_years: np.ndarray,
    genre_affinity: np.ndarray,
    event_ts: np.ndarray,
    history_length: np.ndarray,
) -> np.ndarray:
    """Stack the cheap features, in :data:`FEATURE_NAMES` order, on a last axis.

    Item arrays have shape ``(..., C)``; ``event_ts`` and ``history_length`` are
    ``(..., 1)`` so they broadcast over the candidates. ``first_ts`` is NaN for
    items nobody has touched yet.
    """
    days_in_catalog = np.where(np.isnan(first_ts), 0.0, (event_ts - first_ts) / 86400.0)
    event_year = 1970.0 + event_ts / SECONDS_PER_YEAR
    # Negative ages (not released yet at the moment) stay visible, a little.
    age = np.where(
        np.isnan(release_years),
        UNKNOWN_AGE_DECADES * 10,
        np.clip(event_year - release_years, -5.0, 100.0),
    )
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
