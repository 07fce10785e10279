"""First e2e baseline: a bare aiokafka consume → produce loop over the same events topic."""

from __future__ import annotations

import asyncio
import logging
import time

from bench.live import OutputRecord, drain_rate, event_sequence, read_topic
from streams.admin import create_topics
from streams.settings import Settings
from streams.topics import TopicNames, TopicSpec
from streams.wire import Event

log = logging.getLogger(__name__)


def forwarded_points(records: list[OutputRecord], prefix: str) -> list[tuple[int, int]]:
    """(record time, backlog seq) of each event the passthrough forwarded."""
    points = []
    for record in records:
        if record.value is None:
            continue
        seq = event_sequence(Event.decode(record.value).event_id, prefix)
        if seq is not None:
            points.append((record.timestamp_ms, seq))
    return points


async def passthrough(
    settings: Settings, source: str, target: str, count: int, timeout_s: float
) -> None:
    """Forward ``count`` records from ``source`` to ``target`` as a bare consume→produce loop."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(
        source,
        **settings.kafka.aiokafka(),
        group_id=f"{settings.app_id}-passthrough",
        auto_offset_reset="earliest",
    )
    # Same producer trade-off as the worker's: acks=all, 5 ms linger.
    producer = AIOKafkaProducer(**settings.kafka.aiokafka(), linger_ms=5, acks="all")
    await consumer.start()
    await producer.start()
    forwarded = 0
    deadline = time.monotonic() + timeout_s
    try:
        while forwarded < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            for records in batches.values():
                for record in records:
                    await producer.send(target, key=record.key, value=record.value)
                forwarded += len(records)
        await producer.flush()
    finally:
        await producer.stop()
        await consumer.stop()


def run_passthrough(run: Settings, backlog: int, prefix: str, timeout_s: float = 300.0) -> float:
    """Drain rate of a bare aiokafka consume → produce loop over the backlog."""
    topics = TopicNames.from_settings(run)
    target = topics.rankings.replace("rankings", "passthrough")
    create_topics(run, [TopicSpec(target, run.partitions, {})])
    asyncio.run(passthrough(run, topics.events, target, backlog, timeout_s=timeout_s))
    forwarded = asyncio.run(
        read_topic(run.kafka, target, run.partitions, backlog, timeout_s=timeout_s)
    )
    rate = drain_rate(forwarded_points(forwarded, prefix))
    log.info("passthrough drained at %.0f events/s", rate)
    return rate
