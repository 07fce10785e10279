"""Online metrics on the wire: homepages re-keyed by user, and windowed figures per variant.

``Shown`` is what the online-metrics join needs of a served homepage, keyed
by user on ``online-shown`` so it lands on the partition of that user's
events. ``OnlineWindow`` is one partition's figures for one time window,
variant and model version, on the compacted ``online-metrics`` topic
(key: :meth:`OnlineWindow.key`); readers sum the partitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.wire.fields import InvalidMessage, check_schema, pack, unpack_map

SLOT_KINDS = ("personal", "trending", "exploration")


@dataclass(frozen=True, slots=True)
class Shown:
    """A served homepage as the join sees it: its items in order and who made it."""

    user_id: str
    item_ids: tuple[str, ...]
    slot_kinds: tuple[str, ...]  # one of SLOT_KINDS per item
    model_version: str
    variant: str
    source_event_id: str | None
    generated_at: int

    def encode(self) -> bytes:
        """Serialize to msgpack."""
        return pack({"schema": 1, **self.to_payload()})

    @classmethod
    def decode(cls, raw: bytes) -> Shown:
        """Parse a record a worker wrote; InvalidMessage if it is not one."""
        payload = unpack_map(raw)
        check_schema(payload)
        try:
            return cls.from_payload(payload)
        except (KeyError, TypeError) as error:
            raise InvalidMessage(f"shown record: {error.__class__.__name__}: {error}") from None

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Shown:
        """The record in an unpacked map (also the join state's pending entries)."""
        item_ids = tuple(payload["item_ids"])
        kinds = tuple(payload["slot_kinds"])
        if len(kinds) != len(item_ids):
            raise InvalidMessage("shown record: one slot kind per item expected")
        return cls(
            user_id=payload["user_id"],
            item_ids=item_ids,
            slot_kinds=kinds,
            model_version=payload["model_version"],
            variant=payload.get("variant") or "",
            source_event_id=payload.get("source_event_id"),
            generated_at=int(payload["generated_at"]),
        )

    def to_payload(self) -> dict[str, Any]:
        """The map :meth:`from_payload` reads."""
        return {
            "user_id": self.user_id,
            "item_ids": list(self.item_ids),
            "slot_kinds": list(self.slot_kinds),
            "model_version": self.model_version,
            "variant": self.variant,
            "source_event_id": self.source_event_id,
            "generated_at": self.generated_at,
        }


@dataclass(slots=True)
class OnlineWindow:
    """Counts for the homepages one partition served in one window, by one variant and model.

    A homepage is *judged* once its user's next event is known; it is
    *clicked* when that event is a click on one of its items, at
    ``click_positions[p]``. ``ndcg_sum`` adds 1/log2(p + 2) per clicked
    homepage (one relevant item), so ``ndcg_sum / judged`` is the served
    lists' nDCG. ``coverage`` holds HyperLogLog registers of the items shown.
    The ``ctr*`` fields are the writer's Wilson 95% interval, for readers
    that do not merge.
    """

    partition: int
    window_start: int  # ms
    window_s: int
    variant: str
    model_version: str
    served: int = 0
    judged: int = 0
    clicked: int = 0
    ndcg_sum: float = 0.0
    click_positions: list[int] = field(default_factory=list)
    slots_shown: dict[str, int] = field(default_factory=dict)
    slots_clicked: dict[str, int] = field(default_factory=dict)
    coverage: bytes = b""
    catalog_size: int = 0  # items in the worker's replica when last written
    ctr: float = 0.0
    ctr_low: float = 0.0
    ctr_high: float = 1.0
    updated_at: int = 0

    def key(self) -> bytes:
        """The compaction key: one record per partition, window, variant and model."""
        return window_key(self.partition, self.window_start, self.variant, self.model_version)

    def encode(self) -> bytes:
        """Serialize to msgpack."""
        return pack({"schema": 1, **{name: getattr(self, name) for name in _WINDOW_FIELDS}})

    @classmethod
    def decode(cls, raw: bytes) -> OnlineWindow:
        """Parse a record; InvalidMessage if it is not one."""
        payload = unpack_map(raw)
        check_schema(payload)
        try:
            window = cls(**{name: payload[name] for name in _WINDOW_FIELDS if name in payload})
        except TypeError as error:
            raise InvalidMessage(f"online window: {error}") from None
        if not isinstance(window.coverage, bytes) or not isinstance(window.click_positions, list):
            raise InvalidMessage("online window: malformed coverage or positions")
        return window


_WINDOW_FIELDS = tuple(OnlineWindow.__dataclass_fields__)


def window_key(partition: int, window_start: int, variant: str, model_version: str) -> bytes:
    """The topic's and the windows table's key: partition/window start/variant/model."""
    return f"{partition}/{window_start}/{variant}/{model_version}".encode()


def window_start_of(key: bytes) -> int:
    """The window start in a :func:`window_key`."""
    return int(bytes(key).split(b"/", 2)[1])
