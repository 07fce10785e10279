"""The web backend's side of the events topic: validate what a page sends, then produce it.

Validation reuses the wire contract (:class:`streams.wire.Event`), so an event
the service accepts is exactly an event the workers accept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import msgpack
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from streams.kafka_connection import KafkaConnection
from streams.wire import SCHEMA_VERSION, Event, new_event_id, now_ms

log = logging.getLogger(__name__)


class EventIn(BaseModel):
    """An event as a page posts it; the service fills ``event_id`` and ``ts`` when absent."""

    # A misspelt field name is a client bug worth a clear 4xx, not a silent drop.
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(description="Who acted.")
    type: str = Field(description="click, view, impression, dislike, search or forget.")
    item_id: str | None = Field(
        default=None, description="Required for click/view/impression/dislike."
    )
    text: str | None = Field(default=None, description="Required for search.")
    ts: StrictInt | None = Field(default=None, description="Event time in ms; default now.")
    event_id: str | None = Field(default=None, description="Idempotency key; default a fresh one.")
    schema_version: StrictInt | None = Field(
        default=None, alias="schema", description=f"Wire schema version; default {SCHEMA_VERSION}."
    )


def to_event(posted: EventIn) -> Event:
    """Fill defaults and validate against the wire contract; raises InvalidMessage."""
    payload: dict[str, Any] = {
        "schema": SCHEMA_VERSION if posted.schema_version is None else posted.schema_version,
        "event_id": posted.event_id or new_event_id(),
        "user_id": posted.user_id,
        "type": posted.type,
        "ts": now_ms() if posted.ts is None else posted.ts,
        "item_id": posted.item_id,
        "text": posted.text,
    }
    wire = msgpack.packb({k: v for k, v in payload.items() if v is not None}, use_bin_type=True)
    return Event.decode(wire)


@dataclass(frozen=True, slots=True)
class Produced:
    """Where an event landed."""

    topic: str
    partition: int
    offset: int


class EventSink(Protocol):
    """Where accepted events go: Kafka in the service, a list in tests."""

    async def start(self) -> None:
        """Connect."""
        ...

    async def stop(self) -> None:
        """Flush and disconnect."""
        ...

    async def send(self, event: Event) -> Produced:
        """Deliver one event; returns once the broker has it."""
        ...


class KafkaEventSink:
    """Produces events to the events topic, keyed by user id like every other producer."""

    def __init__(self, kafka: KafkaConnection, topic: str) -> None:
        self._kafka = kafka
        self._topic = topic
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect the producer."""
        self._producer = AIOKafkaProducer(
            **self._kafka.aiokafka(), acks="all", enable_idempotence=True
        )
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and close the producer."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, event: Event) -> Produced:
        """Produce and wait for the broker's acknowledgement."""
        if self._producer is None:
            raise RuntimeError("event sink is not started")
        metadata = await self._producer.send_and_wait(
            self._topic, key=event.user_id.encode(), value=event.encode()
        )
        return Produced(metadata.topic, metadata.partition, metadata.offset)
