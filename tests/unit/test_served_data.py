from pathlib import Path

import numpy as np

from ranker.training.data import TRAIN
from ranker.training.examples import build_examples
from ranker.training.served_data import replay_event_id, shown_before
from ranker.training.train import prepare
from streams.wire import Served, ServedItem
from tests.unit.click_factory import write_taste_folder


def served_list(user: str, source_event_id: str, items: list[str]) -> Served:
    return Served(
        user,
        [ServedItem(item, n, 0.5, 0.5, "ann", "", {}) for n, item in enumerate(items)],
        "dot@v",
        0,
        source_event_id,
        0,
    )


def test_clicks_see_the_homepage_served_just_before_and_skipped_items_become_negatives(
    tmp_path: Path,
) -> None:
    prepared = prepare(write_taste_folder(tmp_path / "ml"), "temporal")
    catalog, log_ = prepared.catalog, prepared.log
    user = 0
    positions = log_.user_events()[user]
    first, second, third = (int(p) for p in positions[:3])
    user_id = log_.user_ids[user]
    first_id = replay_event_id(user_id, catalog.item_ids[int(log_.items[first])])
    second_id = replay_event_id(user_id, catalog.item_ids[int(log_.items[second])])
    unseen = [
        i
        for i in catalog.item_ids
        if catalog.item_ids.index(i) not in {int(x) for x in log_.items[positions]}
    ]
    clicked_second = catalog.item_ids[int(log_.items[second])]
    served = [
        served_list(user_id, first_id, [*unseen[:3], clicked_second]),
        served_list(user_id, second_id, unseen[3:6]),
        served_list("nobody", "ml-nobody-1", unseen[:2]),
    ]
    shown = shown_before(served, catalog, log_)
    rows = [catalog.item_ids.index(i) for i in unseen[:6]]
    assert first not in shown  # nothing was shown before the user's first event
    assert shown[second] == [*rows[:3], int(log_.items[second])]
    assert shown[third] == rows[3:6]

    plain = build_examples(catalog, log_, prepared.split, role=TRAIN, negatives=4)
    fed = build_examples(catalog, log_, prepared.split, role=TRAIN, negatives=4, shown=shown)
    index = {int(p): n for n, p in enumerate(fed.positions)}
    assert np.array_equal(plain.positions, fed.positions)
    # The second event is a training click on the homepage shown before it: the
    # three items passed over there lead its negatives.
    negatives = fed.candidates[index[second], 1:].tolist()
    assert negatives[:3] == rows[:3] and len(set(negatives)) == 4
    assert fed.candidates[index[second], 0] == log_.items[second]
