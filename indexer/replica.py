"""A ranking worker's local copy of the catalog: FAISS index plus item metadata.

Every ranking worker holds one, fed from the compacted item-vectors topic, so
retrieval never leaves the process.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from indexer.index import ItemIndex
from streams.wire import ItemVector

log = logging.getLogger(__name__)

# Told (upserted ids, removed ids) after each change, on the thread that made it.
CatalogListener = Callable[[Sequence[str], Sequence[str]], None]


@dataclass(frozen=True, slots=True)
class ItemInfo:
    """What a homepage shows about an item besides its score."""

    title: str
    category: str | None


def category_key(category: str | None) -> str:
    """The category a diversity rule counts: the first of a multi-genre label."""
    if not category:
        return ""
    return category.split(",")[0].strip().lower()


class IndexReplica:
    """Item vectors searchable by FAISS, plus titles and categories."""

    def __init__(self, index: ItemIndex) -> None:
        self.index = index
        self.info: dict[str, ItemInfo] = {}
        # Diversity keys computed once per item, not once per ranking.
        self._category_keys: dict[str, str] = {}
        self._version_of: dict[str, str] = {}
        self._version_counts: Counter[str] = Counter()
        self._listeners: list[CatalogListener] = []

    def subscribe(self, listener: CatalogListener) -> None:
        """Call ``listener`` after every change (models that derive vectors of their own)."""
        self._listeners.append(listener)

    @property
    def encoder_versions(self) -> set[str]:
        """Encoder versions of the vectors held now."""
        return {version for version, count in self._version_counts.items() if count > 0}

    def version_share(self, encoder_version: str) -> float:
        """Share of the catalog whose vectors come from ``encoder_version``."""
        return self._version_counts[encoder_version] / len(self.info) if self.info else 0.0

    def _set_version(self, item_id: str, version: str | None) -> None:
        previous = self._version_of.pop(item_id, None)
        if previous is not None:
            self._version_counts[previous] -= 1
        if version is not None:
            self._version_of[item_id] = version
            self._version_counts[version] += 1

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.info

    def apply(self, vectors: Sequence[ItemVector]) -> None:
        """Insert or replace a batch of item vectors (one FAISS call)."""
        if not vectors:
            return
        # Within one batch the newest message for an id wins, as in the compacted topic.
        latest = {vector.item_id: vector for vector in vectors}
        ids = list(latest)
        matrix = np.stack([latest[item_id].vector for item_id in ids]).astype(np.float32)
        self.index.upsert(ids, matrix)
        for item_id in ids:
            vector = latest[item_id]
            self.info[item_id] = ItemInfo(vector.title, vector.category)
            self._category_keys[item_id] = category_key(vector.category)
            self._set_version(item_id, vector.encoder_version)
        for listener in self._listeners:
            listener(ids, ())

    def remove(self, item_ids: Iterable[str]) -> int:
        """Delete items (catalog tombstones); returns how many were present."""
        present = [item_id for item_id in item_ids if item_id in self.info]
        for item_id in present:
            del self.info[item_id]
            self._category_keys.pop(item_id, None)
            self._set_version(item_id, None)
        if present:
            self.index.remove(present)
            for listener in self._listeners:
                listener((), present)
        return len(present)

    def known(self, item_ids: Iterable[str]) -> list[str]:
        """The ids among ``item_ids`` that the replica has vectors for, in order."""
        return [item_id for item_id in item_ids if item_id in self.info]

    def category_key_of(self, item_id: str) -> str:
        """The diversity key of one item ("" when unknown or uncategorised)."""
        return self._category_keys.get(item_id, "")

    def title(self, item_id: str) -> str:
        """Title of an item, or its id when unknown."""
        info = self.info.get(item_id)
        return info.title if info else item_id
