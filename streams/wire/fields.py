"""The field rules every wire message shares: schema version, ids, text, timestamps.

Unknown fields are ignored so producers can add fields without breaking
consumers; missing required fields or wrong types raise :class:`InvalidMessage`
with a reason that ends up on the dead-letter topic.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

import msgpack

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


def unpack_map(raw: bytes) -> dict[str, Any]:
    """The msgpack map in ``raw``; InvalidMessage if it is not one."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise InvalidMessage(f"payload is {type(raw).__name__}, not bytes")
    try:
        payload = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as error:  # msgpack raises several unrelated types
        raise InvalidMessage(f"not valid msgpack: {error.__class__.__name__}: {error}") from None
    if not isinstance(payload, dict):
        raise InvalidMessage(f"payload is a msgpack {type(payload).__name__}, not a map")
    return payload


def check_schema(payload: dict[str, Any]) -> int:
    """The message's schema version; InvalidMessage if missing or unsupported."""
    version = payload.get("schema")
    if type(version) is not int:
        raise InvalidMessage("missing or non-integer field 'schema'")
    if version > SCHEMA_VERSION or version < 1:
        raise InvalidMessage(f"unsupported schema version {version}")
    return version


def identifier(payload: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """An id field: a non-empty string (numbers kept as text) of at most MAX_ID_BYTES."""
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


def text_field(payload: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A free-text field of at most MAX_TEXT_CHARS characters."""
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


def timestamp(payload: dict[str, Any], name: str, *, required: bool) -> int | None:
    """A time field: integer milliseconds since the epoch."""
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


def pack(payload: dict[str, Any]) -> bytes:
    """Msgpack of ``payload`` without its None fields."""
    return msgpack.packb({k: v for k, v in payload.items() if v is not None}, use_bin_type=True)
