"""Live-broker harness for the streaming benchmarks: broker, fresh topics, workers, traffic.

Each run gets a fresh topic prefix and consumer group (as the live tests do),
so runs never read each other's messages. Worker processes are real
``homefeed worker --role ranker`` subprocesses.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streams import processes
from streams.kafka_connection import KafkaConnection
from streams.processes import fresh_namespace
from streams.settings import Settings
from streams.topics import TopicNames
from streams.wire import Event, ItemVector

log = logging.getLogger(__name__)

BENCH_ENCODER_VERSION = "bench-derived"
READY_TIMEOUT_S = 300.0
RANKING_WORKER = ("streams.cli", *processes.RANKING_WORKER)
MODEL_POLL_S = 5.0


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """One record read back from an output topic."""

    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    partition: int


def seeded_model(item_ids: list[str], out_dir: Path, seed: int) -> str:
    """Save a sequence model of the production shape over ``item_ids``; its version."""
    import torch

    from ranker.model.sequence import SequenceConfig, SequenceModel
    from ranker.model.sequence_artifact import save_sequence_artifact

    torch.manual_seed(seed)
    model = SequenceModel(SequenceConfig(items=len(item_ids))).eval()
    return save_sequence_artifact(
        model, item_ids, BENCH_ENCODER_VERSION, out_dir, {"bench": "soak", "seed": seed}
    )


def model_env(models: Path) -> dict[str, str]:
    """Worker settings that load (and hot-swap) the newest model in ``models``."""
    return {"HOMEFEED_CLICK_MODEL_DIR": str(models), "HOMEFEED_MODEL_POLL_S": str(MODEL_POLL_S)}


@contextmanager
def bench_broker(settings: Settings) -> Iterator[str]:
    """Bootstrap of ``HOMEFEED_KAFKA_BOOTSTRAP`` if set, else a fresh local broker on free ports."""
    with bench_broker_process(settings) as (bootstrap, _):
        yield bootstrap


@contextmanager
def bench_broker_process(settings: Settings) -> Iterator[tuple[str, int | None]]:
    """:func:`bench_broker` and the local broker's process id (None for an external broker),
    for benchmarks that report the cores the broker used."""
    if settings.kafka_bootstrap:
        yield settings.kafka_bootstrap, None
        return
    from deploy.kafka import LocalBroker, free_ports

    port, controller_port = free_ports(2)
    with tempfile.TemporaryDirectory(prefix="homefeed-bench-kafka-") as folder:
        broker = LocalBroker(data_dir=Path(folder), port=port, controller_port=controller_port)
        broker.start(wait_s=180)
        try:
            yield broker.bootstrap, broker.pid()
        finally:
            broker.stop()


def fresh_settings(bootstrap: str, data_dir: Path, partitions: int) -> Settings:
    """Settings with a new topic prefix and app id (``streams.processes``); creates the topics."""
    from streams.admin import create_topics

    base = Settings(kafka_bootstrap=bootstrap, data_dir=data_dir)
    settings = fresh_namespace(base, "bench", partitions=partitions, standby_replicas=0)
    create_topics(settings)
    return settings


@contextmanager
def running_workers(
    settings: Settings,
    count: int,
    log_dir: Path,
    module_args: Sequence[str] = RANKING_WORKER,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` real workers in one consumer group; stopped (SIGTERM) on exit.

    ``module_args`` is what follows ``python -m``: a ranking worker by default.
    """
    module, *args = module_args
    with processes.running_workers(
        settings, count, log_dir, args, module=module, extra_env=extra_env
    ) as workers:
        yield workers


async def publish_catalog(settings: Settings, items: int, *, seed: int = 0) -> None:
    """Produce a derived catalog straight to item-vectors (skips BERT: see bench/catalog.py)."""
    from aiokafka import AIOKafkaProducer

    from bench.catalog import derived_catalog

    vectors, titles, categories = derived_catalog(items, seed=seed)
    topic = TopicNames.from_settings(settings).item_vectors
    producer = AIOKafkaProducer(
        **settings.kafka.aiokafka(),
        linger_ms=20,
        max_batch_size=1024 * 1024,
        acks=1,
    )
    await producer.start()
    try:
        for row, vector in enumerate(vectors):
            item_id = f"item-{row}"
            message = ItemVector(
                item_id, vector, BENCH_ENCODER_VERSION, title=titles[row], category=categories[row]
            )
            await producer.send(topic, key=item_id.encode(), value=message.encode())
        await producer.flush()
    finally:
        await producer.stop()


def synthetic_events(
    count: int, users: int, items: int, *, seed: int, prefix: str, clicks_per_taste: int = 400
) -> list[Event]:
    """Clicks and views of ``users`` users, each around a few tastes (contiguous item ranges).

    Items derived from the same real parent are not contiguous, so a taste is a
    random block of ids: what matters for cost is realistic history and seen
    sizes, which these give.
    """
    rng = np.random.default_rng(seed)
    user_ids = rng.integers(0, users, count)
    tastes = rng.integers(0, max(1, items - clicks_per_taste), users)
    offsets = rng.integers(0, clicks_per_taste, count)
    kinds = rng.random(count)
    now = int(time.time() * 1000)
    return [
        Event(
            event_id=f"{prefix}-{seq}",
            user_id=f"user-{user}",
            type="click" if kind < 0.7 else "view",
            ts=now + seq,
            item_id=f"item-{int(tastes[user]) + int(offset)}",
        )
        for seq, (user, offset, kind) in enumerate(
            zip(user_ids.tolist(), offsets.tolist(), kinds.tolist(), strict=True)
        )
    ]


async def produce_events(kafka: KafkaConnection, topic: str, events: Sequence[Event]) -> float:
    """Send events as fast as the producer allows; returns seconds taken."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**kafka.aiokafka(), linger_ms=10, max_batch_size=512 * 1024, acks=1)
    await producer.start()
    started = time.monotonic()
    try:
        for event in events:
            await producer.send(topic, key=event.user_id.encode(), value=event.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return time.monotonic() - started


async def read_topic(
    kafka: KafkaConnection,
    topic: str,
    partitions: int,
    expected: int,
    timeout_s: float,
    idle_s: float = 15.0,
) -> list[OutputRecord]:
    """Read a topic from the beginning until ``expected`` records, the timeout, or ``idle_s``
    of silence after the first record (so a slow start-up is waited for)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        **kafka.aiokafka(),
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    records: list[OutputRecord] = []
    try:
        assignment = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assignment)
        await consumer.seek_to_beginning(*assignment)
        deadline = time.monotonic() + timeout_s
        last_news: float | None = None  # the idle clock starts with the first record
        while len(records) < expected and time.monotonic() < deadline:
            if last_news is not None and time.monotonic() - last_news > idle_s:
                break
            batches = await consumer.getmany(timeout_ms=500, max_records=20_000)
            for batch in batches.values():
                if batch:
                    last_news = time.monotonic()
                records.extend(
                    OutputRecord(r.key, r.value, r.timestamp, r.partition) for r in batch
                )
    finally:
        await consumer.stop()
    return records


def event_sequence(event_id: str | None, prefix: str) -> int | None:
    """The sequence number in a benchmark event id (``prefix-123``), or None."""
    if not event_id or not event_id.startswith(prefix + "-"):
        return None
    tail = event_id[len(prefix) + 1 :]
    return int(tail) if tail.isdigit() else None


def _backlog_window(
    points: Sequence[tuple[int, int]], low: float, high: float
) -> tuple[np.ndarray, int, int, float, float]:
    """Progress so far at each point (time order), the window's first and last point, and
    their wall times (epoch seconds)."""
    ordered = sorted(points)
    progress = np.maximum.accumulate(np.array([seq for _, seq in ordered], dtype=np.float64))
    times = np.array([ts for ts, _ in ordered], dtype=np.float64)
    first = int(np.searchsorted(progress, low * progress[-1]))
    last = min(int(np.searchsorted(progress, high * progress[-1])), len(times) - 1)
    return progress, first, last, times[first] / 1000.0, times[last] / 1000.0


def drain_window(
    points: Sequence[tuple[int, int]], low: float = 0.1, high: float = 0.9
) -> tuple[float, float]:
    """Wall times (epoch seconds) where :func:`drain_rate`'s stretch starts and ends."""
    if len(points) < 2:
        return 0.0, 0.0
    _, _, _, start, end = _backlog_window(points, low, high)
    return start, end


def drain_rate(points: Sequence[tuple[int, int]], low: float = 0.1, high: float = 0.9) -> float:
    """Events/s from ``(timestamp_ms, highest event seq handled so far)`` points.

    Uses the 10%–90% stretch of the backlog, so start-up (index build, group
    join) and the ragged tail do not count.
    """
    if len(points) < 2:
        return 0.0
    progress, first, last, start, end = _backlog_window(points, low, high)
    seconds = end - start
    return float((progress[last] - progress[first]) / seconds) if seconds > 0 else 0.0


def ranking_rate(points: Sequence[tuple[int, int]], low: float = 0.1, high: float = 0.9) -> float:
    """Rankings/s over the same 10%–90% stretch of the backlog as :func:`drain_rate`.

    A backlog holds many events per user, and one ranking answers all of a
    user's events in a batch, so events/s overstates what live traffic gets:
    there a user's events are seconds apart and each needs a ranking of its own.
    """
    if len(points) < 2:
        return 0.0
    _, first, last, start, end = _backlog_window(points, low, high)
    seconds = end - start
    return float((last - first) / seconds) if seconds > 0 else 0.0
