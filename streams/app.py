"""Builds the Faust app for a worker role from settings (no app at import time)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import faust

from indexer.index import ItemIndex
from indexer.replica import IndexReplica
from indexer.service import IndexingService, ItemEncoder
from ranker.model.features import LiveItemStats
from ranker.model.sequence_live import SequenceServing
from ranker.pipeline.click_model_scorer import ClickModelScorer
from ranker.pipeline.runner import RankingPipeline
from ranker.pipeline.scorers import DotProductScorer
from ranker.pipeline.stage_list import build_pipeline
from ranker.pipeline.stages import Scorer
from ranker.pipeline.variants import VariantPipelines
from ranker.service import RankingService
from ranker.trending import TrendingCounter
from streams.agents import register_indexing_agent, register_ranking_agents
from streams.catalog_digests import load_published_digests
from streams.dead_letter import DeadLetterPublisher
from streams.index_feed import IndexFeed
from streams.model_reload import (
    click_predictor,
    indexer_encoder,
    model_watcher,
    register_model_reload,
    sequence_artifact,
)
from streams.online_metrics import OnlineMetricsJoin, online_tables, register_online_metrics
from streams.outputs import ProducerOutput, RankingsTopicOutput, ServedTopicOutput
from streams.settings import Settings
from streams.stats_file import register_stats_file
from streams.tables import user_state_table
from streams.topics import TopicNames
from streams.variants import variant_pipelines
from streams.wire import TrendingList, now_ms

log = logging.getLogger(__name__)

Role = Literal["all", "indexer", "ranker"]
ROLES: tuple[Role, ...] = ("all", "indexer", "ranker")
TRENDING_PUBLISHED = 100
# Longest a starting indexer reads item-vectors for what it already published.
DIGESTS_WAIT_S = 60.0


@dataclass
class LazyEncoder:
    """Loads BERT on first use: a ranking worker needs it only for search text."""

    settings: Settings

    @cached_property
    def encoder(self) -> Any:
        """The loaded :class:`indexer.encoder.TextEncoder`."""
        from indexer.encoder import TextEncoder

        return TextEncoder.from_settings(self.settings)

    def __call__(self, texts: Any) -> Any:
        """Encode ``texts`` (loading the model the first time)."""
        return self.encoder.encode(texts)


@dataclass
class Worker:
    """A built Faust app and the components its agents use (for tests and metrics)."""

    app: faust.App
    role: Role
    replica: IndexReplica | None = None
    feed: IndexFeed | None = None
    ranking: RankingService | None = None
    indexing: IndexingService | None = None
    dead_letter: DeadLetterPublisher | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    online: OnlineMetricsJoin | None = None


# Micro-batches of records (changelog + rankings) the producer buffer holds
# before consumption waits for it to drain.
PRODUCER_BUFFER_BATCHES = 8


def create_app(settings: Settings) -> faust.App:
    """A Faust app configured from settings; agents are added by :func:`build_worker`."""
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=settings.kafka.faust_brokers(),
        broker_credentials=settings.kafka.faust_credentials(),
        store=settings.store,
        datadir=str(settings.data_dir / "faust"),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=settings.standby_replicas,
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        consumer_auto_offset_reset="earliest",
        # Faust's 60 s default leaves a crashed worker's users without homepages
        # for a minute; heartbeats every second let the group notice in seconds.
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=1.0,
        # Small linger: rankings leave in batches without hurting freshness much.
        producer_linger_ms=5,
        autodiscover=False,
        topic_allow_declare=True,
    )
    # Table writes queue their changelog records in Faust's producer buffer,
    # and past 100 queued records every incoming message waits for 100 to be
    # sent; one micro-batch (a changelog record per user, a ranking each) is
    # more than 100. Commits still flush the whole buffer first.
    app.producer.buffer.max_messages = PRODUCER_BUFFER_BATCHES * settings.batch_size
    return app


def build_worker(settings: Settings, role: Role = "all") -> Worker:
    """Create the app and register the agents of ``role``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    app = create_app(settings)
    names = TopicNames.from_settings(settings)

    def raw_topic(name: str) -> faust.TopicT:
        # Raw bytes in and out: our own codecs validate, and a bad payload goes
        # to dead-letter instead of crashing Faust's decoder.
        return app.topic(
            name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    dead_letter = DeadLetterPublisher(raw_topic(names.dead_letter))
    worker = Worker(app=app, role=role, dead_letter=dead_letter)
    encoder = LazyEncoder(settings)
    watcher = model_watcher(settings)
    encode_lock = asyncio.Lock()
    text_encoder = ItemEncoder(encoder, encoder.encoder.version)
    vectors_topic = raw_topic(names.item_vectors)

    if role in ("all", "indexer"):
        worker.indexing = indexing = IndexingService(indexer_encoder(watcher, text_encoder))
        register_indexing_agent(
            app,
            raw_topic(names.items),
            vectors_topic,
            worker.indexing,
            dead_letter,
            batch_size=settings.encoder_batch_size * 4,
            encode_lock=encode_lock,
            load_published=lambda: load_published_digests(
                settings.kafka, names.item_vectors, indexing, DIGESTS_WAIT_S
            ),
        )

    if role in ("all", "ranker"):
        replica = IndexReplica(ItemIndex(settings.embedding_dim, settings.index_factory))
        trending = TrendingCounter(settings.trending_half_life_s)
        feed = IndexFeed(settings.kafka, names.item_vectors, replica)
        item_stats = LiveItemStats()
        scorer: Scorer = DotProductScorer(replica)
        sequence = None
        if watcher is not None:
            model = watcher
            scorer = ClickModelScorer(replica, item_stats, lambda: click_predictor(model), scorer)
            sequence = SequenceServing(replica, lambda: sequence_artifact(model))
        rankings_output = RankingsTopicOutput(ProducerOutput(app, names.rankings))
        served_output = ServedTopicOutput(ProducerOutput(app, names.served))

        def pipeline_with(
            sequence: SequenceServing | None, trending_only: bool = False, scorer: Scorer = scorer
        ) -> RankingPipeline:
            return build_pipeline(
                replica,
                trending,
                homepage_size=settings.homepage_size,
                candidates_per_user=settings.candidates,
                max_per_category=settings.max_per_category,
                exploration_share=settings.exploration_share,
                scorer=scorer,
                rankings=rankings_output,
                served_log=served_output,
                sequence=sequence,
                trending_only=trending_only,
            )

        experiment = settings.experiment
        pipeline: RankingPipeline | VariantPipelines = (
            pipeline_with(sequence)
            if experiment is None
            else variant_pipelines(
                app,
                experiment,
                replica,
                # A variant is its ranker alone: no click model behind the dot product.
                lambda seq, only_trending: pipeline_with(
                    seq, only_trending, DotProductScorer(replica)
                ),
                settings.model_poll_s,
            )
        )
        ranking = RankingService(
            replica=replica,
            trending=trending,
            pipeline=pipeline,
            history_size=settings.history_size,
            seen_size=settings.seen_size,
            recency_half_life=settings.recency_half_life,
            encode_text=encoder,
            item_stats=item_stats,
        )
        table = user_state_table(app, settings.partitions, settings.table_write_buffer_mb)
        worker.stats = register_ranking_agents(
            app,
            raw_topic(names.events),
            table,
            ranking,
            feed,
            dead_letter,
            batch_size=settings.batch_size,
            batch_within_s=settings.batch_within_s,
        )
        worker.replica, worker.feed, worker.ranking = replica, feed, ranking
        if settings.stats_file is not None:
            register_stats_file(app, settings.stats_file, worker.stats)
        if settings.online_metrics:
            worker.online = _register_online_metrics(app, settings, names, replica, raw_topic)
        _register_background(app, settings, feed, trending, raw_topic(names.trending))
    if watcher is not None:
        register_model_reload(
            app, settings, watcher, worker.indexing, vectors_topic, encode_lock, text_encoder
        )
    return worker


def _register_online_metrics(
    app: faust.App,
    settings: Settings,
    names: TopicNames,
    replica: IndexReplica,
    raw_topic: Any,
) -> OnlineMetricsJoin:
    join_table, windows_table = online_tables(app, settings.partitions)
    join = OnlineMetricsJoin(
        join_table, windows_table, settings.online_window_s, lambda: len(replica)
    )
    register_online_metrics(
        app,
        served_topic=raw_topic(names.served),
        # One channel over both topics: the join sees a user's events and
        # homepages in one stream, from co-partitioned topics.
        joined_topics=app.topic(
            names.events,
            names.online_shown,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        ),
        events_topic_name=names.events,
        shown_output=ProducerOutput(app, names.online_shown),
        metrics_output=ProducerOutput(app, names.online_metrics),
        join=join,
        batch_size=settings.batch_size,
        publish_s=settings.online_publish_s,
    )
    return join


def _register_background(
    app: faust.App,
    settings: Settings,
    feed: IndexFeed,
    trending: TrendingCounter,
    trending_topic: faust.TopicT,
) -> None:
    worker_key = f"{socket.gethostname()}-{os.getpid()}".encode()

    @app.task
    async def follow_item_vectors() -> None:
        await feed.run()

    @app.timer(interval=settings.trending_publish_interval_s)
    async def publish_trending() -> None:
        # The homepage service merges these lists to serve users it has no ranking for.
        top = trending.top(TRENDING_PUBLISHED)
        if not top:
            return
        message = TrendingList(top, generated_at=now_ms())
        await trending_topic.send(key=worker_key, value=message.encode())
