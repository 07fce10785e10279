"""Tuning MiniLM's top layer (or adapters on it) inside sequence training."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from transformers import BertConfig, BertModel

from ranker.model.click_model import ItemTower
from ranker.model.item_encoding import LowerStates
from ranker.model.sequence import PAD, SequenceConfig, SequenceModel
from ranker.model.sequence_artifact import load_sequence_artifact, save_sequence_artifact
from ranker.model.sequence_input import SEQUENCE_EVENT_TYPES, History, Timeline
from ranker.model.sequence_live import LiveSequenceModel
from ranker.state import Interaction
from ranker.training.sequence_train import catalog_scores
from ranker.training.text_tuning import LowRankAdapted, TextTuner, add_adapters
from tests.unit.click_factory import write_taste_folder

HIDDEN = 16


def tiny_tower() -> ItemTower:
    """A two-layer random BERT (pure-logic tests; the training test uses MiniLM)."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return ItemTower(BertModel(config, add_pooling_layer=False), trainable_layers=1)


def lower_states(items: int, tokens: int = 5) -> LowerStates:
    generator = torch.Generator().manual_seed(1)
    mask = torch.ones(items, tokens, dtype=torch.int64)
    mask[:, 3:] = torch.randint(0, 2, (items, tokens - 3), generator=generator).cummin(1).values
    states = torch.randn(items, tokens, HIDDEN, generator=generator).half()
    return LowerStates(states, mask)


def test_adapters_start_as_the_pretrained_layer_and_train_only_themselves() -> None:
    tower = tiny_tower()
    layer = tower.bert.encoder.layer[tower.split_at]
    lower = lower_states(6)
    states, mask = lower.batch(torch.arange(6), torch.device("cpu"))
    before = tower.upper(states, mask, pretrained_only=True).detach()
    pretrained = copy.deepcopy(layer.state_dict())
    add_adapters(layer, rank=2)
    adapters = [m for m in layer.modules() if isinstance(m, LowRankAdapted)]
    assert len(adapters) == 6
    torch.testing.assert_close(tower.upper(states, mask, pretrained_only=True), before)
    trainable = {name for name, p in layer.named_parameters() if p.requires_grad}
    assert trainable and all(name.endswith((".down", ".up")) for name in trainable)
    optimizer = torch.optim.SGD([p for p in layer.parameters() if p.requires_grad], lr=0.5)
    tower.upper(states, mask, pretrained_only=True)[:, 0].sum().backward()
    optimizer.step()
    after = tower.upper(states, mask, pretrained_only=True).detach()
    assert float((after - before).abs().max()) > 1e-4
    for name, value in pretrained.items():
        adapted = name.replace(".weight", ".base.weight").replace(".bias", ".base.bias")
        current = layer.state_dict().get(name, layer.state_dict().get(adapted))
        assert current is not None, name
        torch.testing.assert_close(current, value)


def test_a_step_re_encodes_a_sample_of_its_batch_items_and_keeps_the_rest() -> None:
    tower = tiny_tower()
    items = 12
    tuner = TextTuner(tower, lower_states(items), "top-layer", rows_per_step=3)
    stale = torch.nn.functional.normalize(torch.randn(items + 1, HIDDEN), dim=1)
    stale[PAD] = 0.0
    batch = torch.tensor([[PAD, 2, 5, 7], [PAD, PAD, 9, 11]])
    table = tuner.step_table(stale, batch, np.random.default_rng(0))
    changed = (table - stale).abs().sum(1) > 1e-6
    assert int(changed.sum()) == 3
    assert set(torch.nonzero(changed).flatten().tolist()) <= {2, 5, 7, 9, 11}
    table.sum().backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in tuner.parameters())


def test_a_tuned_model_serves_its_trained_items_with_its_tuned_text(tmp_path: Path) -> None:
    """Live scores are the offline ones though the replica holds pretrained vectors."""
    torch.manual_seed(3)
    items = 20
    config = SequenceConfig(
        items=items, text_dim=8, dim=8, max_length=10, text_tuning="lora", text_blend=2.0
    )
    model = SequenceModel(config)
    tuned = torch.nn.functional.normalize(torch.randn(items, 8), dim=1)
    model.items.set_items(tuned, torch.ones(items, dtype=torch.bool))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.3)
    item_ids = [f"m{n}" for n in range(items)]
    save_sequence_artifact(model.eval(), item_ids, "test-encoder", tmp_path, {})
    live = LiveSequenceModel(load_sequence_artifact(tmp_path))
    pretrained = torch.nn.functional.normalize(tuned + 0.5 * torch.randn(items, 8), dim=1)
    live.upsert(item_ids, pretrained.numpy())
    rng = np.random.default_rng(0)
    timelines = [
        Timeline(
            rng.choice(items, 4, replace=False).astype(np.int64),
            np.arange(4, dtype=np.int64) * 60,
            np.zeros(4, dtype=np.int8),
        )
        for _ in range(3)
    ]
    users = live.user_vectors(
        [
            [
                Interaction(item_ids[int(row)], SEQUENCE_EVENT_TYPES[0], int(ts) * 1000)
                for row, ts in zip(t.items, t.ts, strict=True)
            ]
            for t in timelines
        ]
    )
    live_scores = users.vectors @ live.index.vectors_at(live.index.rows(item_ids)).T
    offline = catalog_scores(model, History.from_timelines(timelines, 4))
    np.testing.assert_allclose(live_scores, offline, rtol=1e-4, atol=1e-4)


def test_training_tunes_the_text_vectors_of_minilm(tmp_path: Path) -> None:
    """A short training with real MiniLM weights moves the catalog's text vectors and learns."""
    from ranker.training.sequence_fit import text_vectors, train_and_save
    from ranker.training.sequence_train import SequenceTrainConfig
    from ranker.training.train import prepare

    prepared = prepare(write_taste_folder(tmp_path / "taste"), "leave-last-out")
    variant = "lora"
    _, report = train_and_save(
        prepared,
        tmp_path / "model",
        variant=variant,
        train_config=SequenceTrainConfig(max_seconds=8, patience=30, negatives=0, members=1),
        cache_dir=tmp_path / "cache",
        data_facts={},
        device="cpu",
    )
    artifact = load_sequence_artifact(tmp_path / "model")
    assert artifact.model.config.text_tuning == variant
    tuned = artifact.model.text_table()[1:]
    pretrained = torch.from_numpy(
        text_vectors(list(prepared.catalog.texts), tmp_path / "cache", "cpu").vectors
    )
    torch.testing.assert_close(tuned.norm(dim=1), torch.ones(len(tuned)), atol=1e-3, rtol=0)
    moved = 1.0 - (tuned * pretrained).sum(1)
    assert float(moved.mean()) > 1e-4, "tuning left the text vectors where they started"
    assert float(moved.max()) < 0.5, "tuning threw the text vectors far from the encoder's"
    # Each user loves one genre: a learning model ranks their held-out movie high.
    assert report.best_val_ndcg10 > 0.5
