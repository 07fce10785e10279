"""What a (re)starting indexer already published: digests read back from item-vectors.

The compacted item-vectors topic holds the newest vector of every item, each
with the digest of the text and encoder that made it. Reading it once before
the first catalog batch lets the indexer skip items that are re-sent unchanged,
which a restart otherwise turned into a full re-encode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from indexer.service import IndexingService
from streams.follow import CompactedTopicFollower, Record
from streams.kafka_connection import KafkaConnection
from streams.wire import InvalidMessage, ItemVector

log = logging.getLogger(__name__)


async def load_published_digests(
    kafka: KafkaConnection, topic: str, service: IndexingService, timeout_s: float
) -> int:
    """Teach ``service`` the digests on ``topic``; returns how many it took (bounded wait)."""
    started = time.monotonic()
    ready = asyncio.Event()
    taken = 0

    def apply(records: list[Record]) -> None:
        nonlocal taken
        for record in records:
            if record.key is None:
                continue
            if record.value is None:
                service.forget(record.key.decode())
                continue
            try:
                taken += service.remember(ItemVector.decode(record.value))
            except InvalidMessage:
                continue

    follower = CompactedTopicFollower(kafka, [topic], apply, ready=ready)
    reading = asyncio.create_task(follower.run())
    caught_up = asyncio.create_task(ready.wait())
    try:
        # Whichever comes first: caught up, the read failing (say, no topic yet), time out.
        await asyncio.wait({reading, caught_up}, timeout=timeout_s, return_when="FIRST_COMPLETED")
        if not ready.is_set():
            failure = reading.exception() if reading.done() else None
            log.warning(
                "could not read %s (%s): items re-sent unchanged will be encoded again",
                topic,
                failure or f"not caught up within {timeout_s:.0f}s",
            )
    finally:
        for task in (reading, caught_up):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    log.info("indexer knows %d published item digests (%.1fs)", taken, time.monotonic() - started)
    return taken
