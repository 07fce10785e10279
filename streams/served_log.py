"""Reading the served topic (the impression log) back, for training from what was shown."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from streams.kafka_connection import KafkaConnection
from streams.wire import InvalidMessage, Served, decode_served

log = logging.getLogger(__name__)


def topic_records(
    kafka: KafkaConnection, topic: str, timeout_s: float = 120.0
) -> Iterator[ConsumerRecord]:
    """Every record now in ``topic``, each partition read to the end offset it had at the start."""
    consumer = KafkaConsumer(**kafka.kafka_python(), enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            raise ValueError(f"topic {topic} does not exist on {kafka.bootstrap_servers}")
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {timeout_s:.0f}s")
            for records in consumer.poll(timeout_ms=500).values():
                yield from records
    finally:
        consumer.close()


def read_served(kafka: KafkaConnection, topic: str, timeout_s: float = 120.0) -> list[Served]:
    """Every impression currently in the served topic (read to its end offsets)."""
    served: list[Served] = []
    for record in topic_records(kafka, topic, timeout_s):
        if record.value is None:
            continue
        try:
            served.extend(decode_served(record.value))
        except (InvalidMessage, KeyError, TypeError, ValueError, IndexError):
            log.warning("skipping an unreadable served record at %d", record.offset)
    return served
