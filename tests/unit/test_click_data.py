from pathlib import Path

import numpy as np
import pytest

from ranker.model.features import ItemStats
from ranker.model.item_text import item_text, release_year
from ranker.training.data import TEST, TRAIN, VAL, load_movielens, make_split
from ranker.training.examples import build_examples
from ranker.training.histories import UserSequences
from tests.unit.click_factory import write_taste_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_taste_folder(tmp_path_factory.mktemp("ml"))


def test_item_text_drops_the_year_and_keeps_genres_and_tags() -> None:
    text = item_text("Heat (1995)", "Action, Crime", "pacino, heist")
    assert text == "Heat. Genres: Action, Crime. Tags: pacino, heist"
    assert release_year("Heat (1995)") == 1995.0
    assert np.isnan(release_year("Cosmos"))


def test_temporal_split_puts_the_newest_events_in_test(folder: Path) -> None:
    _, log = load_movielens(folder)
    split = make_split(log, "temporal")
    assert log.ts[split.roles == TRAIN].max() < log.ts[split.roles == VAL].min()
    assert log.ts[split.roles == VAL].max() < log.ts[split.roles == TEST].min()
    assert 0.05 < np.mean(split.roles == TEST) < 0.2


def test_leave_last_out_holds_out_each_users_last_two_events(folder: Path) -> None:
    _, log = load_movielens(folder)
    split = make_split(log, "leave-last-out")
    for positions in log.user_events():
        assert list(split.roles[positions][-2:]) == [VAL, TEST]
        assert set(split.roles[positions][:-2]) == {TRAIN}


def test_training_examples_know_only_the_past(folder: Path) -> None:
    catalog, log = load_movielens(folder)
    split = make_split(log, "temporal")
    sequences = UserSequences(log)
    examples = build_examples(catalog, log, split, negatives=3, seed=1, sequences=sequences)
    assert len(examples) > 50
    for row, position in enumerate(examples.positions):
        assert split.roles[position] == TRAIN
        event_ts = log.ts[position]
        history = examples.histories
        real = history.mask[row]
        # History: only the user's earlier interactions.
        assert np.all(history.age_days[row][real] >= 0)
        earlier_items = set(log.items[sequences.before(position)].tolist())
        assert set(history.items[row][real].tolist()) <= earlier_items
        # Negatives: never something the user had already touched, never the clicked item.
        negatives = examples.candidates[row, 1:]
        assert not set(negatives.tolist()) & (earlier_items | {int(log.items[position])})
        # Popularity feature: counts of strictly earlier training events only.
        stats = ItemStats.from_events(
            log, (split.roles == TRAIN) & (log.ts < event_ts), len(catalog)
        )
        expected = np.log1p(stats.popularity[examples.candidates[row]]) / 5.0
        np.testing.assert_allclose(examples.features[row, :, 0], expected, rtol=1e-5)


def test_validation_examples_read_counts_frozen_at_the_cut(folder: Path) -> None:
    catalog, log = load_movielens(folder)
    split = make_split(log, "temporal")
    examples = build_examples(catalog, log, split, role=VAL, negatives=5, popular_share=0.0)
    stats = ItemStats.from_events(log, split.roles == TRAIN, len(catalog))
    expected = np.log1p(stats.popularity[examples.candidates]) / 5.0
    np.testing.assert_allclose(examples.features[..., 0], expected, rtol=1e-5)
