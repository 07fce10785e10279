"""``homefeed bench catalog``: does catalog encoding hold up the event path?

One all-in-one worker (``--role all``) encodes a real catalog; a second one
starts on the same topics, as after a deploy. The catalog is then re-sent
twice: unchanged (a restarted indexer should encode nothing) and with every
title edited (everything is re-encoded). While the edited catalog is being
encoded, clicks and malformed events are sent; the figures are how long the
click's homepage and the dead letters take, against the same probes on the
idle worker afterwards (the same run's baseline).
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from dataclasses import replace
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.live import bench_broker, fresh_settings
from bench.report import BenchResult, Ratio
from indexer.datasets import load_movielens_items
from streams.admin import topic_size
from streams.follow import decoded_rankings
from streams.processes import child_env, spawn, stop
from streams.settings import Settings, load_settings
from streams.topics import TopicNames
from streams.wire import Event, Item, now_ms

log = logging.getLogger(__name__)

ENCODE_WAIT_S = 600.0
PROBE_WAIT_S = 120.0
MALFORMED = 100  # dead-lettered beside each click
TARGET_S = 1.0  # a click's homepage within a second while a catalog encodes


class Probe:
    """Sends a click plus malformed events; times the ranking and the dead letters."""

    def __init__(self, settings: Settings, topics: TopicNames) -> None:
        self._settings, self._topics = settings, topics
        kafka = settings.kafka
        self._producer = KafkaProducer(**kafka.kafka_python(), acks="all", linger_ms=1)
        self._rankings = KafkaConsumer(**kafka.kafka_python(), enable_auto_commit=False)
        partitions = self._rankings.partitions_for_topic(topics.rankings) or set()
        assignment = [TopicPartition(topics.rankings, p) for p in partitions]
        self._rankings.assign(assignment)
        self._rankings.seek_to_end(*assignment)
        self._count = 0

    def __call__(self, item_id: str) -> tuple[float, float]:
        """Seconds until the click's homepage, and until its malformed companions are dead."""
        self._count += 1
        user = f"probe-{self._count}"
        click = Event(f"{user}-click", user, "click", now_ms(), item_id)
        letters_before = self._dead_letters()
        sent = time.monotonic()
        self._producer.send(self._topics.events, key=user.encode(), value=click.encode())
        for _ in range(MALFORMED):
            self._producer.send(self._topics.events, key=b"malformed", value=b"\xc1 not msgpack")
        self._producer.flush(timeout=30)
        ranked = dead = float("nan")
        deadline = sent + PROBE_WAIT_S
        while time.monotonic() < deadline and (math.isnan(ranked) or math.isnan(dead)):
            if math.isnan(ranked) and self._saw_ranking(click.event_id):
                ranked = time.monotonic() - sent
            if math.isnan(dead) and self._dead_letters() - letters_before >= MALFORMED:
                dead = time.monotonic() - sent
        return ranked, dead

    def _dead_letters(self) -> int:
        return topic_size(self._settings.kafka, self._topics.dead_letter)

    def _saw_ranking(self, event_id: str) -> bool:
        for records in self._rankings.poll(timeout_ms=50).values():
            rankings = decoded_rankings(record.value for record in records)
            if any(ranking.source_event_id == event_id for ranking in rankings):
                return True
        return False

    def close(self) -> None:
        """Release the clients."""
        self._producer.close(timeout=10)
        self._rankings.close()


def _publish(settings: Settings, topic: str, items: list[Item]) -> None:
    producer = KafkaProducer(**settings.kafka.aiokafka(), acks="all")
    try:
        for item in items:
            producer.send(topic, key=item.item_id.encode(), value=item.encode())
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)


def _wait_vectors(settings: Settings, topic: str, count: int) -> float:
    started = time.monotonic()
    while topic_size(settings.kafka, topic) < count:
        if time.monotonic() - started > ENCODE_WAIT_S:
            raise TimeoutError(f"fewer than {count} item vectors after {ENCODE_WAIT_S:.0f}s")
        time.sleep(0.5)
    return time.monotonic() - started


def run_catalog_bench(data: Path, probes: int = 3) -> BenchResult:
    """Probe the event path of a restarted worker while it re-encodes ``data``'s catalog."""
    base = load_settings()
    items = load_movielens_items(data)
    result = BenchResult("catalog")
    with bench_broker(base) as bootstrap:
        settings = fresh_settings(bootstrap, base.data_dir / "bench", partitions=4)
        topics = TopicNames.from_settings(settings)
        logs = settings.data_dir / "logs"
        first = spawn(["worker", "--role", "all"], child_env(settings), logs / "catalog-1.log")
        try:
            _publish(settings, topics.items, items)
            first_encode_s = _wait_vectors(settings, topics.item_vectors, len(items))
        finally:
            stop(first, timeout_s=30)
        published = topic_size(settings.kafka, topics.item_vectors)
        worker = spawn(["worker", "--role", "all"], child_env(settings), logs / "catalog-2.log")
        probe = Probe(settings, topics)
        try:
            probe(items[0].item_id)  # started and ranking
            _publish(settings, topics.items, items)  # unchanged: nothing to encode
            time.sleep(5.0)
            unchanged = topic_size(settings.kafka, topics.item_vectors) - published
            edited = [replace(item, title=f"{item.title} (remastered)") for item in items]
            _publish(settings, topics.items, edited)
            time.sleep(3.0)  # the indexer is working through the catalog now
            busy = [probe(items[n].item_id) for n in range(1, probes + 1)]
            during = topic_size(settings.kafka, topics.item_vectors) - published
            _wait_vectors(settings, topics.item_vectors, published + unchanged + len(items))
            idle = [probe(items[n].item_id) for n in range(probes + 1, 2 * probes + 1)]
        finally:
            probe.close()
            stop(worker, timeout_s=30)
    busy_ranked = statistics.median(r for r, _ in busy)
    idle_ranked = statistics.median(r for r, _ in idle)
    result.figures.update(
        catalog_items=len(items),
        first_encode_s=round(first_encode_s, 1),
        unchanged_resend_reencoded=unchanged,
        reencoded_when_probed=during,
        click_ranked_s_while_encoding=[round(r, 3) for r, _ in busy],
        dead_lettered_s_while_encoding=[round(d, 3) for _, d in busy],
        click_ranked_s_idle=[round(r, 3) for r, _ in idle],
        dead_lettered_s_idle=[round(d, 3) for _, d in idle],
    )
    result.ratios.append(
        Ratio("1 s / median click-to-homepage while encoding", TARGET_S, busy_ranked, 1.0)
    )
    result.ratios.append(
        Ratio("idle / encoding median click-to-homepage", idle_ranked, busy_ranked)
    )
    result.notes.append(
        f"--role all worker restarted on a published catalog; {MALFORMED} malformed events "
        "beside each click; probes 3 s after the edited catalog was sent"
    )
    return result
