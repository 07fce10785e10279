"""Wire contracts: msgpack maps with a ``schema`` version, validated on decode.

Every message that crosses a topic has its type here, and only here; the
package imports nothing of the project, so ``ranker/`` and ``indexer/`` may
use it (import-linter checks that). Unknown fields are ignored; a missing or
mistyped required field raises :class:`InvalidMessage` with the reason.
"""

from streams.wire.fields import (
    EVENT_TYPES,
    MAX_FUTURE_MS,
    MAX_ID_BYTES,
    MAX_TEXT_CHARS,
    SCHEMA_VERSION,
    EventType,
    InvalidMessage,
    new_event_id,
    now_ms,
)
from streams.wire.inputs import Event, Item
from streams.wire.online import SLOT_KINDS, OnlineWindow, Shown
from streams.wire.outputs import (
    DeadLetter,
    ItemVector,
    RankedItem,
    Ranking,
    Served,
    ServedItem,
    TrendingList,
    decode_served,
    encode_served_batch,
)

__all__ = [
    "EVENT_TYPES",
    "MAX_FUTURE_MS",
    "MAX_ID_BYTES",
    "MAX_TEXT_CHARS",
    "SCHEMA_VERSION",
    "SLOT_KINDS",
    "DeadLetter",
    "Event",
    "EventType",
    "InvalidMessage",
    "Item",
    "ItemVector",
    "OnlineWindow",
    "RankedItem",
    "Ranking",
    "Served",
    "ServedItem",
    "Shown",
    "TrendingList",
    "decode_served",
    "encode_served_batch",
    "new_event_id",
    "now_ms",
]
