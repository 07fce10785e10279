"""Rankers by name, the shared evaluation run, and the top-K export.

``homefeed eval`` and ``homefeed recommend`` both go through :func:`build_rankers`
and :func:`ranker.eval.evaluate.evaluate_ranker` on the same :class:`EvalSet`, so the
exported lists are exactly the ones the reported full-ranking metrics count.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from indexer.encoder import default_model_dir, resolve_device
from ranker.eval.baselines import (
    CatalogRanker,
    ItemKnnRanker,
    PopularityRanker,
    RandomRanker,
    ZeroShotBertRanker,
)
from ranker.eval.evaluate import EvalSet, ModelRanker, RankerResult
from ranker.eval.sequence_ranker import SequenceRanker
from ranker.model.artifacts import load_artifact
from ranker.model.click_model import ClickModel, ClickModelConfig
from ranker.model.item_encoding import cached_lower_states, item_vectors
from ranker.model.sequence_artifact import is_sequence_artifact, load_sequence_artifact
from ranker.training.data import TEST
from ranker.training.train import Prepared, autocast_dtype

log = logging.getLogger(__name__)

BASELINES = ("random", "popularity", "zero_shot_bert", "item_knn")


def check_protocol(config: dict[str, object], protocol: str) -> None:
    """Refuse a model trained under another split: its training saw the other test set."""
    train = config.get("train")
    trained = train.get("protocol") if isinstance(train, dict) else None
    if trained != protocol:
        raise ValueError(
            f"this model was trained for --protocol {trained}; evaluating it "
            f"under {protocol} would test on its training data. Train one with "
            f"`homefeed train --protocol {protocol}`."
        )


def _pretrained_vectors(
    prepared: Prepared, device: torch.device, cache_dir: Path | None
) -> torch.Tensor:
    """Zero-shot item vectors: the untrained MiniLM over the same item texts."""
    from transformers import AutoModel, AutoTokenizer

    base_dir = default_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    bert = AutoModel.from_pretrained(base_dir, local_files_only=True, add_pooling_layer=False)
    config = ClickModelConfig()
    tower = ClickModel(bert, config).to(device).eval().item_tower
    dtype = autocast_dtype(device)
    lower = cached_lower_states(
        tower,
        tokenizer,
        prepared.catalog.texts,
        max_tokens=config.max_text_tokens,
        device=device,
        dtype=dtype,
        cache_dir=cache_dir,
    )
    return torch.from_numpy(
        item_vectors(tower, lower, device=device, dtype=dtype, pretrained_only=True)
    )


def sequence_ranker(model_dir: Path, prepared: Prepared) -> SequenceRanker:
    """A verified sequence model artifact as a ranker, if it fits this split and catalog."""
    artifact = load_sequence_artifact(model_dir)
    check_protocol(artifact.config, prepared.split.protocol)
    if artifact.item_ids != list(prepared.catalog.item_ids):
        raise ValueError(
            f"{model_dir}: trained on another catalog "
            f"({len(artifact.item_ids)} items) than this folder's "
            f"({len(prepared.catalog)}); train one on this data"
        )
    log.info("sequence model %s (%s)", artifact.model_version, artifact.config.get("variant"))
    return SequenceRanker(artifact.model)


def history_length(model_dir: Path | None) -> int:
    """How many recent interactions the model at ``model_dir`` reads (50 for the click model)."""
    if model_dir is not None and is_sequence_artifact(model_dir):
        config = json.loads((model_dir / "config.json").read_text())
        return int(config["model"]["max_length"])
    return 50


def build_rankers(
    names: list[str],
    prepared: Prepared,
    eval_set: EvalSet,
    *,
    model_dir: Path | None,
    device: str = "auto",
    cache_dir: Path | None = None,
    seed: int = 0,
) -> dict[str, CatalogRanker]:
    """The rankers called ``names`` (``model`` needs ``model_dir``)."""
    torch_device = resolve_device(device)
    known = prepared.split.roles < TEST  # every event before the test role
    rankers: dict[str, CatalogRanker] = {}
    for name in names:
        if name == "model":
            if model_dir is None:
                raise ValueError("the model ranker needs a model folder")
            if is_sequence_artifact(model_dir):
                rankers[name] = sequence_ranker(model_dir, prepared)
                continue
            model, tokenizer, config, version = load_artifact(model_dir, str(torch_device))
            check_protocol(config, prepared.split.protocol)
            dtype = autocast_dtype(torch_device)
            lower = cached_lower_states(
                model.item_tower,
                tokenizer,
                prepared.catalog.texts,
                max_tokens=model.config.max_text_tokens,
                device=torch_device,
                dtype=dtype,
                cache_dir=cache_dir,
            )
            vectors = item_vectors(model.item_tower, lower, device=torch_device, dtype=dtype)
            log.info("model %s: %d item vectors", version, len(vectors))
            rankers[name] = ModelRanker(
                model, vectors, prepared.catalog, eval_set.stats, eval_set.reference_ts
            )
        elif name == "random":
            rankers[name] = RandomRanker(len(prepared.catalog), seed)
        elif name == "popularity":
            rankers[name] = PopularityRanker(eval_set.stats.popularity)
        elif name == "zero_shot_bert":
            vectors = _pretrained_vectors(prepared, torch_device, cache_dir).numpy()
            rankers[name] = ZeroShotBertRanker(vectors)
        elif name == "item_knn":
            rankers[name] = ItemKnnRanker(
                prepared.log.users[known], prepared.log.items[known], len(prepared.catalog)
            )
        else:
            raise ValueError(f"unknown ranker {name!r}; use a model folder or one of {BASELINES}")
    return rankers


def write_recommendations(
    path: Path, prepared: Prepared, eval_set: EvalSet, result: RankerResult, k: int
) -> int:
    """One JSON line per test moment: user, held-out item, top-``k`` item ids. Returns lines."""
    item_ids = prepared.catalog.item_ids
    user_ids = prepared.log.user_ids
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row, position in enumerate(eval_set.positions.tolist()):
            record = {
                "user_id": user_ids[int(prepared.log.users[position])],
                "test_item_id": item_ids[int(eval_set.targets[row])],
                "items": [item_ids[int(item)] for item in result.top_items[row, :k]],
            }
            handle.write(json.dumps(record) + "\n")
    return len(eval_set)
