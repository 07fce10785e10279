"""Interaction logs for the click model: catalog, time-ordered log and splits.

A MovieLens-format folder becomes a :class:`Catalog` (item text, release year,
genres) and an :class:`InteractionLog` (events as integer arrays, oldest
first). A :class:`Split` then tags every event as train, validation or test
under one of two protocols:

* ``temporal``: one global time cut. The last ``test_share`` of events (by
  time) is the test period, the ``val_share`` before it validation, the rest
  training. Positives are clicks (rating >= 4 in MovieLens).
* ``leave-last-out``: each user's last interaction is the test item and the one
  before it the validation item. Every rating counts as a positive
  interaction, as in the published sequential-recommendation setups.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from indexer.datasets import check_movielens_folder, iter_movielens_events, load_movielens_items
from ranker.model.item_text import genre_set, item_text, release_year
from ranker.state import INTERACTION_WEIGHTS

log = logging.getLogger(__name__)

Protocol = Literal["temporal", "leave-last-out", "new-items"]
PROTOCOLS: tuple[Protocol, ...] = ("temporal", "leave-last-out", "new-items")
# Share of the catalog the new-items protocol keeps out of training.
NEW_ITEMS_SHARE = 0.1
# Event types in the order of their integer codes in InteractionLog.types.
EVENT_TYPES: tuple[str, ...] = ("click", "view", "dislike")
CLICK = 0
TYPE_WEIGHTS = np.array([INTERACTION_WEIGHTS[name] for name in EVENT_TYPES], dtype=np.float32)
TRAIN, VAL, TEST = 0, 1, 2
HIDDEN = 3  # new-items protocol: an event on a held-out item before the test


@dataclass(frozen=True)
class Catalog:
    """Items with the text the item tower reads and the fields cheap features use."""

    item_ids: list[str]
    texts: list[str]
    release_years: np.ndarray  # float32, NaN where the title has no year
    genres: np.ndarray  # (items, genres) float32 one-hot
    genre_names: list[str]

    def __len__(self) -> int:
        return len(self.item_ids)


@dataclass(frozen=True)
class InteractionLog:
    """Events as parallel arrays, oldest first; users and items as indices."""

    users: np.ndarray  # int32 index into user_ids
    items: np.ndarray  # int32 index into Catalog.item_ids
    types: np.ndarray  # int8 code into EVENT_TYPES
    ts: np.ndarray  # int64 seconds
    user_ids: list[str]

    def __len__(self) -> int:
        return len(self.users)

    def user_events(self) -> list[np.ndarray]:
        """Per user index, the positions of their events in time order."""
        order = np.argsort(self.users, kind="stable")
        bounds = np.searchsorted(self.users[order], np.arange(len(self.user_ids) + 1))
        return [order[bounds[u] : bounds[u + 1]] for u in range(len(self.user_ids))]


@dataclass(frozen=True)
class Split:
    """Which events train, validate and test, and what counts as a positive."""

    protocol: Protocol
    roles: np.ndarray  # int8 per event: TRAIN, VAL, TEST or HIDDEN
    positive_types: frozenset[int]
    val_cut_ts: int  # first timestamp of validation (temporal) / 0
    test_cut_ts: int  # first timestamp of test (temporal) / 0
    # new-items: the items no training, validation or count may see; only test
    # moments whose item is one of them are scored.
    new_items: np.ndarray | None = None  # bool per catalog row

    def describe(self) -> dict[str, object]:
        """Facts about the split for reports."""
        counts = np.bincount(self.roles, minlength=4)
        facts: dict[str, object] = {}
        if self.new_items is not None:
            facts = {"new_items": int(self.new_items.sum()), "hidden_events": int(counts[HIDDEN])}
        return {
            **facts,
            "protocol": self.protocol,
            "train_events": int(counts[TRAIN]),
            "val_events": int(counts[VAL]),
            "test_events": int(counts[TEST]),
            "val_cut_ts": self.val_cut_ts,
            "test_cut_ts": self.test_cut_ts,
            "positives": sorted(EVENT_TYPES[t] for t in self.positive_types),
        }


def load_movielens(folder: Path) -> tuple[Catalog, InteractionLog]:
    """Read a MovieLens-format folder into a catalog and an interaction log."""
    check_movielens_folder(folder)
    items = load_movielens_items(folder)
    genre_names = sorted({g for item in items for g in genre_set(item.category)})
    genre_index = {name: n for n, name in enumerate(genre_names)}
    genres = np.zeros((len(items), len(genre_names)), dtype=np.float32)
    for row, item in enumerate(items):
        for name in genre_set(item.category):
            genres[row, genre_index[name]] = 1.0
    catalog = Catalog(
        item_ids=[item.item_id for item in items],
        texts=[item_text(item.title, item.category, item.abstract) for item in items],
        release_years=np.array([release_year(item.title) for item in items], dtype=np.float32),
        genres=genres,
        genre_names=genre_names,
    )
    item_index = {item_id: n for n, item_id in enumerate(catalog.item_ids)}
    user_index: dict[str, int] = {}
    users, item_rows, types, stamps = [], [], [], []
    skipped = 0
    type_code = {name: code for code, name in enumerate(EVENT_TYPES)}
    for event in iter_movielens_events(folder):
        item_row = item_index.get(event.item_id or "")
        if item_row is None:
            skipped += 1
            continue
        users.append(user_index.setdefault(event.user_id, len(user_index)))
        item_rows.append(item_row)
        types.append(type_code[event.type])
        stamps.append(event.ts // 1000)
    if skipped:
        log.warning("%d ratings name movies missing from movies.csv; skipped", skipped)
    interaction_log = InteractionLog(
        users=np.array(users, dtype=np.int32),
        items=np.array(item_rows, dtype=np.int32),
        types=np.array(types, dtype=np.int8),
        ts=np.array(stamps, dtype=np.int64),
        user_ids=list(user_index),
    )
    log.info(
        "loaded %d items and %d events of %d users from %s",
        len(catalog),
        len(interaction_log),
        len(user_index),
        folder,
    )
    return catalog, interaction_log


def temporal_split(
    log_: InteractionLog, *, val_share: float = 0.1, test_share: float = 0.1
) -> Split:
    """Global time cut: the newest ``test_share`` of events test, ``val_share`` before it val."""
    if not (0 < val_share < 1 and 0 < test_share < 1 and val_share + test_share < 1):
        raise ValueError("val_share and test_share must be in (0, 1) and sum below 1")
    count = len(log_)
    if count < 3:
        raise ValueError("temporal split needs at least 3 events")
    # Cuts fall on timestamps, so events of one second never straddle a cut.
    test_cut = int(log_.ts[min(count - 1, int(count * (1 - test_share)))])
    val_cut = int(log_.ts[min(count - 1, int(count * (1 - test_share - val_share)))])
    roles = np.full(count, TRAIN, dtype=np.int8)
    roles[log_.ts >= val_cut] = VAL
    roles[log_.ts >= test_cut] = TEST
    return Split("temporal", roles, frozenset({CLICK}), val_cut, test_cut)


def leave_last_out_split(log_: InteractionLog) -> Split:
    """Each user's last event is test, the one before validation (users with >= 3 events)."""
    roles = np.full(len(log_), TRAIN, dtype=np.int8)
    for positions in log_.user_events():
        if len(positions) >= 3:
            roles[positions[-1]] = TEST
            roles[positions[-2]] = VAL
    return Split("leave-last-out", roles, frozenset(range(len(EVENT_TYPES))), 0, 0)


def new_items_split(
    log_: InteractionLog, item_count: int, *, share: float = NEW_ITEMS_SHARE, seed: int = 0
) -> Split:
    """Leave-last-out with a seeded ``share`` of the catalog never seen before the test.

    Every event on those items that is not a test event is hidden: no training
    sequence, validation moment or baseline count holds it (it still appears in
    the histories a model reads at test time, as a new item would live).
    """
    if not 0 < share < 1:
        raise ValueError(f"share must be in (0, 1), got {share}")
    base = leave_last_out_split(log_)
    rng = np.random.default_rng(seed)
    new_items = np.zeros(item_count, dtype=bool)
    new_items[rng.choice(item_count, max(1, round(item_count * share)), replace=False)] = True
    roles = base.roles.copy()
    roles[new_items[log_.items] & (roles != TEST)] = HIDDEN
    return Split("new-items", roles, base.positive_types, 0, 0, new_items)


def make_split(log_: InteractionLog, protocol: str, item_count: int = 0) -> Split:
    """The split a protocol name stands for (``new-items`` needs ``item_count``)."""
    if protocol == "temporal":
        return temporal_split(log_)
    if protocol == "leave-last-out":
        return leave_last_out_split(log_)
    if protocol == "new-items":
        return new_items_split(log_, item_count)
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
