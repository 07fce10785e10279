"""Helpers for tests against the live broker: worker processes and bounded reads."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from ranker.state import UserState
from streams.admin import create_topics, topic_size
from streams.processes import child_env, fresh_namespace, spawn, stop
from streams.settings import Settings
from streams.topics import TopicNames
from tests.factories import REPO_ROOT


@dataclass(frozen=True)
class LiveEnv:
    """A fresh namespace on the live broker: topics, consumer group, state folder."""

    settings: Settings
    topics: TopicNames

    def env(self) -> dict[str, str]:
        """Environment for a worker subprocess using this namespace."""
        return child_env(self.settings)


def fresh_env(bootstrap: str, data_dir: Path, partitions: int = 4) -> LiveEnv:
    """New topic prefix and app id (streams.processes), so tests never see each other."""
    settings = fresh_namespace(
        Settings(kafka_bootstrap=bootstrap),
        "test",
        data_dir=data_dir,
        partitions=partitions,
        standby_replicas=0,
    )
    create_topics(settings)
    return LiveEnv(settings, TopicNames.from_settings(settings))


@contextmanager
def running_worker(
    live: LiveEnv, log_path: Path, role: str = "all", data_dir: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `homefeed worker` process (own state folder if ``data_dir`` is given)."""
    env = live.env()
    if data_dir is not None:
        env["HOMEFEED_DATA_DIR"] = str(data_dir)
    process = spawn(["worker", "--role", role], env, log_path, cwd=REPO_ROOT)
    try:
        yield process
    finally:
        stop(process, timeout_s=30)


def produce(
    bootstrap: str, topic: str, messages: Sequence[tuple[bytes | None, bytes | None]]
) -> None:
    """Send (key, value) pairs and wait until the broker has them all."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=30)


def wait_for(
    predicate: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.5
) -> None:
    """Poll ``predicate`` until true; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


class TopicReader:
    """Reads a topic from the beginning across calls, keeping everything it saw."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        partitions = self._consumer.partitions_for_topic(topic) or set()
        assignment = [TopicPartition(topic, p) for p in partitions]
        self._consumer.assign(assignment)
        self._consumer.seek_to_beginning(*assignment)
        self.records: list[tuple[bytes | None, bytes | None]] = []

    def read_until(
        self, done: Callable[[list[tuple[bytes | None, bytes | None]]], bool], timeout_s: float
    ) -> list[tuple[bytes | None, bytes | None]]:
        """Poll until ``done(records)``; raises AssertionError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not done(self.records):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:.0f}s; read {len(self.records)}")
            for batch in self._consumer.poll(timeout_ms=200).values():
                self.records.extend((record.key, record.value) for record in batch)
        return self.records

    def close(self) -> None:
        """Release the consumer."""
        self._consumer.close()


def wait_for_catalog(live: LiveEnv, items: int, timeout_s: float = 120) -> None:
    """Wait until the indexer has published ``items`` item vectors."""
    wait_for(
        lambda: topic_size(live.settings.kafka, live.topics.item_vectors) >= items,
        timeout_s,
        f"{items} item vectors",
    )


def read_to_end(
    bootstrap: str, topic: str, timeout_s: float = 30.0
) -> list[tuple[bytes | None, bytes | None]]:
    """Every record currently in ``topic`` (up to the end offsets seen at the start)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end in {timeout_s:.0f}s")
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend((record.key, record.value) for record in batch)
        return records
    finally:
        consumer.close()


def user_states(live: LiveEnv) -> dict[str, UserState]:
    """Latest user state per user, read from the state table's changelog topic."""
    latest: dict[str, UserState] = {}
    changelog = f"{live.settings.app_id}-user-state-changelog"
    for key, value in read_to_end(live.settings.bootstrap_servers, changelog):
        user = (key or b"").decode()
        if value is None:
            latest.pop(user, None)
        else:
            latest[user] = UserState.decode(value)
    return latest


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker and its children: no shutdown hooks, no flush."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
