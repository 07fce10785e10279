"""Click-model hot reload in a worker: watch the models folder, swap, re-encode.

The indexer re-encodes the whole catalog with a new model's item tower and
publishes the vectors under the new version; ranking workers keep scoring with
what they had until their replica holds that version for every item.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import faust

from indexer.service import IndexingService, ItemEncoder
from ranker.model.model_watch import ModelWatcher
from streams.settings import Settings
from streams.wire import Item

log = logging.getLogger(__name__)


def click_model_watcher(settings: Settings) -> ModelWatcher | None:  # type: ignore[type-arg]
    """A watcher of ``HOMEFEED_CLICK_MODEL_DIR``, loaded once now; None when unset."""
    if settings.click_model_dir is None:
        return None
    from ranker.model.artifacts import ClickPredictor

    device = "cpu" if settings.device == "auto" else settings.device

    def load(path: Path) -> ClickPredictor:
        return ClickPredictor.load(path, device=device)

    watcher: ModelWatcher = ModelWatcher(Path(settings.click_model_dir), load)  # type: ignore[type-arg]
    watcher.check()
    return watcher


def model_item_encoder(scorer: object) -> ItemEncoder:
    """The item encoder of a loaded click model: its tower, reading text as in training."""
    from ranker.model.item_text import item_text

    def text(item: Item) -> str:
        return item_text(item.title, item.category, item.abstract)

    return ItemEncoder(scorer.item_vectors, scorer.model_version, text)  # type: ignore[attr-defined]


def register_model_reload(
    app: faust.App,
    settings: Settings,
    watcher: ModelWatcher,  # type: ignore[type-arg]
    indexing: IndexingService | None,
    vectors_topic: faust.TopicT | None,
    encode_lock: asyncio.Lock,
) -> None:
    """Poll for new artifacts; on a swap, re-encode and publish the catalog (indexer role)."""

    @app.timer(interval=settings.model_poll_s)
    async def reload_click_model() -> None:
        changed = await asyncio.to_thread(watcher.check)
        if not changed or indexing is None or vectors_topic is None:
            return
        # Hold the encode lock: no batch may publish old-tower vectors after the switch.
        async with encode_lock:
            vectors = await asyncio.to_thread(
                indexing.switch_encoder, model_item_encoder(watcher.current)
            )
            for vector in vectors:
                await vectors_topic.send(key=vector.item_id.encode(), value=vector.encode())
        log.info("published %d re-encoded item vectors", len(vectors))
