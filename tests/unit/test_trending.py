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


def test_top_matches_a_full_scan_through_adds_removes_and_rebases() -> None:
    import random

    rng = random.Random(5)
    counter = TrendingCounter(half_life_s=60, max_items=400)
    ts = 0
    for step in range(20_000):
        ts += rng.randrange(0, 2_000)
        item = f"i{int(rng.paretovariate(1.2)) % 1_000}"
        if step % 997 == 0:
            counter.remove(item)
        else:
            counter.add(item, rng.choice(["click", "view"]), ts)
        if step % 1_000 == 0:
            scale = 2.0 ** (-(counter._latest_ms - (counter._reference_ms or 0)) / 60_000)
            full = sorted(counter._scores.items(), key=lambda e: -e[1])[:50]
            assert [i for i, _ in counter.top(50)] == [i for i, _ in full]
            assert [s for _, s in counter.top(50)] == [s * scale for _, s in full]
