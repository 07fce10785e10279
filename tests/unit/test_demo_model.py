"""The demo's model cache key: new data or a new budget trains again; nothing else does."""

from __future__ import annotations

from pathlib import Path

from streams.demo_model import cached_model, resolve_model, training_key
from tests.factories import write_movielens


def small_folder(folder: Path, rating: float) -> Path:
    return write_movielens(
        folder,
        movies=[("1", "Heat (1995)", "Action"), ("2", "Up (2009)", "Animation")],
        ratings=[("1", "1", rating, 10), ("1", "2", 4.0, 20)],
    )


def test_key_follows_the_data_and_the_budget(tmp_path: Path) -> None:
    first = small_folder(tmp_path / "a", 5.0)
    same = small_folder(tmp_path / "b", 5.0)
    changed = small_folder(tmp_path / "c", 3.0)
    assert training_key(first, 480) == training_key(same, 480)
    assert training_key(first, 480) != training_key(changed, 480)
    assert training_key(first, 480) != training_key(first, 120)


def test_a_cached_model_is_reused_without_training(tmp_path: Path) -> None:
    data = small_folder(tmp_path / "data", 5.0)
    models = tmp_path / "models"
    target = models / f"demo-{training_key(data, 60)}"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")
    assert cached_model(models, data, 60) == target
    assert resolve_model("dot-product", models, data, 60) is None
    assert resolve_model(str(target), models, data, 60) == target
