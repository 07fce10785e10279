"""Item features: training and the live worker count with the same code, so they agree."""

import numpy as np

from ranker.model.features import ItemStats, LiveItemStats


def test_live_counts_equal_training_counts_for_the_same_events() -> None:
    rng = np.random.default_rng(3)
    items = rng.integers(0, 50, 2_000)
    seconds = np.sort(rng.integers(1_600_000_000, 1_700_000_000, 2_000))
    training = ItemStats(50)
    live = LiveItemStats()
    for item, ts in zip(items.tolist(), seconds.tolist(), strict=True):
        training.add(item, ts)
        live.add(f"item-{item}", ts * 1000)
    read_at = float(seconds[-1]) + 86_400.0
    rows = np.arange(50)
    expected = training.rows(rows, read_at)
    actual = live.rows([f"item-{row}" for row in rows.tolist()], read_at)
    for name, want, got in zip(
        ("popularity", "trending", "first seen"), expected, actual, strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=name)


def test_items_never_seen_live_read_as_new() -> None:
    live = LiveItemStats()
    live.add("known", 5_000)
    popularity, trending, first_ts = live.rows(["unknown", "known"], ts=10.0)
    assert popularity.tolist() == [0.0, 1.0] and trending[0] == 0.0
    assert np.isnan(first_ts[0]) and first_ts[1] == 5.0
    # A first interaction after the scored moment is not known at that moment.
    assert np.isnan(live.rows(["known"], ts=1.0)[2][0])


def test_live_stats_grow_past_their_first_capacity() -> None:
    live = LiveItemStats()
    for n in range(3_000):
        live.add(f"i{n}", 1_000 * n)
    popularity, _, first_ts = live.rows(["i0", "i2999"], ts=10_000.0)
    assert popularity.tolist() == [1.0, 1.0] and first_ts.tolist() == [0.0, 2999.0]
