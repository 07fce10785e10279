"""Thousands of malformed messages against a live worker (property-based).

Hypothesis builds payloads that are invalid by construction; each one must
reach dead-letter with a reason, the worker must survive, and the valid but
odd events mixed in (unknown ids, ancient timestamps, duplicate ids) must be
applied exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.admin import topic_size
from streams.kafka_connection import KafkaConnection
from streams.wire import MAX_ID_BYTES, MAX_TEXT_CHARS, DeadLetter, Event
from tests.factories import msn_items
from tests.live import (
    LiveEnv,
    fresh_env,
    produce,
    read_to_end,
    running_worker,
    user_states,
    wait_for,
)

pytestmark = pytest.mark.integration

VALID = {
    "schema": 1,
    "event_id": "e",
    "user_id": "u",
    "type": "click",
    "item_id": "i",
    "ts": 1_700_000_000_000,
}
REQUIRED = ("schema", "event_id", "user_id", "type", "ts", "item_id")
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what msgpack can carry
NOT_A_STRING = st.one_of(
    st.lists(INT64, max_size=2),
    st.floats(),
    st.booleans(),
    st.dictionaries(st.text(max_size=3), INT64, max_size=2),
)

random_bytes = st.binary(max_size=64).filter(lambda b: not b.startswith(b"\x80"))
truncated = st.integers(min_value=1, max_value=len(msgpack.packb(VALID)) - 1).map(
    lambda cut: msgpack.packb(VALID)[:cut]
)
not_a_map = st.one_of(INT64, st.text(max_size=20), st.lists(INT64, max_size=3)).map(msgpack.packb)
missing_field = st.sampled_from(REQUIRED).map(
    lambda name: msgpack.packb({k: v for k, v in VALID.items() if k != name})
)
wrong_type = st.tuples(
    st.sampled_from(["event_id", "user_id", "type", "item_id"]), NOT_A_STRING
).map(lambda pair: msgpack.packb({**VALID, pair[0]: pair[1]}))
wrong_ts = st.one_of(
    st.floats(),
    st.text(max_size=5),
    st.integers(min_value=-(2**63), max_value=-1),
    st.integers(min_value=10**14, max_value=2**53),
).map(lambda ts: msgpack.packb({**VALID, "ts": ts}))
huge = st.one_of(
    st.sampled_from(["event_id", "user_id", "item_id"]).map(
        lambda name: msgpack.packb({**VALID, name: "x" * (MAX_ID_BYTES + 1)})
    ),
    st.just(msgpack.packb({**VALID, "type": "search", "text": "y" * (MAX_TEXT_CHARS + 1)})),
)
MALFORMED = st.one_of(random_bytes, truncated, not_a_map, missing_field, wrong_type, wrong_ts, huge)


@pytest.fixture(scope="module")
def live(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEnv]:
    folder = tmp_path_factory.mktemp("bad-input")
    env = fresh_env(kafka_bootstrap, folder / "state")
    catalog = msn_items()[:50]
    with running_worker(env, folder / "worker.log") as worker:
        produce(
            kafka_bootstrap,
            env.topics.items,
            [(item.item_id.encode(), item.encode()) for item in catalog],
        )
        wait_for(
            lambda: (
                topic_size(KafkaConnection(kafka_bootstrap), env.topics.item_vectors)
                >= len(catalog)
            ),
            120,
            "item vectors",
        )
        yield env
        assert worker.poll() is None, "the worker crashed on bad input"


ROUND = iter(range(10**6))
# Each example is hundreds of messages through a live worker: few, repeatable examples.
LIVE_FUZZ = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)


def dead_letters_after(live: LiveEnv, before: int, malformed: list[bytes]) -> list[DeadLetter]:
    """Wait for one dead letter per malformed payload; check each original came back."""
    bootstrap = live.settings.bootstrap_servers
    wait_for(
        lambda: (
            topic_size(KafkaConnection(bootstrap), live.topics.dead_letter)
            >= before + len(malformed)
        ),
        120,
        f"{len(malformed)} dead letters",
    )
    letters = [
        DeadLetter.decode(value)
        for _, value in read_to_end(bootstrap, live.topics.dead_letter)[before:]
        if value
    ]
    assert Counter(letter.original for letter in letters) == Counter(malformed)
    return letters


@settings(LIVE_FUZZ, max_examples=3)
@given(malformed=st.lists(MALFORMED, min_size=600, max_size=800))
def test_every_malformed_event_is_dead_lettered_and_good_ones_still_count(
    live: LiveEnv, malformed: list[bytes]
) -> None:
    round_id = next(ROUND)
    bootstrap = live.settings.bootstrap_servers
    user = f"good-{round_id}"
    # Valid but odd: an unknown item, a 1970s timestamp, and the same event twice.
    good = [
        Event(f"{user}-a", user, "click", 5, item_id="no-such-item"),
        Event(f"{user}-b", user, "view", 1_000, item_id=msn_items()[0].item_id),
        Event(f"{user}-b", user, "view", 1_000, item_id=msn_items()[0].item_id),
    ]
    before = topic_size(KafkaConnection(bootstrap), live.topics.dead_letter)
    messages: list[tuple[bytes | None, bytes | None]] = [(b"fuzz", raw) for raw in malformed]
    for position, event in zip((0, len(messages) // 2, len(messages)), good, strict=True):
        messages.insert(position, (user.encode(), event.encode()))
    produce(bootstrap, live.topics.events, messages)

    letters = dead_letters_after(live, before, malformed)
    assert all(letter.reason and letter.source_topic == live.topics.events for letter in letters)
    wait_for(lambda: user in user_states(live), 60, "the good events around the bad ones")
    state = user_states(live)[user]
    assert (state.processed, state.duplicates) == (2, 1)
    print(f"{len(malformed)} malformed events dead-lettered, good events applied once")


VALID_ITEM = {"schema": 1, "item_id": "n1", "title": "A headline"}
MALFORMED_ITEM = st.one_of(
    random_bytes,
    not_a_map,
    st.sampled_from(["schema", "item_id", "title"]).map(
        lambda name: msgpack.packb({k: v for k, v in VALID_ITEM.items() if k != name})
    ),
    st.tuples(st.sampled_from(["item_id", "title", "abstract", "category"]), NOT_A_STRING).map(
        lambda pair: msgpack.packb({**VALID_ITEM, pair[0]: pair[1]})
    ),
    st.just(msgpack.packb({**VALID_ITEM, "title": "t" * (MAX_TEXT_CHARS + 1)})),
)


@settings(LIVE_FUZZ, max_examples=2)
@given(malformed=st.lists(MALFORMED_ITEM, min_size=300, max_size=400))
def test_every_malformed_item_is_dead_lettered_and_the_catalog_keeps_growing(
    live: LiveEnv, malformed: list[bytes]
) -> None:
    bootstrap = live.settings.bootstrap_servers
    good = msn_items()[100 + next(ROUND) % 300]
    before_letters = topic_size(KafkaConnection(bootstrap), live.topics.dead_letter)
    before_vectors = topic_size(KafkaConnection(bootstrap), live.topics.item_vectors)
    messages: list[tuple[bytes | None, bytes | None]] = [(b"fuzz", raw) for raw in malformed]
    messages.insert(len(messages) // 2, (good.item_id.encode(), good.encode()))
    produce(bootstrap, live.topics.items, messages)
    letters = dead_letters_after(live, before_letters, malformed)
    assert {letter.source_topic for letter in letters} == {live.topics.items}
    wait_for(
        lambda: topic_size(KafkaConnection(bootstrap), live.topics.item_vectors) > before_vectors,
        60,
        "the good item's vector",
    )
