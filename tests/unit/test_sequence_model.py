"""The sequence model: training on a small generated folder, leak guards, artifacts, CLI."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ranker.model.sequence import (
    PAD,
    SequenceConfig,
    SequenceModel,
    prefix_text_profiles,
    text_profile,
)
from ranker.model.sequence_artifact import load_sequence_artifact, save_sequence_artifact
from ranker.model.sequence_input import SEQUENCE_EVENT_TYPES, History, Timeline, history_tensors
from ranker.training.data import EVENT_TYPES, HIDDEN, TEST, TRAIN, VAL
from ranker.training.item_texts import leak_free_texts
from ranker.training.sequence_batches import training_windows
from ranker.training.sequence_fit import (
    DENSE_DROPOUT,
    SPARSE_DROPOUT,
    default_dropout,
    training_timelines,
)
from ranker.training.sequence_train import (
    FULL_SOFTMAX_ITEMS,
    PROFILE_DECAY_GRID,
    SAMPLED_NEGATIVES,
    TEXT_BLEND_GRID,
    SequenceTrainConfig,
    blend_key,
    choose_text_blend,
    negatives_for,
    window_loss,
)
from ranker.training.train import prepare
from streams.cli import main
from tests.factories import write_movielens
from tests.unit.click_factory import write_taste_folder


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sequence")
    write_taste_folder(root / "ml", users=32)
    return root


@pytest.fixture(autouse=True)
def _state_dir(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEFEED_DATA_DIR", str(workspace / "var"))


@pytest.fixture(scope="module")
def trained(workspace: Path) -> Path:
    import os

    os.environ.setdefault("HOMEFEED_DATA_DIR", str(workspace / "var"))
    out = workspace / "seq-llo"
    assert (
        main(
            [
                "train",
                "--data",
                str(workspace / "ml"),
                "--out",
                str(out),
                "--protocol",
                "leave-last-out",
                "--device",
                "cpu",
                "--max-seconds",
                "60",
            ]
        )
        == 0
    )
    return out


def test_the_models_type_codes_are_the_training_logs() -> None:
    assert SEQUENCE_EVENT_TYPES == EVENT_TYPES


def test_windows_make_every_interaction_but_the_first_a_target_once() -> None:
    timeline = Timeline(np.arange(10), np.arange(10) * 60, np.zeros(10, dtype=np.int8))
    windows = training_windows([timeline], width=4)
    targets = [row for window in windows.rows for row in window[1:] if row != PAD]
    assert sorted(targets) == list(range(2, 11))  # rows are item + 1; item 0 is never a target


def test_history_tensors_give_gaps_to_the_previous_interaction() -> None:
    history = History.from_timelines(
        [Timeline(np.array([3, 4, 5]), np.array([100, 160, 400]), np.zeros(3, dtype=np.int8))],
        width=5,
    )
    rows, gaps, types = history_tensors(history, 5)
    assert rows.tolist() == [[PAD, PAD, 4, 5, 6]]
    assert gaps.tolist() == [[0, 0, 0, 60, 240]]
    assert types.tolist() == [[0, 0, 1, 1, 1]]


def test_the_loss_never_ranks_an_item_the_user_already_saw() -> None:
    torch.manual_seed(0)
    model = SequenceModel(SequenceConfig(items=6, dim=8, max_length=4, use_text=False)).eval()
    model.items.set_items(torch.zeros(6, 384), torch.ones(6, dtype=torch.bool))
    windows = torch.tensor([[1, 2, 3, 4, 5]])
    gaps, types = torch.zeros_like(windows), torch.ones_like(windows)
    with torch.no_grad():
        loss = float(window_loss(model, windows, gaps, types, None))
        vectors = model.items()
        logits = model.encode(windows[:, :-1], gaps[:, :-1], types[:, :-1], vectors)[0] @ vectors.T
    expected = []
    for position, target in enumerate([2, 3, 4, 5]):
        allowed = [row for row in range(1, 7) if row not in windows[0, : position + 1].tolist()]
        expected.append(
            float(torch.logsumexp(logits[position, allowed], 0) - logits[position, target])
        )
    assert loss == pytest.approx(float(np.mean(expected)), rel=1e-5)


def test_the_learned_text_term_reads_only_what_came_before_each_position() -> None:
    # Each training position's text query pools the prefix up to it: a later
    # item's text must not reach an earlier position's profile.
    torch.manual_seed(0)
    texts = torch.nn.functional.normalize(torch.randn(6, 384), dim=1)
    windows = torch.tensor([[1, 2, 3, 4]])
    types = torch.ones_like(windows)
    prefix = prefix_text_profiles(texts[windows], types)
    # The newest position's profile is the whole history's (what serving uses).
    torch.testing.assert_close(prefix[:, -1], text_profile(texts[windows], types))
    changed = texts.clone()
    changed[windows[0, 2]] = -changed[windows[0, 2]]
    later = prefix_text_profiles(changed[windows], types)
    torch.testing.assert_close(later[:, :2], prefix[:, :2])
    assert not torch.allclose(later[:, 2], prefix[:, 2])


def test_a_decayed_text_profile_leans_on_the_newest_interactions() -> None:
    torch.manual_seed(0)
    texts = torch.nn.functional.normalize(torch.randn(6, 384), dim=1)
    windows = torch.tensor([[0, 1, 2, 3, 4]])  # row 0 pads
    types = torch.tensor([[0, 1, 1, 1, 1]])
    for decay in (1.0, 0.5):
        whole = text_profile(texts[windows], types, decay)
        prefixes = prefix_text_profiles(texts[windows], types, decay)
        torch.testing.assert_close(prefixes[:, -1], whole)  # training and serving agree
        # by hand: newest counts 1, the one before decay, then decay ** 2 ...
        expected = torch.stack(
            [decay**age * texts[row] for age, row in enumerate((4, 3, 2, 1))]
        ).sum(0)
        torch.testing.assert_close(whole[0], torch.nn.functional.normalize(expected, dim=0))
    newest, oldest = texts[4], texts[1]
    decayed = text_profile(texts[windows], types, 0.3)[0]
    plain = text_profile(texts[windows], types)[0]
    assert decayed @ newest > plain @ newest and decayed @ oldest < plain @ oldest


def test_the_learned_text_term_starts_at_the_profile_cosine_and_trains() -> None:
    torch.manual_seed(0)
    model = SequenceModel(SequenceConfig(items=6, dim=8, max_length=4, text_query=True))
    model.items.set_items(
        torch.nn.functional.normalize(torch.randn(6, 384), dim=1), torch.ones(6, dtype=torch.bool)
    )
    windows = torch.tensor([[1, 2, 3, 4, 5]])
    gaps, types = torch.zeros_like(windows), torch.ones_like(windows)
    hidden = torch.randn(2, 8)
    profiles = torch.nn.functional.normalize(torch.randn(2, 384), dim=1)
    torch.testing.assert_close(model.text_queries(hidden, profiles), profiles)
    window_loss(model, windows, gaps, types, None).backward()
    assert model.text_weight is not None and model.text_weight.grad is not None
    assert float(model.text_weight.grad.abs()) > 0
    assert model.text_query is not None and model.text_query.weight.grad is not None
    assert float(model.text_query.weight.grad.abs().sum()) > 0


def test_items_no_training_sequence_holds_are_left_out_of_the_training_softmax() -> None:
    # Under new-items they are the held-out items: pushing them down as never
    # clicked would teach the model to bury what it must later rank from text.
    torch.manual_seed(0)
    model = SequenceModel(SequenceConfig(items=6, dim=8, max_length=4)).eval()
    text = torch.randn(6, 384)
    model.items.set_items(text, torch.tensor([True] * 5 + [False]))
    windows = torch.tensor([[1, 2, 3, 4, 5]])
    gaps, types = torch.zeros_like(windows), torch.ones_like(windows)
    with torch.no_grad():
        before = float(window_loss(model, windows, gaps, types, None))
        model.items.text[6] = 50.0 * torch.randn(384)  # the unseen item's text
        after = float(window_loss(model, windows, gaps, types, None))
        model.items.text[5] = 50.0 * torch.randn(384)  # a trained item's text
        changed = float(window_loss(model, windows, gaps, types, None))
    assert after == pytest.approx(before, rel=1e-6)
    assert changed != pytest.approx(before, rel=1e-3)


def test_items_without_training_interactions_are_scored_from_text_alone() -> None:
    model = SequenceModel(SequenceConfig(items=3, dim=8, max_length=4))
    model.items.set_items(torch.randn(3, 384), torch.tensor([True, True, False]))
    before = model.items().detach().clone()
    with torch.no_grad():
        model.items.ids.weight[3] += 100.0  # the id row of the item with no interactions
        model.items.ids.weight[1] += 1.0
    after = model.items().detach()
    assert torch.equal(before[3], after[3])
    assert not torch.equal(before[1], after[1])


def test_an_item_without_an_id_row_gets_the_learned_missing_id_vector() -> None:
    model = SequenceModel(SequenceConfig(items=3, dim=8, max_length=4))
    text = torch.randn(3, 384)
    model.items.set_items(text, torch.tensor([True, True, False]))
    assert model.items.missing_id is not None
    with torch.no_grad():
        model.items.missing_id.add_(1.0)
        vectors = model.items(id_keep=torch.tensor([True, False, True, True]))
        text_path = model.items.text_projection(text)
    # never trained (row 3) and dropped this step (row 1): text + the missing-id row
    for row in (1, 3):
        assert torch.allclose(vectors[row], text_path[row - 1] + 1.0)
    assert torch.allclose(vectors[2], text_path[1] + model.items.ids.weight[2])
    # what a live worker gives an item it first meets after training
    with torch.no_grad():
        assert torch.allclose(model.items.text_only(text[2:]), vectors[3:])


def test_configs_saved_before_the_missing_id_row_load_without_one() -> None:
    saved = SequenceConfig(items=3, dim=8).to_dict()
    del saved["missing_id_row"]
    config = SequenceConfig.from_dict(saved)
    assert config.missing_id_row is False
    assert SequenceModel(config).items.missing_id is None


def test_tags_written_after_their_authors_held_out_moment_never_reach_the_text(
    tmp_path: Path,
) -> None:
    movies = [
        ("1", "Alien (1979)", "Horror"),
        ("2", "Heat (1995)", "Action"),
        ("3", "Big (1988)", "Comedy"),
    ]
    ratings = [
        ("7", "1", 5.0, 100),
        ("7", "2", 5.0, 200),
        ("7", "3", 5.0, 300),
        ("8", "3", 5.0, 110),
        ("8", "1", 5.0, 210),
        ("8", "2", 5.0, 310),
    ]
    tags = [
        ("7", "3", "before my test", 150),  # user 7 is held out from t=200 on
        ("7", "3", "after my validation", 250),
        ("8", "3", "another user later", 400),
    ]  # user 8: held out from 210
    folder = write_movielens(tmp_path / "ml", movies=movies, ratings=ratings, tags=tags)
    prepared = prepare(folder, "leave-last-out")
    texts = leak_free_texts(folder, prepared.catalog, prepared.log, prepared.split)
    big = texts[prepared.catalog.item_ids.index("3")]
    assert "before my test" in big
    assert "after my validation" not in big
    assert "another user later" not in big  # user 8 wrote it after their own held-out moment
    assert prepared.catalog.texts == texts  # every ranker reads the leak-free texts


def test_new_items_are_in_no_training_sequence_and_only_they_are_scored(workspace: Path) -> None:
    from ranker.eval.evaluate import build_eval_set

    prepared = prepare(workspace / "ml", "new-items")
    split, log_ = prepared.split, prepared.log
    assert split.new_items is not None and 0 < split.new_items.sum() < len(prepared.catalog)
    on_new = split.new_items[log_.items]
    assert set(split.roles[on_new].tolist()) <= {TEST, HIDDEN}
    assert not on_new[split.roles == TRAIN].any() and not on_new[split.roles == VAL].any()
    trained_items = {int(i) for t in training_timelines(prepared) for i in t.items}
    assert not trained_items & set(np.flatnonzero(split.new_items).tolist())
    eval_set = build_eval_set(prepared, list_negatives=5)
    assert len(eval_set) and split.new_items[eval_set.targets].all()
    assert (eval_set.stats.popularity[split.new_items] == 0).all()


def test_training_learns_taste_and_beats_popularity(workspace: Path, trained: Path) -> None:
    report_path = workspace / "eval.json"
    assert (
        main(
            [
                "eval",
                "--data",
                str(workspace / "ml"),
                "--model",
                str(trained),
                "--protocol",
                "leave-last-out",
                "--list-negatives",
                "20",
                "--rankers",
                "model,popularity",
                "--out",
                str(report_path),
            ]
        )
        == 0
    )
    models = json.loads(report_path.read_text())["models"]
    assert models["model"]["hit@10"] >= models["popularity"]["hit@10"] + 0.1
    assert models["model"]["full_ndcg@10"] > models["popularity"]["full_ndcg@10"]


def test_training_chooses_the_text_blend_on_validation_and_saves_it(trained: Path) -> None:
    config = json.loads((trained / "config.json").read_text())
    report = config["report"]
    tried = report["text_blend_val_ndcg10"]
    # every weight with the plain mean profile, every non-zero weight with each decay
    decays = len(PROFILE_DECAY_GRID)
    assert len(tried) == len(TEXT_BLEND_GRID) * decays - (decays - 1) and "0" in tried
    best = max(tried.values())
    chosen = config["model"]["text_blend"]
    decay = config["model"]["profile_decay"]
    assert (chosen, decay) == (report["text_blend"], report["profile_decay"])
    assert tried[blend_key(chosen, decay)] == best  # the pair validation liked best
    # an id-only model keeps no text term: it stays a plain SASRec
    ids_only = SequenceModel(SequenceConfig(items=3, dim=8, max_length=4, use_text=False))
    assert choose_text_blend(ids_only, None, [], np.array([])) == {}  # type: ignore[arg-type]
    assert ids_only.config.text_blend == 0.0


def test_the_artifact_round_trips_and_a_corrupt_one_is_refused(
    trained: Path, tmp_path: Path
) -> None:
    artifact = load_sequence_artifact(trained)
    assert artifact.model_version.startswith("seq-")
    copy = tmp_path / "copy"
    version = save_sequence_artifact(
        artifact.model,
        artifact.item_ids,
        artifact.text_encoder_version,
        copy,
        {"train": artifact.config["train"]},
    )
    assert load_sequence_artifact(copy).model_version == version
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match its manifest"):
        load_sequence_artifact(copy)


def test_recommend_exports_the_sequence_models_lists(workspace: Path, trained: Path) -> None:
    out = workspace / "recs.jsonl"
    assert (
        main(
            [
                "recommend",
                "--data",
                str(workspace / "ml"),
                "--model",
                str(trained),
                "--protocol",
                "leave-last-out",
                "--k",
                "5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 32 and all(len(line["items"]) == 5 for line in lines)


def test_ablation_trains_variants_per_seed_beside_the_baselines(workspace: Path) -> None:
    out = workspace / "ablation.json"
    assert (
        main(
            [
                "eval",
                "--ablation",
                "--data",
                str(workspace / "ml"),
                "--protocol",
                "leave-last-out",
                "--seeds",
                "0,1",
                "--variants",
                "ids,text",
                "--rankers",
                "popularity",
                "--max-seconds",
                "6",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    # the text model is also ranked without its validation-chosen text blend
    assert set(report["models"]) == {
        "popularity",
        "id_only",
        "text_only",
        "text_only_without_blend",
    }
    assert len(report["per_seed"]["id_only"]) == 2
    assert report["text_blends"]["id_only"] == [0.0, 0.0]
    assert len(report["text_blends"]["text_only"]) == 2
    assert report["spread"]["id_only"]["hit@10"] >= 0.0


def test_bad_seeds_are_one_line_and_status_2(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(
            [
                "eval",
                "--ablation",
                "--data",
                str(workspace / "ml"),
                "--seeds",
                "a,b",
                "--out",
                str(workspace / "x.json"),
            ]
        )
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "homefeed: --seeds: expected comma-separated integers, got 'a,b'"
    )


def test_the_default_softmax_is_full_for_catalogs_up_to_20k_items_and_sampled_above() -> None:
    default = SequenceTrainConfig().negatives
    assert negatives_for(default, 9_742) == 0
    assert negatives_for(default, FULL_SOFTMAX_ITEMS) == 0
    assert negatives_for(default, FULL_SOFTMAX_ITEMS + 1) == SAMPLED_NEGATIVES
    assert negatives_for(512, 10_000) == 512
    assert negatives_for(50_000, 10_000) == 0  # more than the catalog: all of it


def test_short_training_sequences_get_the_sparse_dropout_and_training_saves_it(
    workspace: Path, trained: Path
) -> None:
    def timelines(*lengths: int) -> list[Timeline]:
        return [Timeline(np.arange(n), np.arange(n), np.zeros(n, dtype=np.int8)) for n in lengths]

    assert default_dropout(timelines(3, 4, 5, 200)) == SPARSE_DROPOUT  # median 4.5
    assert default_dropout(timelines(40, 70, 90)) == DENSE_DROPOUT
    assert default_dropout([]) == DENSE_DROPOUT
    saved = json.loads((trained / "config.json").read_text())["model"]["dropout"]
    prepared = prepare(workspace / "ml", "leave-last-out")
    assert saved == default_dropout(training_timelines(prepared))


def test_the_weight_average_follows_the_weights_and_swaps_back_exactly() -> None:
    from ranker.training.sequence_train import WeightAverage

    layer = torch.nn.Linear(3, 2)
    start = [p.detach().clone() for p in layer.parameters()]
    average = WeightAverage(layer, 0.9)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(1.0)  # a step moves every weight by one
    average.update()
    # The first update's decay is (1 + 1) / (10 + 1), not 0.9: the average
    # leaves the random start quickly.
    decay = 2 / 11
    raw = [p.detach().clone() for p in layer.parameters()]
    average.swap()
    for p, s in zip(layer.parameters(), start, strict=True):
        torch.testing.assert_close(p.detach(), s + (1 - decay))
    average.swap()
    for p, r in zip(layer.parameters(), raw, strict=True):
        assert torch.equal(p.detach(), r)
    with pytest.raises(ValueError, match="weight_average"):
        WeightAverage(layer, 1.0)


def test_a_sparse_log_keeps_one_model_for_the_whole_budget(trained: Path) -> None:
    # The taste folder's median user has 14 training interactions: one model,
    # not an ensemble sharing the budget (ranker.training.sequence_fit).
    config = json.loads((trained / "config.json").read_text())
    assert config["report"]["members"] == 1
    assert config["model"]["members"] == 1
    assert load_sequence_artifact(trained).model.__class__ is SequenceModel
