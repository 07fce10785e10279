"""The local Kafka broker against the two client libraries the project uses.

Every topic is fresh (uuid suffix) and every wait is bounded by ``TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from deploy.kafka import LocalBroker, free_ports

pytestmark = pytest.mark.integration

TIMEOUT_S = 30.0


def create_topic(bootstrap: str, partitions: int = 1) -> str:
    """Create a fresh topic (the broker does not auto-create) and return its name."""
    topic = f"test.broker.{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(TIMEOUT_S * 1000))
    try:
        admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)],
            timeout_ms=int(TIMEOUT_S * 1000),
            wait_for_metadata=True,
        )
    finally:
        admin.close()
    return topic


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for value in values:
            producer.send(topic, value).get(timeout=TIMEOUT_S)
    finally:
        producer.close(timeout=TIMEOUT_S)


def consume(bootstrap: str, topic: str, count: int, group_id: str | None = None) -> list[bytes]:
    """Read ``count`` values from the start of ``topic``; fewer if the deadline passes."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    values: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while len(values) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in records)
        if group_id is not None:
            consumer.commit()
    finally:
        consumer.close()
    return values


async def aiokafka_round_trip(bootstrap: str, topic: str, payload: bytes) -> bytes:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, payload, key=b"user-1")
    finally:
        await producer.stop()
    # A consumer group, as Faust uses one: this also exercises __consumer_offsets.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        record = await consumer.getone()
        await consumer.commit()
    finally:
        await consumer.stop()
    value: bytes = record.value
    return value


def test_aiokafka_round_trip(kafka_bootstrap: str) -> None:
    topic = create_topic(kafka_bootstrap, partitions=8)
    payload = uuid.uuid4().bytes
    received = asyncio.run(
        asyncio.wait_for(aiokafka_round_trip(kafka_bootstrap, topic, payload), TIMEOUT_S)
    )
    assert received == payload


def test_kafka_python_round_trip(kafka_bootstrap: str) -> None:
    topic = create_topic(kafka_bootstrap)
    payloads = [uuid.uuid4().bytes for _ in range(3)]
    produce(kafka_bootstrap, topic, payloads)
    assert consume(kafka_bootstrap, topic, 3, group_id=f"test-{uuid.uuid4().hex[:8]}") == payloads


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test's own, so it can be stopped and killed freely."""
    port, controller_port = free_ports(2)
    broker = LocalBroker(data_dir=tmp_path / "kafka", port=port, controller_port=controller_port)
    broker.start(wait_s=120)
    try:
        yield broker
    finally:
        broker.stop()


def test_restart_keeps_messages(own_broker: LocalBroker) -> None:
    topic = create_topic(own_broker.bootstrap)
    produce(own_broker.bootstrap, topic, [b"before-stop"])
    own_broker.stop()
    assert not own_broker.status()["running"]
    own_broker.start(wait_s=120)
    assert consume(own_broker.bootstrap, topic, 1) == [b"before-stop"]


def test_restart_after_kill_keeps_messages(own_broker: LocalBroker) -> None:
    topic = create_topic(own_broker.bootstrap)
    produce(own_broker.bootstrap, topic, [b"before-crash"])
    own_broker.kill()
    own_broker.start(wait_s=120)
    assert consume(own_broker.bootstrap, topic, 1) == [b"before-crash"]
