"""Where a worker's homepages go: ranker's domain objects become wire messages on topics."""

from __future__ import annotations

from typing import Any, Protocol

import faust

from ranker.pipeline.stages import RankedHomepage
from streams.wire import RankedItem, Ranking, Served, ServedItem


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
    """Homepages as impression-log entries keyed by user."""

    def __init__(self, topic: Output) -> None:
        self._topic = topic

    async def publish(self, homepage: RankedHomepage) -> None:
        """Send the impression log entry."""
        message = served_message(homepage).encode()
        await self._topic.send(key=homepage.user_id.encode(), value=message)

    async def retract(self, user_id: str) -> None:
        """Nothing: the impression log is history, kept for its retention."""
