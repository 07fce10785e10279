"""Topic administration against a real broker (idempotent)."""

from __future__ import annotations

import asyncio
import logging

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.kafka_connection import KafkaConnection
from streams.settings import Settings
from streams.topics import TopicSpec, topic_specs

log = logging.getLogger(__name__)


def create_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create missing topics; returns the names that were created now."""
    specs = topic_specs(settings) if specs is None else specs
    admin = KafkaAdminClient(**settings.kafka.kafka_python(), client_id="homefeed-admin")
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


def topic_size(kafka: KafkaConnection, topic: str) -> int:
    """Messages in a topic: the sum of its partitions' end offsets (exact before compaction)."""
    consumer = KafkaConsumer(**kafka.kafka_python(), enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return int(sum(ends.values()))
    finally:
        consumer.close()


class GroupProgress:
    """How far a consumer group has read a topic: end offsets against its committed offsets.

    It never joins the group (``committed`` is a plain offset fetch), so watching
    a worker's progress cannot trigger a rebalance of that worker.
    """

    def __init__(self, kafka: KafkaConnection, topic: str, group_id: str) -> None:
        self._topic = topic
        self._consumer = KafkaConsumer(
            **kafka.kafka_python(), group_id=group_id, enable_auto_commit=False
        )

    def read(self) -> tuple[int, int]:
        """(messages in the topic, messages the group has not committed yet)."""
        partitions = self._consumer.partitions_for_topic(self._topic) or set()
        assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        ends = self._consumer.end_offsets(assigned)
        lag = 0
        for partition in assigned:
            committed = self._consumer.committed(partition) or 0
            lag += max(0, ends[partition] - committed)
        return int(sum(ends.values())), lag

    async def caught_up(self) -> bool:
        """True when the group has committed every message (read in a thread)."""
        _, lag = await asyncio.to_thread(self.read)
        return lag == 0

    def close(self) -> None:
        """Close the connection."""
        self._consumer.close()
