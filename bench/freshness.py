"""The e2e freshness probe: time from producing an event to its user's updated ranking."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque

from bench.live import event_sequence, synthetic_events
from bench.report import percentiles
from streams.settings import Settings
from streams.topics import TopicNames
from streams.wire import Ranking

log = logging.getLogger(__name__)

LIVE_PREFIX = "f"


async def measure_freshness(
    settings: Settings,
    rate: float,
    seconds: float,
    users: int,
    items: int,
    prefix: str = LIVE_PREFIX,
) -> list[float]:
    """Produce at ``rate`` for ``seconds``; latency (ms) of each event to its user's ranking.

    Each call needs its own ``prefix``: the worker drops repeated event ids.
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    topics = TopicNames.from_settings(settings)
    events = synthetic_events(int(rate * seconds), users, items, seed=11, prefix=prefix)
    consumer = AIOKafkaConsumer(**settings.kafka.aiokafka(), enable_auto_commit=False)
    await consumer.start()
    partitions = [TopicPartition(topics.rankings, p) for p in range(settings.partitions)]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for partition in partitions:  # resolve the end positions before producing
        await consumer.position(partition)
    # A web backend sends events one by one: no linger.
    producer = AIOKafkaProducer(**settings.kafka.aiokafka(), linger_ms=0, acks=1)
    await producer.start()
    pending: dict[str, deque[tuple[int, int]]] = defaultdict(deque)  # user -> (seq, sent_ms)
    latencies: list[float] = []
    sent_all = asyncio.Event()

    async def send() -> None:
        started = time.monotonic()
        for position, event in enumerate(events):
            ahead = position / rate - (time.monotonic() - started)
            if ahead > 0.002:
                await asyncio.sleep(ahead)
            pending[event.user_id].append((position, time.perf_counter_ns() // 1_000_000))
            await producer.send(topics.events, key=event.user_id.encode(), value=event.encode())
        sent_all.set()

    async def receive() -> None:
        deadline = None
        while True:
            if sent_all.is_set():
                deadline = deadline or time.monotonic() + 10.0
                if time.monotonic() > deadline or not any(pending.values()):
                    return
            batches = await consumer.getmany(timeout_ms=100)
            received_ms = time.perf_counter_ns() // 1_000_000
            for records in batches.values():
                for record in records:
                    if record.value is None:
                        continue
                    ranking = Ranking.decode(record.value)
                    seq = event_sequence(ranking.source_event_id, prefix)
                    queue = pending.get(ranking.user_id)
                    if seq is None or not queue:
                        continue
                    # The ranking accounts for this event and every earlier one of the user.
                    while queue and queue[0][0] <= seq:
                        latencies.append(float(received_ms - queue.popleft()[1]))

    try:
        await asyncio.gather(send(), receive())
    finally:
        await producer.stop()
        await consumer.stop()
    unanswered = sum(len(queue) for queue in pending.values())
    if unanswered:
        log.warning("%d live events got no ranking within 10 s of the end", unanswered)
    return latencies


def freshness_row(rate: float, latencies: list[float]) -> dict[str, float]:
    """Rate, sample count and latency percentiles of one freshness run."""
    latency = percentiles(latencies)
    return {
        "rate_events_per_s": round(rate, 1),
        "samples": len(latencies),
        "p50_ms": round(latency[50], 1),
        "p95_ms": round(latency[95], 1),
        "p99_ms": round(latency[99], 1),
    }
