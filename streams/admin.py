"""Topic administration against a real broker (idempotent)."""

from __future__ import annotations

import logging

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.settings import Settings
from streams.topics import TopicSpec, topic_specs

log = logging.getLogger(__name__)


def create_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create missing topics; returns the names that were created now."""
    specs = topic_specs(settings) if specs is None else specs
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, client_id="homefeed-admin"
    )
    try:
        existing = set(admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        created = []
        for spec in missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name=spec.name,
                            num_partitions=spec.partitions,
                            replication_factor=settings.replication_factor,
                            topic_configs=spec.config,
                        )
                    ]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # another process won the race; the topic is there either way
        if created:
            log.info("created topics: %s", ", ".join(created))
        return created
    finally:
        admin.close()


def topic_size(bootstrap_servers: str, topic: str) -> int:
    """Messages in a topic: the sum of its partitions' end offsets (exact before compaction)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return int(sum(ends.values()))
    finally:
        consumer.close()
