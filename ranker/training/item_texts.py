"""Item texts for training and evaluation, with no tag written after its moment.

MovieLens tags carry timestamps. The live catalog text of a movie is its title,
genres and most used tags; offline, a tag may only appear in the text if it was
written before the moment its author is predicted at (their first held-out
interaction), and before the global cut under the temporal protocol. Otherwise
a user's own later tag on their test movie would describe it to the model.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from indexer.data_files import csv_rows, whole_number
from indexer.datasets import MAX_TAGS_PER_MOVIE, TAG_COLUMNS, load_movielens_items
from ranker.model.item_text import item_text
from ranker.training.data import TEST, VAL, Catalog, InteractionLog, Split

MAX_TAGS_PER_ITEM = MAX_TAGS_PER_MOVIE  # as the live catalog text


def held_out_from(log_: InteractionLog, split: Split) -> dict[str, int]:
    """Per user id, the timestamp of their first validation or test event (absent: none)."""
    cut: dict[str, int] = {}
    held = np.flatnonzero(np.isin(split.roles, (VAL, TEST)))
    for position in held.tolist():
        user_id = log_.user_ids[int(log_.users[position])]
        ts = int(log_.ts[position])
        if user_id not in cut or ts < cut[user_id]:
            cut[user_id] = ts
    return cut


def leak_free_texts(
    folder: Path, catalog: Catalog, log_: InteractionLog, split: Split
) -> list[str]:
    """Catalog texts whose tags were all written before their author's held-out moments."""
    tags_path = folder / "tags.csv"
    by_id = {item.item_id: item for item in load_movielens_items(folder)}
    items = [by_id[item_id] for item_id in catalog.item_ids]
    if not tags_path.exists():
        return [item_text(item.title, item.category, None) for item in items]
    user_cut = held_out_from(log_, split)
    global_cut = split.val_cut_ts if split.protocol == "temporal" else None
    row_of = {item_id: row for row, item_id in enumerate(catalog.item_ids)}
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for line, record in csv_rows(tags_path, TAG_COLUMNS):
        row = row_of.get(record["movieId"])
        if row is None:
            continue
        ts = whole_number(tags_path, line, "timestamp", record["timestamp"])
        if global_cut is not None and ts >= global_cut:
            continue
        author_cut = user_cut.get(record["userId"])
        if author_cut is not None and ts >= author_cut:
            continue
        counts[row][record["tag"].strip().lower()] += 1
    texts = []
    for row, item in enumerate(items):
        tag_counts = counts.get(row, Counter())
        top = sorted(tag_counts, key=lambda tag: (-tag_counts[tag], tag))[:MAX_TAGS_PER_ITEM]
        texts.append(item_text(item.title, item.category, ", ".join(top) or None))
    return texts
