import msgpack
import numpy as np
import pytest

from streams.wire import (
    MAX_ID_BYTES,
    DeadLetter,
    Event,
    InvalidMessage,
    Item,
    ItemVector,
    RankedItem,
    Ranking,
    Served,
    ServedItem,
    decode_served,
    encode_served_batch,
)


def event_payload(**overrides: object) -> bytes:
    payload = {
        "schema": 1,
        "event_id": "e1",
        "user_id": "u1",
        "type": "click",
        "item_id": "n1",
        "ts": 1_700_000_000_000,
    }
    payload.update(overrides)
    return msgpack.packb({k: v for k, v in payload.items() if v is not None})


def test_event_round_trip_keeps_every_field() -> None:
    event = Event("e1", "u1", "search", 5, text="football scores")
    assert Event.decode(event.encode()) == event


def test_unknown_fields_are_ignored() -> None:
    assert Event.decode(event_payload(referrer="newsletter")).user_id == "u1"


def test_numeric_ids_are_kept_as_text() -> None:
    decoded = Event.decode(event_payload(user_id=42, item_id=7))
    assert (decoded.user_id, decoded.item_id) == ("42", "7")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xc1\xff", "not valid msgpack"),
        (msgpack.packb([1, 2]), "not a map"),
        (event_payload(schema=None), "schema"),
        (event_payload(schema=99), "unsupported schema"),
        (event_payload(user_id=None), "missing required field 'user_id'"),
        (event_payload(user_id="x" * (MAX_ID_BYTES + 1)), "longer than 256 bytes"),
        (event_payload(type="purchase"), "field 'type'"),
        (event_payload(ts="yesterday"), "field 'ts' must be an integer"),
        (event_payload(item_id=None), "needs 'item_id'"),
        (event_payload(type="search", item_id=None), "needs 'text'"),
        (event_payload(user_id=["a"]), "must be a string"),
        (event_payload(ts=-5), "out of range"),
        (event_payload(ts=4_000_000_000_000), "in the future"),
    ],
)
def test_invalid_events_say_why(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        Event.decode(raw)


def test_item_text_joins_title_category_and_abstract() -> None:
    item = Item("n1", "Chiefs win", abstract="A late field goal.", category="sports")
    assert Item.decode(item.encode()) == item
    assert item.text() == "Chiefs win. sports. A late field goal."


def test_item_vector_travels_as_float16() -> None:
    vector = np.linspace(-1, 1, 384).astype(np.float32)
    raw = ItemVector("n1", vector, "minilm@abc", title="t").encode()
    decoded = ItemVector.decode(raw)
    assert len(msgpack.unpackb(raw)["vector"]) == 384 * 2
    np.testing.assert_allclose(decoded.vector, vector, atol=1e-3)


def test_item_vector_with_wrong_length_is_rejected() -> None:
    raw = msgpack.packb(
        {"schema": 1, "item_id": "n1", "vector": b"\0" * 10, "dim": 384, "encoder_version": "v"}
    )
    with pytest.raises(InvalidMessage, match="float16"):
        ItemVector.decode(raw)


def test_ranking_round_trip() -> None:
    ranking = Ranking("u1", [RankedItem("n2", 0.5, "because you liked X")], "dot@v", 10, "e1", 9)
    assert Ranking.decode(ranking.encode()) == ranking


def test_dead_letter_keeps_original_bytes() -> None:
    letter = DeadLetter("homefeed.events", "bad", b"\x00\x01", b"u1", 3, 17)
    assert DeadLetter.decode(letter.encode()) == letter


def served_entries(users: int, slots: int) -> list[Served]:
    rng = np.random.default_rng(0)
    features = ("similarity", "popularity", "trending", "recency")
    return [
        Served(
            f"user-{u}",
            [
                ServedItem(
                    f"item-{u}-{n}",
                    n,
                    float(np.float32(rng.random())),
                    float(np.float32(rng.random())),
                    "ann" if n % 3 else "trending",
                    "because you watched" if n % 2 else "",
                    # Slots differ in which features they have.
                    {name: float(np.float32(rng.random())) for name in features[: 2 + n % 3]},
                )
                for n in range(slots)
            ],
            "seq-abc" if u % 2 else "dot@v1",
            1_700_000_000_000 + u,
            f"event-{u}" if u else None,
            1_700_000_000_000 if u else None,
        )
        for u in range(users)
    ]


def test_a_served_batch_round_trips_every_entry() -> None:
    entries = served_entries(users=5, slots=7)
    assert decode_served(encode_served_batch(entries)) == entries
    assert decode_served(encode_served_batch([])) == []


def test_single_served_records_written_before_batches_still_decode() -> None:
    entry = served_entries(users=1, slots=3)[0]
    assert decode_served(entry.encode()) == [entry]


def test_a_served_batch_is_a_fraction_of_its_single_records() -> None:
    entries = served_entries(users=128, slots=20)
    singles = sum(len(entry.encode()) for entry in entries)
    assert len(encode_served_batch(entries)) < 0.5 * singles


def test_a_served_batch_whose_arrays_disagree_is_refused() -> None:
    payload = msgpack.unpackb(encode_served_batch(served_entries(users=2, slots=3)))
    payload["lengths"] = [3, 2]
    with pytest.raises((InvalidMessage, ValueError)):
        decode_served(msgpack.packb(payload))
