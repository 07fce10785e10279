"""Ensembles of sequence models: the sum of the members, offline, saved and live."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from ranker.model.sequence import SequenceConfig, SequenceModel
from ranker.model.sequence_artifact import load_sequence_artifact, save_sequence_artifact
from ranker.model.sequence_ensemble import SequenceEnsemble, build_sequence_model
from ranker.model.sequence_input import SEQUENCE_EVENT_TYPES, History, Timeline
from ranker.model.sequence_live import LiveSequenceModel
from ranker.state import Interaction
from ranker.training.sequence_train import AUTO, catalog_scores, members_for

ITEMS = 30


def member(seed: int) -> SequenceModel:
    torch.manual_seed(seed)
    model = SequenceModel(SequenceConfig(items=ITEMS, text_dim=16, dim=8, max_length=10))
    texts = torch.nn.functional.normalize(
        torch.randn(ITEMS, 16, generator=torch.Generator().manual_seed(7)), dim=1
    )
    has_id = torch.ones(ITEMS, dtype=torch.bool)
    has_id[-3:] = False  # three items known by their text only
    model.items.set_items(texts, has_id)
    with torch.no_grad():  # trained-looking weights: far from the small initial ones
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.3)
    return model.eval()


def histories(rows: int = 6) -> History:
    rng = np.random.default_rng(0)
    return History.from_timelines(
        [
            Timeline(
                rng.choice(ITEMS, 5, replace=False).astype(np.int64),
                np.sort(rng.integers(0, 10**6, 5)).astype(np.int64),
                rng.integers(0, len(SEQUENCE_EVENT_TYPES), 5).astype(np.int8),
            )
            for _ in range(rows)
        ],
        5,
    )


def test_an_ensemble_scores_every_item_by_the_sum_of_its_members() -> None:
    members = [member(1), member(2), member(3)]
    ensemble = SequenceEnsemble.of(members)
    history = histories()
    summed = sum(catalog_scores(m, history) for m in members)
    np.testing.assert_allclose(catalog_scores(ensemble, history), summed, rtol=1e-4, atol=1e-4)
    assert ensemble.config.vector_dim == 3 * 8
    # Members differ, so the sum is not any one of them rescaled.
    assert not np.allclose(catalog_scores(members[0], history) * 3, summed, atol=1e-3)


def test_an_ensemble_survives_its_artifact_and_serves_live_what_it_scores(
    tmp_path: Path,
) -> None:
    ensemble = SequenceEnsemble.of([member(1), member(2)])
    ensemble.config = replace(ensemble.config, text_blend=1.5, profile_decay=0.4)
    item_ids = [f"m{n}" for n in range(ITEMS)]
    save_sequence_artifact(ensemble, item_ids, "test-encoder", tmp_path, {})
    loaded = load_sequence_artifact(tmp_path)
    assert isinstance(loaded.model, SequenceEnsemble)
    history = histories()
    np.testing.assert_allclose(
        catalog_scores(loaded.model, history), catalog_scores(ensemble, history), atol=1e-5
    )
    live = LiveSequenceModel(loaded)
    live.upsert(item_ids, loaded.model.items.text[1:].numpy())
    assert live.dim == 2 * 8 + 16
    users = live.user_vectors(
        [
            [
                Interaction(
                    item_ids[int(row) - 1], SEQUENCE_EVENT_TYPES[int(kind) - 1], int(ts) * 1000
                )
                for row, ts, kind in zip(
                    history.rows[n], history.ts[n], history.types[n], strict=True
                )
                if row
            ]
            for n in range(len(history))
        ]
    )
    live_scores = users.vectors @ live.index.vectors_at(live.index.rows(item_ids)).T
    np.testing.assert_allclose(live_scores, catalog_scores(ensemble, history), rtol=1e-4, atol=1e-4)


def test_a_text_only_item_gets_the_members_text_paths_side_by_side() -> None:
    members = [member(1), member(2)]
    ensemble = SequenceEnsemble.of(members)
    texts = ensemble.items.text[-3:]
    with torch.no_grad():
        together = ensemble.items.text_only(texts)
        apart = torch.cat([m.items.text_only(texts) for m in members], dim=1)
    torch.testing.assert_close(together, apart)


def test_one_member_is_a_plain_model_and_a_member_config_is_refused_by_it() -> None:
    config = SequenceConfig(items=ITEMS, dim=8, text_dim=16)
    assert isinstance(build_sequence_model(config), SequenceModel)
    assert isinstance(build_sequence_model(replace(config, members=2)), SequenceEnsemble)
    with pytest.raises(ValueError, match="one member"):
        SequenceModel(replace(config, members=2))


@pytest.mark.parametrize(
    ("setting", "epoch_s", "budget_s", "expected"),
    [
        (AUTO, 8.0, 480.0, 3),  # MovieLens-like: 20 epochs each for three
        (AUTO, 12.0, 480.0, 2),
        (AUTO, 20.0, 480.0, 1),  # Amazon-like: one model keeps the budget
        (AUTO, 0.01, 480.0, 3),  # never more than MAX_MEMBERS
        (AUTO, 600.0, 480.0, 1),  # never fewer than one
        (2, 600.0, 480.0, 2),  # an explicit count is kept
    ],
)
def test_members_follow_how_many_get_their_epochs_within_the_budget(
    setting: int, epoch_s: float, budget_s: float, expected: int
) -> None:
    assert members_for(setting, epoch_s, budget_s) == expected


def test_copying_members_in_keeps_them_independent() -> None:
    first = member(1)
    ensemble = SequenceEnsemble.of([first, copy.deepcopy(first)])
    with torch.no_grad():
        first.items.ids.weight.zero_()
    assert float(ensemble._models[0].items.ids.weight.detach().abs().sum()) > 0
