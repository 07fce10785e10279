"""Wire contracts: msgpack maps with a ``schema`` version, validated on decode.

Unknown fields are ignored so producers can add fields without breaking
consumers; missing required fields or wrong types raise :class:`InvalidMessage`
with a reason that ends up on the dead-letter topic.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import msgpack
import numpy as np

SCHEMA_VERSION = 1
MAX_ID_BYTES = 256
MAX_TEXT_CHARS = 10_000
# Clocks drift, but an event stamped a day ahead is a bug upstream, not a click.
MAX_FUTURE_MS = 24 * 3600 * 1000
EVENT_TYPES = ("click", "view", "impression", "dislike", "search", "forget")
EventType = Literal["click", "view", "impression", "dislike", "search", "forget"]


class InvalidMessage(ValueError):
    """A message that breaks its contract; ``str(error)`` is the reason."""


def now_ms() -> int:
    """Wall-clock time in milliseconds, the unit of every ``ts`` on the wire."""
    return int(time.time() * 1000)


def new_event_id() -> str:
    """A fresh globally unique event id."""
    return uuid.uuid4().hex


def _unpack_map(raw: bytes) -> dict[str, Any]:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise InvalidMessage(f"payload is {type(raw).__name__}, not bytes")
    try:
        payload = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as error:  # msgpack raises several unrelated types
        raise InvalidMessage(f"not valid msgpack: {error.__class__.__name__}: {error}") from None
    if not isinstance(payload, dict):
        raise InvalidMessage(f"payload is a msgpack {type(payload).__name__}, not a map")
    return payload


def _schema(payload: dict[str, Any]) -> int:
    version = payload.get("schema")
    if type(version) is not int:
        raise InvalidMessage("missing or non-integer field 'schema'")
    if version > SCHEMA_VERSION or version < 1:
        raise InvalidMessage(f"unsupported schema version {version}")
    return version


def _identifier(payload: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = payload.get(name)
    if value is None:
        if required:
            raise InvalidMessage(f"missing required field '{name}'")
        return None
    if type(value) is int:  # numeric ids are accepted and kept as their text
        value = str(value)
    if not isinstance(value, str):
        raise InvalidMessage(f"field '{name}' must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidMessage(f"field '{name}' is empty")
    if len(value.encode()) > MAX_ID_BYTES:
        raise InvalidMessage(f"field '{name}' is longer than {MAX_ID_BYTES} bytes")
    return value


def _text(payload: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = payload.get(name)
    if value is None:
        if required:
            raise InvalidMessage(f"missing required field '{name}'")
        return None
    if not isinstance(value, str):
        raise InvalidMessage(f"field '{name}' must be a string, got {type(value).__name__}")
    if len(value) > MAX_TEXT_CHARS:
        raise InvalidMessage(f"field '{name}' is longer than {MAX_TEXT_CHARS} characters")
    return value


def _timestamp(payload: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = payload.get(name)
    if value is None:
        if required:
            raise InvalidMessage(f"missing required field '{name}'")
        return None
    if type(value) is not int:
        raise InvalidMessage(f"field '{name}' must be an integer (ms), got {type(value).__name__}")
    if value < 0 or value > 2**53:
        raise InvalidMessage(f"field '{name}' is out of range: {value}")
    return value


def _pack(payload: dict[str, Any]) -> bytes:
    return msgpack.packb({k: v for k, v in payload.items() if v is not None}, use_bin_type=True)


@dataclass(frozen=True, slots=True)
class Event:
    """Something a user did on the site."""

    event_id: str
    user_id: str
    type: EventType
    ts: int
    item_id: str | None = None
    text: str | None = None

    def encode(self) -> bytes:
        """Serialize to msgpack."""
        return _pack(
            {
                "schema": SCHEMA_VERSION,
                "event_id": self.event_id,
                "user_id": self.user_id,
                "type": self.type,
                "ts": self.ts,
                "item_id": self.item_id,
                "text": self.text,
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> Event:
        """Parse and validate; raises InvalidMessage."""
        payload = _unpack_map(raw)
        _schema(payload)
        event_type = payload.get("type")
        if event_type not in EVENT_TYPES:
            raise InvalidMessage(f"field 'type' must be one of {', '.join(EVENT_TYPES)}")
        item_id = _identifier(payload, "item_id", required=False)
        text = _text(payload, "text")
        if event_type in ("click", "view", "impression", "dislike") and item_id is None:
            raise InvalidMessage(f"a '{event_type}' event needs 'item_id'")
        if event_type == "search" and not text:
            raise InvalidMessage("a 'search' event needs 'text'")
        ts = _timestamp(payload, "ts", required=True) or 0
        if ts > now_ms() + MAX_FUTURE_MS:
            raise InvalidMessage(f"field 'ts' is more than a day in the future: {ts}")
        return cls(
            event_id=_identifier(payload, "event_id") or "",
            user_id=_identifier(payload, "user_id") or "",
            type=event_type,
            ts=ts,
            item_id=item_id,
            text=text,
        )


@dataclass(frozen=True, slots=True)
class Item:
    """A catalog entry; the text fields feed the encoder."""

    item_id: str
    title: str
    abstract: str | None = None
    category: str | None = None
    published_at: int | None = None
    expires_at: int | None = None

    def text(self) -> str:
        """The text the encoder sees: title, category and abstract."""
        parts = [self.title]
        if self.category:
            parts.append(self.category)
        if self.abstract:
            parts.append(self.abstract)
        return ". ".join(parts)

    def encode(self) -> bytes:
        """Serialize to msgpack."""
        return _pack(
            {
                "schema": SCHEMA_VERSION,
                "item_id": self.item_id,
                "title": self.title,
                "abstract": self.abstract,
                "category": self.category,
                "published_at": self.published_at,
                "expires_at": self.expires_at,
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> Item:
        """Parse and validate; raises InvalidMessage."""
        payload = _unpack_map(raw)
        _schema(payload)
        return cls(
            item_id=_identifier(payload, "item_id") or "",
            title=_text(payload, "title", required=True) or "",
            abstract=_text(payload, "abstract"),
            category=_text(payload, "category"),
            published_at=_timestamp(payload, "published_at", required=False),
            expires_at=_timestamp(payload, "expires_at", required=False),
        )


@dataclass(frozen=True, slots=True)
class ItemVector:
    """An item's embedding as published by the indexer (float16 on the wire)."""

    item_id: str
    vector: np.ndarray
    encoder_version: str
    title: str = ""
    category: str | None = None

    def encode(self) -> bytes:
        """Serialize to msgpack; the vector travels as float16 bytes."""
        vector16 = np.ascontiguousarray(self.vector, dtype=np.float16)
        return _pack(
            {
                "schema": SCHEMA_VERSION,
                "item_id": self.item_id,
                "vector": vector16.tobytes(),
                "dim": int(vector16.shape[0]),
                "encoder_version": self.encoder_version,
                "title": self.title,
                "category": self.category,
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> ItemVector:
        """Parse and validate; raises InvalidMessage."""
        payload = _unpack_map(raw)
        _schema(payload)
        dim = payload.get("dim")
        blob = payload.get("vector")
        if type(dim) is not int or dim <= 0:
            raise InvalidMessage("missing or invalid field 'dim'")
        if not isinstance(blob, bytes) or len(blob) != 2 * dim:
            raise InvalidMessage(f"field 'vector' must be {2 * dim} bytes of float16")
        return cls(
            item_id=_identifier(payload, "item_id") or "",
            vector=np.frombuffer(blob, dtype=np.float16).astype(np.float32),
            encoder_version=_text(payload, "encoder_version", required=True) or "",
            title=_text(payload, "title") or "",
            category=_text(payload, "category"),
        )


@dataclass(frozen=True, slots=True)
class RankedItem:
    """One slot of a homepage."""

    item_id: str
    score: float
    reason: str


@dataclass(frozen=True, slots=True)
class Ranking:
    """A user's refreshed homepage, published to the rankings topic."""

    user_id: str
    items: list[RankedItem]
    model_version: str
    generated_at: int
    source_event_id: str | None
    source_event_ts: int | None
    source_event_type: str | None = None
    source_item_id: str | None = None

    def encode(self) -> bytes:
        """Serialize to msgpack."""
        return _pack(
            {
                "schema": SCHEMA_VERSION,
                "user_id": self.user_id,
                "items": [
                    {"item_id": it.item_id, "score": float(it.score), "reason": it.reason}
                    for it in self.items
                ],
                "model_version": self.model_version,
                "generated_at": self.generated_at,
                "source_event_id": self.source_event_id,
                "source_event_ts": self.source_event_ts,
                "source_event_type": self.source_event_type,
                "source_item_id": self.source_item_id,
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> Ranking:
        """Parse and validate; raises InvalidMessage."""
        payload = _unpack_map(raw)
        _schema(payload)
        entries = payload.get("items")
        if not isinstance(entries, list):
            raise InvalidMessage("field 'items' must be a list")
        items = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise InvalidMessage("every entry of 'items' must be a map")
            score = entry.get("score")
            if not isinstance(score, int | float):
                raise InvalidMessage("item 'score' must be a number")
            items.append(
                RankedItem(
                    item_id=_identifier(entry, "item_id") or "",
                    score=float(score),
                    reason=_text(entry, "reason") or "",
                )
            )
        return cls(
            user_id=_identifier(payload, "user_id") or "",
            items=items,
            model_version=_text(payload, "model_version", required=True) or "",
            generated_at=_timestamp(payload, "generated_at", required=True) or 0,
            source_event_id=_identifier(payload, "source_event_id", required=False),
            source_event_ts=_timestamp(payload, "source_event_ts", required=False),
            source_event_type=_text(payload, "source_event_type"),
            source_item_id=_identifier(payload, "source_item_id", required=False),
        )


@dataclass(frozen=True, slots=True)
class ServedItem:
    """One shown slot with what the scorer saw: a row of tomorrow's training data."""

    item_id: str
    position: int
    score: float
    retrieval_score: float
    source: str
    reason: str
    features: dict[str, float]


@dataclass(frozen=True, slots=True)
class Served:
    """An impression log entry: a published homepage and the features behind it."""

    user_id: str
    items: list[ServedItem]
    model_version: str
    generated_at: int
    source_event_id: str | None
    source_event_ts: int | None

    def encode(self) -> bytes:
        """Serialize to msgpack."""
        return _pack(
            {
                "schema": SCHEMA_VERSION,
                "user_id": self.user_id,
                "model_version": self.model_version,
                "generated_at": self.generated_at,
                "source_event_id": self.source_event_id,
                "source_event_ts": self.source_event_ts,
                "items": [
                    {
                        "item_id": it.item_id,
                        "position": it.position,
                        "score": float(it.score),
                        "retrieval_score": float(it.retrieval_score),
                        "source": it.source,
                        "reason": it.reason,
                        "features": {k: float(v) for k, v in it.features.items()},
                    }
                    for it in self.items
                ],
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> Served:
        """Parse a served-log record (trusted: a worker wrote it)."""
        payload = _unpack_map(raw)
        _schema(payload)
        return cls(
            user_id=payload["user_id"],
            items=[
                ServedItem(
                    item_id=entry["item_id"],
                    position=entry["position"],
                    score=entry["score"],
                    retrieval_score=entry["retrieval_score"],
                    source=entry["source"],
                    reason=entry["reason"],
                    features=dict(entry.get("features", {})),
                )
                for entry in payload["items"]
            ],
            model_version=payload["model_version"],
            generated_at=payload["generated_at"],
            source_event_id=payload.get("source_event_id"),
            source_event_ts=payload.get("source_event_ts"),
        )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected message: where it came from, why, and its original bytes."""

    source_topic: str
    reason: str
    original: bytes
    original_key: bytes | None = None
    partition: int | None = None
    offset: int | None = None
    rejected_at: int = field(default_factory=now_ms)

    def encode(self) -> bytes:
        """Serialize to msgpack."""
        return _pack(
            {
                "schema": SCHEMA_VERSION,
                "source_topic": self.source_topic,
                "reason": self.reason,
                "original": bytes(self.original),
                "original_key": None if self.original_key is None else bytes(self.original_key),
                "partition": self.partition,
                "offset": self.offset,
                "rejected_at": self.rejected_at,
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> DeadLetter:
        """Parse a dead-letter record (trusted: we wrote it)."""
        payload = _unpack_map(raw)
        return cls(
            source_topic=payload["source_topic"],
            reason=payload["reason"],
            original=payload["original"],
            original_key=payload.get("original_key"),
            partition=payload.get("partition"),
            offset=payload.get("offset"),
            rejected_at=payload["rejected_at"],
        )
