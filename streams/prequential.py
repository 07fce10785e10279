"""Prequential evaluation: replay a log through the live pipeline, score each next click.

For every positive event (a click) we ask: was that item in the top 10 of the
homepage the user had just before it? "Just before" is the newest ranking
whose source event came earlier in that user's sequence; a user with no
ranking yet sees trending, as the homepage service would show them. The
trending baseline is scored on the same stream with the same decayed counts
the workers use.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from indexer.datasets import Dataset, load_dataset
from ranker.trending import TrendingCounter
from streams.admin import create_topics
from streams.broker import LocalBroker
from streams.follow import decoded_rankings, whole_topic_consumer
from streams.processes import child_env, fresh_namespace, spawn, stop, wait_for_vectors
from streams.replay import make_producer, publish_events, publish_items
from streams.settings import Settings
from streams.topics import TopicNames
from streams.wire import Event, Ranking

log = logging.getLogger(__name__)

TOP_K = 10


@dataclass(frozen=True, slots=True)
class PrequentialResult:
    """HitRate@10 over the stream for the pipeline and for trending."""

    events: int
    positives: int
    pipeline_hits: int
    trending_hits: int
    cold_start_positives: int
    model_versions: tuple[str, ...]
    seconds: float

    def to_dict(self) -> dict[str, object]:
        """JSON-ready figures."""
        return {
            "events": self.events,
            "positives": self.positives,
            "hit@10_pipeline": self.pipeline_hits / max(1, self.positives),
            "hit@10_trending": self.trending_hits / max(1, self.positives),
            "cold_start_positives": self.cold_start_positives,
            "model_versions": list(self.model_versions),
            "seconds": round(self.seconds, 1),
        }


def score_stream(
    events: Sequence[Event],
    rankings: Sequence[Ranking],
    *,
    trending_half_life_s: float,
    k: int = TOP_K,
    score_from_ms: int = 0,
) -> PrequentialResult:
    """Score each click against the homepage its user had just before it.

    Only clicks at or after ``score_from_ms`` are scored; earlier events only
    build state and counts.
    """
    position: dict[str, int] = {}  # event id -> index in its user's sequence
    per_user_count: dict[str, int] = defaultdict(int)
    for event in events:
        position[event.event_id] = per_user_count[event.user_id]
        per_user_count[event.user_id] += 1
    # For each user, rankings ordered by the sequence position of their source event.
    by_user: dict[str, list[tuple[int, list[str]]]] = defaultdict(list)
    for ranking in rankings:
        source = position.get(ranking.source_event_id or "")
        if source is not None:
            by_user[ranking.user_id].append((source, [i.item_id for i in ranking.items[:k]]))
    for entries in by_user.values():
        entries.sort(key=lambda entry: entry[0])

    trending = TrendingCounter(trending_half_life_s)
    cursor: dict[str, int] = defaultdict(int)
    latest: dict[str, list[str]] = {}
    positives = pipeline_hits = trending_hits = cold = 0
    seen_count: dict[str, int] = defaultdict(int)
    for event in events:
        user, index = event.user_id, seen_count[event.user_id]
        entries = by_user.get(user, [])
        # Advance to the newest ranking made from an event before this one.
        while cursor[user] < len(entries) and entries[cursor[user]][0] < index:
            latest[user] = entries[cursor[user]][1]
            cursor[user] += 1
        hot = [item for item, _ in trending.top(k)]
        if event.type == "click" and event.item_id is not None and event.ts >= score_from_ms:
            positives += 1
            shown = latest.get(user)
            if shown is None:
                cold += 1
                shown = hot
            pipeline_hits += event.item_id in shown
            trending_hits += event.item_id in hot
        if event.item_id is not None:
            trending.add(event.item_id, event.type, event.ts)
        seen_count[user] += 1
    versions = tuple(sorted({r.model_version for r in rankings}))
    return PrequentialResult(
        len(events), positives, pipeline_hits, trending_hits, cold, versions, 0.0
    )


async def _collect_rankings(
    bootstrap_servers: str, topic: str, expected_events: set[str], timeout_s: float
) -> list[Ranking]:
    """Read rankings until every user's last event has been ranked (or the timeout)."""
    consumer = whole_topic_consumer(bootstrap_servers, topic)
    await consumer.start()
    rankings: list[Ranking] = []
    pending = set(expected_events)
    deadline = time.monotonic() + timeout_s
    try:
        while pending and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for ranking in decoded_rankings(record.value for record in records):
                    rankings.append(ranking)
                    pending.discard(ranking.source_event_id or "")
    finally:
        await consumer.stop()
    if pending:
        log.warning("%d users' last events were not ranked within %.0fs", len(pending), timeout_s)
    return rankings


async def replay_and_score(
    bootstrap_servers: str,
    events_topic: str,
    rankings_topic: str,
    dataset: Dataset,
    *,
    rate: float | None,
    limit: int | None,
    trending_half_life_s: float,
    timeout_s: float = 600.0,
    score_from_ms: int = 0,
) -> PrequentialResult:
    """Publish the events (the catalog must already be indexed) and score the stream."""
    events = dataset.events[:limit] if limit is not None else dataset.events
    started = time.monotonic()
    producer = make_producer(bootstrap_servers)
    await producer.start()
    try:
        # The past before the scored period only builds state: send it at full speed,
        # then pace the scored period so homepages keep up as they would live.
        # Events are in time order, so the scored period is a suffix.
        cut = bisect_left(events, score_from_ms, key=lambda event: event.ts)
        await publish_events(producer, events_topic, events[:cut])
        await publish_events(producer, events_topic, events[cut:], rate=rate)
    finally:
        await producer.stop()
    last_per_user = {event.user_id: event.event_id for event in events}
    rankings = await _collect_rankings(
        bootstrap_servers, rankings_topic, set(last_per_user.values()), timeout_s
    )
    result = score_stream(
        events, rankings, trending_half_life_s=trending_half_life_s, score_from_ms=score_from_ms
    )
    return PrequentialResult(
        result.events,
        result.positives,
        result.pipeline_hits,
        result.trending_hits,
        result.cold_start_positives,
        result.model_versions,
        time.monotonic() - started,
    )


def run(
    bootstrap_servers: str,
    events_topic: str,
    rankings_topic: str,
    dataset: Dataset,
    **options: object,
) -> PrequentialResult:
    """Synchronous wrapper of :func:`replay_and_score`."""
    return asyncio.run(
        replay_and_score(bootstrap_servers, events_topic, rankings_topic, dataset, **options)  # type: ignore[arg-type]
    )


def run_prequential(
    base: Settings,
    data: Path,
    *,
    model_dir: Path | None,
    limit: int | None,
    rate: float | None,
    index_wait_s: float = 600.0,
    score_from_ms: int = 0,
) -> PrequentialResult:
    """Start a broker (unless external) and a worker, index the catalog, replay, score."""
    settings = fresh_namespace(base, "prequential")
    topics = TopicNames.from_settings(settings)
    broker = None
    if not settings.uses_external_kafka:
        broker = LocalBroker(data_dir=base.data_dir / "kafka", port=base.local_kafka_port)
        broker.start(wait_s=120)
    extra = {"HOMEFEED_CLICK_MODEL_DIR": str(model_dir)} if model_dir is not None else {}
    worker = None
    try:
        create_topics(settings)
        dataset = load_dataset(data)
        worker = spawn(
            ["worker", "--role", "all"],
            child_env(settings, **extra),
            settings.data_dir / "logs" / "worker.log",
        )
        asyncio.run(_publish_catalog(settings.bootstrap_servers, topics.items, dataset))
        indexed = wait_for_vectors(
            settings.bootstrap_servers, topics.item_vectors, len(dataset.items), index_wait_s
        )
        log.info("catalog indexed: %d item vectors", indexed)
        return run(
            settings.bootstrap_servers,
            topics.events,
            topics.rankings,
            dataset,
            rate=rate,
            limit=limit,
            trending_half_life_s=settings.trending_half_life_s,
            score_from_ms=score_from_ms,
        )
    finally:
        stop(worker)
        if broker is not None:
            broker.stop()


async def _publish_catalog(bootstrap_servers: str, topic: str, dataset: Dataset) -> None:
    producer = make_producer(bootstrap_servers)
    await producer.start()
    try:
        await publish_items(producer, topic, dataset.items)
    finally:
        await producer.stop()
