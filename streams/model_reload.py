"""Model hot reload in a worker: watch the models folder, swap, re-encode when needed.

The folder may hold either model family; the newest artifact wins.

* A **sequence model** reads the plain MiniLM vectors the indexer publishes
  and derives its own item vectors in every ranking worker
  (:mod:`ranker.model.sequence_live`), so a swap needs nothing re-published.
* A **click model** has its own fine-tuned item tower: the indexer re-encodes
  the whole catalog with it and publishes the vectors under the new version;
  ranking workers keep scoring with what they had until their replica holds
  that version for every item.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import faust

from indexer.service import IndexingService, ItemEncoder
from ranker.model.model_watch import ModelWatcher
from ranker.model.sequence_artifact import (
    SequenceArtifact,
    is_sequence_artifact,
    load_sequence_artifact,
)
from streams.settings import Settings
from streams.wire import Item

log = logging.getLogger(__name__)


def model_watcher(settings: Settings) -> ModelWatcher[Any] | None:
    """A watcher of ``HOMEFEED_CLICK_MODEL_DIR``, loaded once now; None when unset."""
    if settings.click_model_dir is None:
        return None
    from ranker.model.artifacts import ClickPredictor

    device = "cpu" if settings.device == "auto" else settings.device

    def load(path: Path) -> ClickPredictor | SequenceArtifact:
        if is_sequence_artifact(path):
            return load_sequence_artifact(path)
        return ClickPredictor.load(path, device=device)

    watcher: ModelWatcher[Any] = ModelWatcher(Path(settings.click_model_dir), load)
    watcher.check()
    return watcher


def click_predictor(watcher: ModelWatcher[Any]) -> Any:
    """The loaded click model, or None (nothing loaded, or a sequence model)."""
    current = watcher.current
    return None if current is None or isinstance(current, SequenceArtifact) else current


def sequence_artifact(watcher: ModelWatcher[Any]) -> SequenceArtifact | None:
    """The loaded sequence model, or None."""
    current = watcher.current
    return current if isinstance(current, SequenceArtifact) else None


def model_item_encoder(scorer: object) -> ItemEncoder:
    """The item encoder of a loaded click model: its tower, reading text as in training."""
    from ranker.model.item_text import item_text

    def text(item: Item) -> str:
        return item_text(item.title, item.category, item.abstract)

    return ItemEncoder(scorer.item_vectors, scorer.model_version, text)  # type: ignore[attr-defined]


def indexer_encoder(watcher: ModelWatcher[Any] | None, text_encoder: ItemEncoder) -> ItemEncoder:
    """What the indexer encodes items with: a click model's tower, else the text encoder."""
    predictor = click_predictor(watcher) if watcher is not None else None
    return model_item_encoder(predictor) if predictor is not None else text_encoder


def register_model_reload(
    app: faust.App,
    settings: Settings,
    watcher: ModelWatcher[Any],
    indexing: IndexingService | None,
    vectors_topic: faust.TopicT | None,
    encode_lock: asyncio.Lock,
    text_encoder: ItemEncoder,
) -> None:
    """Poll for new artifacts; re-encode and publish the catalog when the item encoder changes."""

    @app.timer(interval=settings.model_poll_s)
    async def reload_model() -> None:
        changed = await asyncio.to_thread(watcher.check)
        if not changed or indexing is None or vectors_topic is None:
            return
        encoder = indexer_encoder(watcher, text_encoder)
        if encoder.version == indexing.encoder_version:
            return  # a sequence model after a sequence model (or text): nothing to re-encode
        # Hold the encode lock: no batch may publish old-tower vectors after the switch.
        async with encode_lock:
            vectors = await asyncio.to_thread(indexing.switch_encoder, encoder)
            for vector in vectors:
                await vectors_topic.send(key=vector.item_id.encode(), value=vector.encode())
        log.info("published %d item vectors encoded by %s", len(vectors), encoder.version)
