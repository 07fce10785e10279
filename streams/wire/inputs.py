"""What producers send in: user events and catalog items."""

from __future__ import annotations

from dataclasses import dataclass

from streams.wire.fields import (
    EVENT_TYPES,
    MAX_FUTURE_MS,
    SCHEMA_VERSION,
    EventType,
    InvalidMessage,
    check_schema,
    identifier,
    now_ms,
    pack,
    text_field,
    timestamp,
    unpack_map,
)


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
        return pack(
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
        payload = unpack_map(raw)
        check_schema(payload)
        event_type = payload.get("type")
        if event_type not in EVENT_TYPES:
            raise InvalidMessage(f"field 'type' must be one of {', '.join(EVENT_TYPES)}")
        item_id = identifier(payload, "item_id", required=False)
        text = text_field(payload, "text")
        if event_type in ("click", "view", "impression", "dislike") and item_id is None:
            raise InvalidMessage(f"a '{event_type}' event needs 'item_id'")
        if event_type == "search" and not text:
            raise InvalidMessage("a 'search' event needs 'text'")
        ts = timestamp(payload, "ts", required=True) or 0
        if ts > now_ms() + MAX_FUTURE_MS:
            raise InvalidMessage(f"field 'ts' is more than a day in the future: {ts}")
        return cls(
            event_id=identifier(payload, "event_id") or "",
            user_id=identifier(payload, "user_id") or "",
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
        return pack(
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
        payload = unpack_map(raw)
        check_schema(payload)
        return cls(
            item_id=identifier(payload, "item_id") or "",
            title=text_field(payload, "title", required=True) or "",
            abstract=text_field(payload, "abstract"),
            category=text_field(payload, "category"),
            published_at=timestamp(payload, "published_at", required=False),
            expires_at=timestamp(payload, "expires_at", required=False),
        )
