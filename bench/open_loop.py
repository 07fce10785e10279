"""Open-loop traffic: Poisson arrivals at a fixed rate, latency from the *intended* send time.

A closed-loop generator waits for the system and so hides its stalls
(coordinated omission). Here every event has a send time drawn in advance;
if the producer falls behind, the event is sent late and the lateness counts
in its latency. An event's latency ends when the first ranking of its user
that accounts for it (``source_event_id`` at or after it) is read back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from bench.live import event_sequence
from streams.settings import Settings
from streams.topics import TopicNames
from streams.wire import Event, InvalidMessage, Ranking

log = logging.getLogger(__name__)

CHUNK = 4096  # events drawn at a time: an hour at 1,000/s never sits in memory
STALE_AFTER_MS = 5_000  # a deleted item shown this long after its tombstone is a bug


def poisson_events(
    rate: float, users: int, items: int, *, seed: int, prefix: str, tastes_width: int = 400
) -> Iterator[tuple[float, Event]]:
    """Endless ``(intended offset in seconds, event)`` pairs at ``rate`` events/s on average.

    Users keep one taste each (a block of item ids), as in
    :func:`bench.live.synthetic_events`; 70% clicks, 30% views.
    """
    rng = np.random.default_rng(seed)
    tastes = rng.integers(0, max(1, items - tastes_width), users)
    offset = 0.0
    seq = 0
    while True:
        gaps = rng.exponential(1.0 / rate, CHUNK)
        user_ids = rng.integers(0, users, CHUNK)
        picks = rng.integers(0, tastes_width, CHUNK)
        kinds = rng.random(CHUNK)
        for gap, user, pick, kind in zip(
            gaps.tolist(), user_ids.tolist(), picks.tolist(), kinds.tolist(), strict=True
        ):
            offset += gap
            event = Event(
                event_id=f"{prefix}-{seq}",
                user_id=f"user-{user}",
                type="click" if kind < 0.7 else "view",
                ts=int(time.time() * 1000),
                item_id=f"item-{int(tastes[user]) + pick}",
            )
            seq += 1
            yield offset, event


@dataclass(slots=True)
class TrafficLog:
    """What the receiver saw: latencies with their arrival times, versions, stale items."""

    # (monotonic arrival s, latency ms) per answered event
    answered: list[tuple[float, float]] = field(default_factory=list)
    sent: int = 0
    late_sends: int = 0  # events the producer could only send >10 ms after their time
    rankings: int = 0
    versions: Counter[str] = field(default_factory=Counter)
    first_seen: dict[str, float] = field(default_factory=dict)  # model version -> monotonic s
    stale_deleted_shown: int = 0

    def window(self, start: float, stop: float) -> list[float]:
        """Latencies (ms) of the events answered in ``[start, stop)`` (monotonic seconds)."""
        return [latency for arrived, latency in self.answered if start <= arrived < stop]


class OpenLoopTraffic:
    """Sends Poisson traffic to the events topic and times each event's ranking."""

    def __init__(
        self,
        settings: Settings,
        rate: float,
        users: int,
        items: int,
        *,
        prefix: str = "s",
        seed: int = 5,
    ) -> None:
        self._settings = settings
        self._topics = TopicNames.from_settings(settings)
        self._rate, self._users, self._items = rate, users, items
        self._prefix, self._seed = prefix, seed
        self.log = TrafficLog()
        # user -> (seq, intended monotonic s) of events not answered yet
        self._pending: dict[str, deque[tuple[int, float]]] = defaultdict(deque)
        self._deleted_at_ms: dict[str, int] = {}

    def note_deleted(self, item_ids: list[str], at_ms: int) -> None:
        """Items whose tombstones were sent at wall time ``at_ms``; they must stop showing."""
        for item_id in item_ids:
            self._deleted_at_ms[item_id] = at_ms

    @property
    def unanswered(self) -> int:
        """Events sent whose user has had no ranking that accounts for them."""
        return sum(len(queue) for queue in self._pending.values())

    async def run(self, seconds: float, drain_s: float = 30.0) -> None:
        """Send for ``seconds``, then wait up to ``drain_s`` for the last answers."""
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

        kafka = self._settings.kafka
        consumer = AIOKafkaConsumer(
            **kafka.aiokafka(), enable_auto_commit=False, max_partition_fetch_bytes=8 * 2**20
        )
        await consumer.start()
        partitions = [
            TopicPartition(self._topics.rankings, p) for p in range(self._settings.partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for partition in partitions:  # resolve the end positions before producing
            await consumer.position(partition)
        # A web backend sends events one at a time: no linger.
        producer = AIOKafkaProducer(**kafka.aiokafka(), linger_ms=0, acks=1)
        await producer.start()
        done = asyncio.Event()
        try:
            receiver = asyncio.create_task(self._receive(consumer, done, drain_s))
            await self._send(producer, seconds)
            done.set()
            await receiver
        finally:
            await producer.stop()
            await consumer.stop()

    async def _send(self, producer: object, seconds: float) -> None:
        started = time.monotonic()
        events = poisson_events(
            self._rate, self._users, self._items, seed=self._seed, prefix=self._prefix
        )
        for offset, event in events:
            if offset >= seconds:
                break
            intended = started + offset
            ahead = intended - time.monotonic()
            if ahead > 0.001:
                await asyncio.sleep(ahead)
            elif ahead < -0.010:
                self.log.late_sends += 1
            seq = int(event.event_id.rsplit("-", 1)[1])
            self._pending[event.user_id].append((seq, intended))
            await producer.send(  # type: ignore[attr-defined]
                self._topics.events, key=event.user_id.encode(), value=event.encode()
            )
            self.log.sent += 1

    async def _receive(self, consumer: object, done: asyncio.Event, drain_s: float) -> None:
        deadline: float | None = None
        while True:
            if done.is_set():
                deadline = deadline or time.monotonic() + drain_s
                if time.monotonic() > deadline or not self.unanswered:
                    return
            batches = await consumer.getmany(timeout_ms=100)  # type: ignore[attr-defined]
            arrived = time.monotonic()
            for records in batches.values():
                for record in records:
                    self._read(record.value, record.timestamp, arrived)

    def _read(self, raw: bytes | None, produced_ms: int, arrived: float) -> None:
        if raw is None:
            return
        try:
            ranking = Ranking.decode(raw)
        except InvalidMessage:
            return
        self.log.rankings += 1
        self.log.versions[ranking.model_version] += 1
        self.log.first_seen.setdefault(ranking.model_version, arrived)
        for item in ranking.items:
            deleted = self._deleted_at_ms.get(item.item_id)
            if deleted is not None and produced_ms > deleted + STALE_AFTER_MS:
                self.log.stale_deleted_shown += 1
                break
        seq = event_sequence(ranking.source_event_id, self._prefix)
        queue = self._pending.get(ranking.user_id)
        if seq is None or not queue:
            return
        # The ranking accounts for this event and every earlier one of the user.
        while queue and queue[0][0] <= seq:
            _, intended = queue.popleft()
            self.log.answered.append((arrived, (arrived - intended) * 1000.0))
