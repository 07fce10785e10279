"""Where a worker's homepages go: ranker's domain objects become wire messages on topics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import faust

from ranker.pipeline.stages import RankedHomepage
from streams.wire import RankedItem, Ranking, Served, ServedItem, encode_served_batch

# Homepages per served-log record: 128 homepages × 20 slots × ~20 float32
# features is ~200 kB, a fifth of Kafka's default message limit.
SERVED_RECORD_HOMEPAGES = 128


class Output(Protocol):
    """Where an agent sends records: a Faust topic, the producer, or a recorder in tests."""

    async def send(self, key: bytes | None = None, value: bytes | None = None) -> Any:
        """Queue one record."""
        ...


class ProducerOutput:
    """Sends raw bytes straight to the worker's Kafka producer.

    Faust's ``Topic.send`` wraps each record in futures, callbacks and sensor
    hooks; for the two records of every ranking that was a large share of the
    worker's event-loop time (docs/benchmarks.md). Partitioning is the same:
    the client's default partitioner on the key.
    """

    def __init__(self, app: faust.App, topic: str) -> None:
        self._app = app
        self._topic = topic

    async def send(self, key: bytes | None = None, value: bytes | None = None) -> Any:
        """Queue one record; returns the delivery future without awaiting it."""
        return await self._app.producer.send(self._topic, key, value, None, None, None)


def ranking_message(homepage: RankedHomepage) -> Ranking:
    """The rankings-topic message of a homepage."""
    source = homepage.source
    return Ranking(
        user_id=homepage.user_id,
        items=[RankedItem(item.item_id, item.score, item.reason) for item in homepage.items],
        model_version=homepage.model_version,
        generated_at=homepage.generated_at,
        source_event_id=source.event_id if source else None,
        source_event_ts=source.ts if source else None,
        source_event_type=source.type if source else None,
        source_item_id=source.item_id if source else None,
        variant=homepage.variant or None,
    )


def served_message(homepage: RankedHomepage) -> Served:
    """The impression-log message of a homepage: every slot with what the scorer saw."""
    source = homepage.source
    return Served(
        user_id=homepage.user_id,
        items=[
            ServedItem(
                item.item_id,
                position,
                item.score,
                item.retrieval_score,
                item.source,
                item.reason,
                item.features,
            )
            for position, item in enumerate(homepage.items)
        ],
        model_version=homepage.model_version,
        generated_at=homepage.generated_at,
        source_event_id=source.event_id if source else None,
        source_event_ts=source.ts if source else None,
        variant=homepage.variant or None,
    )


class RankingsTopicOutput:
    """Homepages as rankings keyed by user; a forgotten user gets a tombstone."""

    def __init__(self, topic: Output) -> None:
        self._topic = topic

    async def publish(self, homepage: RankedHomepage) -> None:
        """Send the user's ranking."""
        message = ranking_message(homepage).encode()
        await self._topic.send(key=homepage.user_id.encode(), value=message)

    async def retract(self, user_id: str) -> None:
        """Send a null ranking: the homepage service drops the user."""
        await self._topic.send(key=user_id.encode(), value=None)


class ServedTopicOutput:
    """Homepages as impression-log records: one compact record per ranking batch.

    Keyed by nothing: a reader takes the whole topic, and a batch holds many
    users. Batches over ``SERVED_RECORD_HOMEPAGES`` are split, so a record
    stays well under Kafka's 1 MB default message size.
    """

    def __init__(self, topic: Output) -> None:
        self._topic = topic

    async def log(self, homepages: Sequence[RankedHomepage]) -> None:
        """Send the batch's impression-log entries."""
        for start in range(0, len(homepages), SERVED_RECORD_HOMEPAGES):
            part = homepages[start : start + SERVED_RECORD_HOMEPAGES]
            record = encode_served_batch([served_message(homepage) for homepage in part])
            await self._topic.send(key=None, value=record)
