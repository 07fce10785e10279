from pathlib import Path

from indexer.datasets import load_dataset, rating_to_event_type
from tests.factories import SHARED_DATA, write_movielens


def test_generated_movielens_folder_loads_in_time_order(tmp_path: Path) -> None:
    folder = write_movielens(
        tmp_path,
        movies=[("1", "Heat (1995)", "Action|Crime"), ("2", "Up (2009)", "(no genres listed)")],
        ratings=[("7", "2", 4.5, 200), ("7", "1", 1.0, 100), ("8", "1", 3.0, 150)],
        tags=[("7", "1", "heist", 90), ("8", "1", "Heist", 91), ("8", "1", "pacino", 92)],
    )
    dataset = load_dataset(folder)
    heat, up = dataset.items
    assert heat.category == "Action, Crime" and heat.abstract == "heist, pacino"
    assert up.category is None
    assert [(e.user_id, e.item_id, e.type) for e in dataset.events] == [
        ("7", "1", "dislike"),
        ("8", "1", "view"),
        ("7", "2", "click"),
    ]
    assert dataset.events[0].ts == 100_000


def test_rating_thresholds() -> None:
    assert [rating_to_event_type(r) for r in (5.0, 4.0, 3.5, 2.5, 2.0, 0.5)] == [
        "click",
        "click",
        "view",
        "view",
        "dislike",
        "dislike",
    ]


def test_real_msn_sample_has_500_articles_with_categories() -> None:
    dataset = load_dataset(SHARED_DATA / "msn-news-sample")
    assert len(dataset.items) == 500
    assert sum(1 for item in dataset.items if item.category == "sports") == 28
    assert all(item.title for item in dataset.items)


def test_real_movielens_has_all_ratings() -> None:
    dataset = load_dataset(SHARED_DATA / "movielens-ml-latest-small")
    assert len(dataset.items) == 9742
    assert len(dataset.events) == 100_836
    timestamps = [e.ts for e in dataset.events]
    assert timestamps == sorted(timestamps)
