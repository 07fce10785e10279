from ranker.state import UserState


def apply(
    state: UserState, event_id: str, kind: str = "click", item: str | None = "a", ts: int = 1
) -> bool:
    return state.apply(event_id, kind, item, ts, history_size=3, seen_size=4)


def test_duplicate_event_ids_change_nothing() -> None:
    state = UserState()
    assert apply(state, "e1")
    assert not apply(state, "e1")
    assert state.processed == 1
    assert state.duplicates == 1
    assert len(state.history) == 1


def test_history_and_seen_are_bounded_and_keep_the_newest() -> None:
    state = UserState()
    for n in range(6):
        apply(state, f"e{n}", item=f"i{n}", ts=n)
    assert [i.item_id for i in state.history] == ["i3", "i4", "i5"]
    assert state.seen == ["i2", "i3", "i4", "i5"]


def test_impressions_count_but_are_not_seen() -> None:
    state = UserState()
    apply(state, "e1", kind="impression", item="x")
    assert state.processed == 1
    assert state.seen_set() == set()
    assert state.history == []


def test_encode_round_trip() -> None:
    state = UserState()
    apply(state, "e1", item="a", ts=5)
    apply(state, "e2", kind="dislike", item="b", ts=6)
    restored = UserState.decode(state.encode())
    assert restored == state
    assert UserState.decode(None) == UserState()


def test_state_of_a_full_user_stays_small() -> None:
    state = UserState()
    for n in range(500):
        state.apply(
            f"event-{n:08d}",
            "click",
            f"item-{n:06d}",
            1_700_000_000_000 + n,
            history_size=50,
            seen_size=200,
        )
    assert len(state.encode()) < 6000


def test_redelivered_positions_are_duplicates_however_many() -> None:
    state = UserState()
    for offset in range(200):
        assert state.apply(
            f"e{offset}",
            "click",
            f"i{offset}",
            offset,
            history_size=50,
            seen_size=200,
            position=(3, offset),
        )
    # A crash replays the last 150 messages of the partition: none counts again.
    for offset in range(50, 200):
        assert not state.apply(
            f"e{offset}",
            "click",
            f"i{offset}",
            offset,
            history_size=50,
            seen_size=200,
            position=(3, offset),
        )
    assert state.processed == 200
    assert state.apply(
        "e200", "click", "i200", 200, history_size=50, seen_size=200, position=(3, 200)
    )
    assert UserState.decode(state.encode()).source_offset == 200
