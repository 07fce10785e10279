"""Prequential evaluation on the broker: replay a log through a live worker, then score it.

This module starts what the replay needs (broker unless external, topics,
a worker, the catalog) and collects the rankings; the scoring itself is
:func:`ranker.eval.prequential.score_stream`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from deploy.kafka import LocalBroker
from indexer.datasets import Dataset, load_dataset
from ranker.eval.prequential import PrequentialResult, score_stream
from streams.admin import GroupProgress, create_topics
from streams.follow import decoded_rankings, whole_topic_consumer
from streams.kafka_connection import KafkaConnection
from streams.online_report import settled_figures
from streams.processes import child_env, fresh_namespace, spawn, stop, wait_for_vectors
from streams.replay import (
    TwoPeriodReplay,
    make_producer,
    publish_items,
    replay_history_then_live,
)
from streams.settings import Settings
from streams.topics import TopicNames
from streams.wire import Ranking

log = logging.getLogger(__name__)
ONLINE_WINDOW_S = 5
ONLINE_PUBLISH_S = 1.0


async def _collect_rankings(
    kafka: KafkaConnection, topic: str, expected_events: set[str], timeout_s: float
) -> list[Ranking]:
    """Read rankings until every user's last event has been ranked (or the timeout)."""
    consumer = whole_topic_consumer(kafka, topic)
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
    kafka: KafkaConnection,
    events_topic: str,
    rankings_topic: str,
    dataset: Dataset,
    *,
    rate: float | None,
    limit: int | None,
    trending_half_life_s: float,
    timeout_s: float = 600.0,
    score_from_ms: int = 0,
    group_id: str | None = None,
    online_topic: str | None = None,
) -> PrequentialResult:
    """Publish the events (the catalog must already be indexed) and score the stream.

    The past before the scored period only builds state: it goes at full speed,
    and once the workers of ``group_id`` have consumed it the scored period is
    paced at ``rate``, so homepages keep up as they would live. With
    ``online_topic`` the workers' own online metrics of the scored period
    (windows that start after it began) come back too.
    """
    events = dataset.events[:limit] if limit is not None else dataset.events
    started = time.monotonic()
    producer = make_producer(kafka)
    progress = GroupProgress(kafka, events_topic, group_id) if group_id else None
    periods = TwoPeriodReplay()
    await producer.start()
    try:
        await replay_history_then_live(
            producer,
            events_topic,
            events,
            live_from_ms=score_from_ms,
            rate=rate,
            caught_up=None if progress is None else progress.caught_up,
            replay=periods,
        )
    finally:
        await producer.stop()
        if progress is not None:
            progress.close()
    last_per_user = {event.user_id: event.event_id for event in events}
    rankings = await _collect_rankings(
        kafka, rankings_topic, set(last_per_user.values()), timeout_s
    )
    result = score_stream(
        events, rankings, trending_half_life_s=trending_half_life_s, score_from_ms=score_from_ms
    )
    online = {}
    if online_topic is not None and periods.live_since_ms is not None:
        # The first whole window of the live period: no history homepage in it.
        since = -(-periods.live_since_ms // (ONLINE_WINDOW_S * 1000)) * ONLINE_WINDOW_S * 1000
        figures = await asyncio.to_thread(
            settled_figures, kafka, online_topic, since, publish_s=ONLINE_PUBLISH_S
        )
        online = {name: f.to_dict() for name, f in sorted(figures.items())}
    return PrequentialResult(
        result.events,
        result.positives,
        result.pipeline_hits,
        result.trending_hits,
        result.cold_start_positives,
        result.model_versions,
        time.monotonic() - started,
        result.variants,
        online,
    )


def run(
    kafka: KafkaConnection,
    events_topic: str,
    rankings_topic: str,
    dataset: Dataset,
    **options: object,
) -> PrequentialResult:
    """Synchronous wrapper of :func:`replay_and_score`."""
    return asyncio.run(
        replay_and_score(kafka, events_topic, rankings_topic, dataset, **options)  # type: ignore[arg-type]
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
    variants: str | None = None,
) -> PrequentialResult:
    """Start a broker (unless external) and a worker, index the catalog, replay, score.

    With ``variants`` the worker runs that experiment (``HOMEFEED_EXPERIMENT_VARIANTS``).
    """
    settings = fresh_namespace(base, "prequential")
    topics = TopicNames.from_settings(settings)
    broker = None
    if not settings.uses_external_kafka:
        broker = LocalBroker(data_dir=base.data_dir / "kafka", port=base.local_kafka_port)
        broker.start(wait_s=120)
    extra = {
        # Narrow windows, published often: the live period's figures start within
        # a few seconds of it and are all on the topic soon after its last event.
        "HOMEFEED_ONLINE_WINDOW_S": str(ONLINE_WINDOW_S),
        "HOMEFEED_ONLINE_PUBLISH_S": str(ONLINE_PUBLISH_S),
    }
    if model_dir is not None:
        extra["HOMEFEED_CLICK_MODEL_DIR"] = str(model_dir)
    if variants:
        extra["HOMEFEED_EXPERIMENT_VARIANTS"] = variants
    worker = None
    try:
        create_topics(settings)
        dataset = load_dataset(data)
        worker = spawn(
            ["worker", "--role", "all"],
            child_env(settings, **extra),
            settings.data_dir / "logs" / "worker.log",
        )
        asyncio.run(_publish_catalog(settings.kafka, topics.items, dataset))
        indexed = wait_for_vectors(
            settings.kafka, topics.item_vectors, len(dataset.items), index_wait_s
        )
        log.info("catalog indexed: %d item vectors", indexed)
        return run(
            settings.kafka,
            topics.events,
            topics.rankings,
            dataset,
            rate=rate,
            limit=limit,
            trending_half_life_s=settings.trending_half_life_s,
            score_from_ms=score_from_ms,
            group_id=settings.app_id,
            online_topic=topics.online_metrics,
        )
    finally:
        stop(worker)
        if broker is not None:
            broker.stop()


async def _publish_catalog(kafka: KafkaConnection, topic: str, dataset: Dataset) -> None:
    producer = make_producer(kafka)
    await producer.start()
    try:
        await publish_items(producer, topic, dataset.items)
    finally:
        await producer.stop()
