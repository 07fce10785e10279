from ranker.trending import TrendingCounter

HOUR_MS = 3600 * 1000


def test_recent_clicks_outrank_old_ones() -> None:
    counter = TrendingCounter(half_life_s=3600)
    for _ in range(4):
        counter.add("old", "click", 0)
    for _ in range(3):
        counter.add("new", "click", 5 * HOUR_MS)
    assert [item for item, _ in counter.top(2)] == ["new", "old"]
    scores = dict(counter.top(2))
    assert abs(scores["old"] - 4 / 32) < 1e-9  # five half-lives later


def test_dislikes_do_not_count() -> None:
    counter = TrendingCounter(half_life_s=3600)
    counter.add("a", "dislike", 0)
    assert counter.top(5) == []


def test_long_replays_rebase_without_overflow() -> None:
    counter = TrendingCounter(half_life_s=1)
    for step in range(200):
        counter.add("a", "click", step * 1000)
    ((item, score),) = counter.top(1)
    assert item == "a" and 1.9 < score < 2.1  # geometric series 1 + 1/2 + 1/4 ...


def test_size_is_bounded() -> None:
    counter = TrendingCounter(half_life_s=3600, max_items=10)
    for n in range(100):
        counter.add(f"i{n}", "click", n)
    assert len(counter) <= 20
    assert counter.top(1)[0][0] == "i99"
