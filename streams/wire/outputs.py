"""What the workers publish: item vectors, rankings, the served log, trending, dead letters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streams.wire.fields import (
    SCHEMA_VERSION,
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
class ItemVector:
    """An item's embedding as published by the indexer (float16 on the wire)."""

    item_id: str
    vector: np.ndarray
    encoder_version: str
    title: str = ""
    category: str | None = None
    # Hex digest of (encoder version, item text): lets a restarted indexer skip
    # items whose vector on the topic is already up to date.
    text_digest: str = ""

    def encode(self) -> bytes:
        """Serialize to msgpack; the vector travels as float16 bytes."""
        vector16 = np.ascontiguousarray(self.vector, dtype=np.float16)
        return pack(
            {
                "schema": SCHEMA_VERSION,
                "item_id": self.item_id,
                "vector": vector16.tobytes(),
                "dim": int(vector16.shape[0]),
                "encoder_version": self.encoder_version,
                "title": self.title,
                "category": self.category,
                "text_digest": self.text_digest or None,
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> ItemVector:
        """Parse and validate; raises InvalidMessage."""
        payload = unpack_map(raw)
        check_schema(payload)
        dim = payload.get("dim")
        blob = payload.get("vector")
        if type(dim) is not int or dim <= 0:
            raise InvalidMessage("missing or invalid field 'dim'")
        if not isinstance(blob, bytes) or len(blob) != 2 * dim:
            raise InvalidMessage(f"field 'vector' must be {2 * dim} bytes of float16")
        return cls(
            item_id=identifier(payload, "item_id") or "",
            vector=np.frombuffer(blob, dtype=np.float16).astype(np.float32),
            encoder_version=text_field(payload, "encoder_version", required=True) or "",
            title=text_field(payload, "title") or "",
            category=text_field(payload, "category"),
            text_digest=text_field(payload, "text_digest") or "",
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
    variant: str | None = None  # the experiment variant, when an experiment runs

    def encode(self) -> bytes:
        """Serialize to msgpack."""
        return pack(
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
                "variant": self.variant,
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> Ranking:
        """Parse and validate; raises InvalidMessage."""
        payload = unpack_map(raw)
        check_schema(payload)
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
                    item_id=identifier(entry, "item_id") or "",
                    score=float(score),
                    reason=text_field(entry, "reason") or "",
                )
            )
        return cls(
            user_id=identifier(payload, "user_id") or "",
            items=items,
            model_version=text_field(payload, "model_version", required=True) or "",
            generated_at=timestamp(payload, "generated_at", required=True) or 0,
            source_event_id=identifier(payload, "source_event_id", required=False),
            source_event_ts=timestamp(payload, "source_event_ts", required=False),
            source_event_type=text_field(payload, "source_event_type"),
            source_item_id=identifier(payload, "source_item_id", required=False),
            variant=text_field(payload, "variant"),
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
    variant: str | None = None

    def encode(self) -> bytes:
        """Serialize to msgpack."""
        return pack(
            {
                "schema": SCHEMA_VERSION,
                "user_id": self.user_id,
                "model_version": self.model_version,
                "variant": self.variant,
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
        payload = unpack_map(raw)
        check_schema(payload)
        return cls.from_payload(payload)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Served:
        """The entry in an unpacked single served record."""
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
            variant=payload.get("variant"),
        )


SERVED_BATCH = "served_batch"


def _coded(labels: list[str]) -> tuple[list[str], list[int]]:
    """``labels`` as (distinct names in first-seen order, each label's index into them)."""
    names: dict[str, int] = {}
    codes = [names.setdefault(label, len(names)) for label in labels]
    return list(names), codes


def encode_served_batch(entries: list[Served]) -> bytes:
    """Many impression-log entries as one compact, columnar record.

    One record per ranking batch instead of one per homepage, and no float map
    per slot: item scores and features travel as float32 arrays (features as
    a slots × names matrix, NaN where a slot lacks one), source and reason as
    codes into short name lists. A batch of 128 homepages of 20 slots is under
    a quarter of the bytes of its single records (tests/unit/test_wire.py).
    """
    slots = [item for entry in entries for item in entry.items]
    feature_names: dict[str, int] = {}
    for item in slots:
        for name in item.features:
            feature_names.setdefault(name, len(feature_names))
    matrix = np.full((len(slots), len(feature_names)), np.nan, dtype=np.float32)
    for row, item in enumerate(slots):
        for name, value in item.features.items():
            matrix[row, feature_names[name]] = value
    versions, version_codes = _coded([e.model_version for e in entries])
    variants, variant_codes = _coded([e.variant or "" for e in entries])
    sources, source_codes = _coded([i.source for i in slots])
    reasons, reason_codes = _coded([i.reason for i in slots])
    return pack(
        {
            "schema": SCHEMA_VERSION,
            "kind": SERVED_BATCH,
            "users": [e.user_id for e in entries],
            "model_versions": versions,
            "model_version_codes": version_codes,
            "variants": variants,
            "variant_codes": variant_codes,
            "generated_at": [e.generated_at for e in entries],
            "source_event_ids": [e.source_event_id for e in entries],
            "source_event_ts": [e.source_event_ts for e in entries],
            "lengths": [len(e.items) for e in entries],
            "item_ids": [i.item_id for i in slots],
            "positions": [i.position for i in slots],
            "scores": np.array([i.score for i in slots], dtype=np.float32).tobytes(),
            "retrieval_scores": np.array(
                [i.retrieval_score for i in slots], dtype=np.float32
            ).tobytes(),
            "sources": sources,
            "source_codes": source_codes,
            "reasons": reasons,
            "reason_codes": reason_codes,
            "feature_names": list(feature_names),
            "features": matrix.tobytes(),
        }
    )


def decode_served(raw: bytes, *, features: bool = True) -> list[Served]:
    """The impression-log entries in a served record: a batch, or one older single entry.

    ``features=False`` leaves every slot's features empty: a reader that only
    needs what was shown (the online-metrics join) skips a dict per slot.
    Raises InvalidMessage (or KeyError/TypeError/ValueError on a malformed
    batch: the log is written by workers, so readers skip such a record).
    """
    payload = unpack_map(raw)
    check_schema(payload)
    if payload.get("kind") != SERVED_BATCH:
        return [Served.from_payload(payload)]
    lengths = payload["lengths"]
    slots = sum(lengths)
    names = payload["feature_names"]
    scores = np.frombuffer(payload["scores"], dtype=np.float32)
    retrieval = np.frombuffer(payload["retrieval_scores"], dtype=np.float32)
    matrix = np.frombuffer(payload["features"], dtype=np.float32).reshape(slots, len(names))
    if len(scores) != slots or len(retrieval) != slots or len(payload["item_ids"]) != slots:
        raise InvalidMessage("served batch: slot arrays disagree with 'lengths'")
    present = ~np.isnan(matrix)
    # Batches written before experiments existed carry no variants.
    variants = payload.get("variants", [""])
    variant_codes = payload.get("variant_codes", [0] * len(lengths))
    entries = []
    start = 0
    for row, length in enumerate(lengths):
        items = [
            ServedItem(
                item_id=payload["item_ids"][slot],
                position=payload["positions"][slot],
                score=float(scores[slot]),
                retrieval_score=float(retrieval[slot]),
                source=payload["sources"][payload["source_codes"][slot]],
                reason=payload["reasons"][payload["reason_codes"][slot]],
                features={
                    names[column]: float(matrix[slot, column])
                    for column in np.flatnonzero(present[slot])
                }
                if features
                else {},
            )
            for slot in range(start, start + length)
        ]
        start += length
        entries.append(
            Served(
                user_id=payload["users"][row],
                items=items,
                model_version=payload["model_versions"][payload["model_version_codes"][row]],
                generated_at=payload["generated_at"][row],
                source_event_id=payload["source_event_ids"][row],
                source_event_ts=payload["source_event_ts"][row],
                variant=variants[variant_codes[row]] or None,
            )
        )
    return entries


@dataclass(frozen=True, slots=True)
class TrendingList:
    """One worker's hottest items, published to the trending topic (keyed by worker)."""

    items: list[tuple[str, float]]
    generated_at: int

    def encode(self) -> bytes:
        """Serialize to msgpack."""
        return pack(
            {
                "schema": SCHEMA_VERSION,
                "items": [{"item_id": item_id, "score": score} for item_id, score in self.items],
                "generated_at": self.generated_at,
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> TrendingList:
        """Parse and validate; raises InvalidMessage."""
        payload = unpack_map(raw)
        check_schema(payload)
        if not isinstance(payload.get("items"), list):
            raise InvalidMessage("trending message needs a map with an 'items' list")
        generated_at = payload.get("generated_at")
        if type(generated_at) is not int:
            raise InvalidMessage("trending message needs an integer 'generated_at'")
        items = []
        for entry in payload["items"]:
            if not isinstance(entry, dict):
                raise InvalidMessage("every trending entry must be a map")
            item_id, score = entry.get("item_id"), entry.get("score")
            if not isinstance(item_id, str | int) or not isinstance(score, int | float):
                raise InvalidMessage("trending entries need 'item_id' and a numeric 'score'")
            items.append((str(item_id), float(score)))
        return cls(items, generated_at)


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
        return pack(
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
        payload = unpack_map(raw)
        return cls(
            source_topic=payload["source_topic"],
            reason=payload["reason"],
            original=payload["original"],
            original_key=payload.get("original_key"),
            partition=payload.get("partition"),
            offset=payload.get("offset"),
            rejected_at=payload["rejected_at"],
        )
