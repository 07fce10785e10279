"""Reading whole topics outside any consumer group: replicas, boards, evaluations."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer

from streams.wire import InvalidMessage, Ranking


def whole_topic_consumer(bootstrap_servers: str, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer of every partition of ``topics``, from the start, committing nothing.

    Without a group, subscribing assigns all partitions to this one consumer,
    which is what a process that must see the whole topic wants.
    """
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **options,
    )


def decoded_rankings(values: Iterable[bytes | None]) -> Iterator[Ranking]:
    """The valid rankings among raw record values (tombstones and bad ones skipped)."""
    for value in values:
        if value is None:
            continue
        try:
            yield Ranking.decode(value)
        except InvalidMessage:
            continue
