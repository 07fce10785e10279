"""``GET /v1/items/{item_id}/similar``: the service's copy of the item vectors, searchable.

The feed hands every item vector it reads to :class:`SimilarService`; with
``HOMEFEED_CLICK_MODEL_DIR`` naming sequence models, the newest one (checked
every ``HOMEFEED_MODEL_POLL_S``) supplies the item vectors neighbours are
found with, as in the ranking workers. Requests run in FastAPI's thread pool,
so a lock keeps them and the feed's updates apart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ranker.model.model_watch import ModelWatcher
from ranker.model.similar_items import SimilarItems
from streams.homepage.catalog import Catalog
from streams.wire import ItemVector

log = logging.getLogger(__name__)


class SimilarService:
    """Item vectors from the feed, a model from the models folder, neighbours on request."""

    def __init__(self, model_dir: Path | None = None, model_poll_s: float = 10.0) -> None:
        self._items = SimilarItems()
        self._lock = threading.Lock()
        self._watcher: ModelWatcher[Any] | None = None
        if model_dir is not None:
            self._watcher = ModelWatcher(model_dir, _sequence_model_or_none)
        self._poll_s = model_poll_s
        self._checked_at = float("-inf")

    def __len__(self) -> int:
        return len(self._items)

    def apply(self, vectors: Sequence[ItemVector]) -> None:
        """Take in item vectors (the newest per id wins, as in the compacted topic)."""
        latest = {vector.item_id: vector for vector in vectors}
        if not latest:
            return
        ids = list(latest)
        matrix = np.stack([latest[item_id].vector for item_id in ids]).astype(np.float32)
        with self._lock:
            self._items.upsert(ids, matrix, latest[ids[-1]].encoder_version)

    def remove(self, item_ids: Iterable[str]) -> None:
        """Forget deleted items."""
        with self._lock:
            self._items.remove(item_ids)

    def similar(self, item_id: str, limit: int) -> tuple[str, list[tuple[str, float]] | None]:
        """(the version answering, neighbours or None for an unknown item)."""
        self._maybe_reload()
        with self._lock:
            return self._items.version, self._items.similar(item_id, limit)

    def _maybe_reload(self) -> None:
        if self._watcher is None or time.monotonic() - self._checked_at < self._poll_s:
            return
        self._checked_at = time.monotonic()
        if self._watcher.check():
            with self._lock:
                self._items.use_model(self._watcher.current)


def _sequence_model_or_none(path: Path) -> Any:
    """A sequence artifact; a click model's item vectors already arrive on the topic."""
    from ranker.model.sequence_artifact import is_sequence_artifact, load_sequence_artifact

    return load_sequence_artifact(path) if is_sequence_artifact(path) else None


def similar_view(
    catalog: Catalog, item_id: str, version: str, hits: list[tuple[str, float]]
) -> dict[str, Any]:
    """The JSON of a similar-items answer: the item, then its neighbours with titles."""
    return {
        "item_id": item_id,
        "title": catalog.title(item_id),
        "category": _category(catalog, item_id),
        "model_version": version,
        "items": [
            {
                "item_id": neighbour,
                "title": catalog.title(neighbour),
                "category": _category(catalog, neighbour),
                "score": round(score, 4),
            }
            for neighbour, score in hits
        ],
    }


def _category(catalog: Catalog, item_id: str) -> str | None:
    entry = catalog.get(item_id)
    return entry.category if entry is not None else None
