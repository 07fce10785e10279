import json
from pathlib import Path

import numpy as np
import pytest

from ranker.model.artifacts import ClickPredictor, save_artifact
from ranker.model.click_model import ClickModelConfig
from ranker.model.features import FEATURE_NAMES
from ranker.model.item_text import item_text
from ranker.training.train import TrainConfig, prepare, train_click_model
from tests.unit.click_factory import write_taste_folder

TINY = TrainConfig(
    epochs=2,
    examples_per_epoch=192,
    batch_size=32,
    negatives=3,
    val_lists=200,
    patience=2,
    threads=1,
    device="cpu",
)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_taste_folder(tmp_path_factory.mktemp("ml"))
    prepared = prepare(folder, "temporal")
    model, report, _ = train_click_model(
        prepared,
        ClickModelConfig(max_text_tokens=24),
        TINY,
        cache_dir=tmp_path_factory.mktemp("cache"),
        progress=False,
    )
    assert report.epochs_run >= 1 and report.train_examples > 0
    from transformers import AutoTokenizer

    from indexer.encoder import default_model_dir

    out = tmp_path_factory.mktemp("model")
    save_artifact(
        model,
        AutoTokenizer.from_pretrained(default_model_dir()),
        out,
        {"train": {"protocol": "temporal"}, "report": report.to_dict()},
    )
    return out


def test_training_learns_which_items_users_click(tmp_path: Path) -> None:
    folder = write_taste_folder(tmp_path / "ml")
    prepared = prepare(folder, "temporal")
    # No head warm-up: every step goes through the fine-tuned BERT layer.
    config = TrainConfig(
        epochs=2,
        examples_per_epoch=192,
        batch_size=32,
        negatives=3,
        warmup_passes=0,
        val_lists=200,
        val_negatives=20,
        patience=3,
        threads=1,
        device="cpu",
    )
    _, report, _ = train_click_model(
        prepared,
        ClickModelConfig(max_text_tokens=24),
        config,
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    assert report.train_loss[-1] < 0.7 * report.train_loss[0]
    assert report.best_val_ndcg10 > 0.6  # 1 clicked among 21 candidates: chance is ~0.2


def test_scorer_prefers_the_users_genre(artifact: Path) -> None:
    scorer = ClickPredictor.load(artifact)
    assert scorer.model_version.startswith("click-")
    texts = [item_text(f"The ghost horror tale {n}", "Horror", None) for n in range(4)]
    texts += [
        item_text("The laughs comedy tale 20", "Comedy", None),
        item_text("The ghost horror tale 21", "Horror", None),
    ]
    vectors = scorer.item_vectors(texts)
    assert vectors.shape == (6, scorer.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    history = vectors[None, :4]
    features = np.zeros((1, 2, len(FEATURE_NAMES)), dtype=np.float32)
    features[0, 1, 4] = 1.0  # genre affinity: the horror candidate matches the history
    probabilities = scorer.score(
        history,
        np.ones((1, 4)),
        np.arange(4)[None, ::-1] * 1.0,
        np.ones((1, 4), bool),
        vectors[4:][None],
        features,
    )
    assert probabilities.shape == (1, 2)
    assert np.all((probabilities > 0) & (probabilities < 1))
    assert probabilities[0, 1] > probabilities[0, 0]


def test_scorer_batches_users_and_shares_candidates(artifact: Path) -> None:
    scorer = ClickPredictor.load(artifact)
    vectors = scorer.item_vectors([f"Item {n}. Genres: Drama" for n in range(5)])
    history = np.zeros((2, 3, scorer.dim), dtype=np.float32)
    history[0, :2] = vectors[:2]
    history[1, :1] = vectors[2:3]
    mask = np.array([[True, True, False], [True, False, False]])
    features = np.zeros((2, 2, len(scorer.feature_names)), dtype=np.float32)
    shared = scorer.score(history, mask * 1.0, np.zeros((2, 3)), mask, vectors[3:], features)
    per_user = scorer.score(
        history, mask * 1.0, np.zeros((2, 3)), mask, np.stack([vectors[3:], vectors[3:]]), features
    )
    np.testing.assert_allclose(shared, per_user, rtol=1e-5)


def test_loader_refuses_a_corrupt_weight_file(artifact: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in artifact.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    ClickPredictor.load(copy)  # an exact copy loads
    weights = bytearray((copy / "model.safetensors").read_bytes())
    weights[-10] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(weights))
    with pytest.raises(ValueError, match="model.safetensors does not match"):
        ClickPredictor.load(copy)


def test_loader_refuses_a_config_that_does_not_fit_the_weights(
    artifact: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in artifact.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    config = json.loads((copy / "config.json").read_text())
    config["model"]["heads"] = 3
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not match"):
        ClickPredictor.load(copy)
    # Re-signing the edited config still fails: the weights do not fit it.
    from indexer.checksums import sha256_file

    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["config.json"] = sha256_file(copy / "config.json")
    import hashlib

    digest = hashlib.sha256(
        "".join(f"{n}:{h};" for n, h in sorted(manifest["files"].items())).encode()
    ).hexdigest()[:12]
    manifest["model_version"] = f"click-{digest}"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="weights do not fit the config"):
        ClickPredictor.load(copy)


def test_missing_manifest_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a click model artifact"):
        ClickPredictor.load(tmp_path)
