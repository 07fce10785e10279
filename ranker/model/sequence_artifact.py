"""Sequence model artifacts: weights, config with the catalog's item ids, manifest.

A folder holds ``model.safetensors`` (every weight, the catalog's frozen text
vectors included), ``config.json`` (shapes, the item id of every row, the text
encoder's version, training settings and report) and ``manifest.json`` with the
SHA-256 of both and the ``model_version`` derived from them. Loading re-hashes
the files and refuses a folder that differs from its manifest.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ranker.model.artifacts import CONFIG_FILE, WEIGHTS_FILE, read_manifest, write_manifest
from ranker.model.sequence import SequenceConfig
from ranker.model.sequence_ensemble import ScoringModel, build_sequence_model

log = logging.getLogger(__name__)

FORMAT = "homefeed-sequence-model"
FORMAT_VERSION = 1
VERSION_PREFIX = "seq-"


@dataclass(frozen=True)
class SequenceArtifact:
    """A loaded, verified sequence model and what it was trained on."""

    model: ScoringModel
    item_ids: list[str]  # catalog item id of row r + 1
    text_encoder_version: str
    config: dict[str, object]
    model_version: str


def save_sequence_artifact(
    model: ScoringModel,
    item_ids: list[str],
    text_encoder_version: str,
    out_dir: Path,
    extra: dict[str, object],
) -> str:
    """Write the artifact folder and return its ``model_version``."""
    if len(item_ids) != model.config.items:
        raise ValueError(f"{len(item_ids)} item ids for a model of {model.config.items} items")
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {
        name: tensor.detach().to("cpu").contiguous() for name, tensor in model.state_dict().items()
    }
    save_file(state, str(out_dir / WEIGHTS_FILE))
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "item_ids": list(item_ids),
        "text_encoder_version": text_encoder_version,
        **extra,
    }
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=1, sort_keys=True, default=str))
    model_version = write_manifest(out_dir, [WEIGHTS_FILE, CONFIG_FILE], VERSION_PREFIX)
    log.info("saved sequence model %s to %s", model_version, out_dir)
    return model_version


def load_sequence_artifact(model_dir: Path) -> SequenceArtifact:
    """The verified artifact in ``model_dir``; ValueError says what is wrong with it."""
    model_version = str(read_manifest(model_dir, VERSION_PREFIX)["model_version"])
    config = json.loads((model_dir / CONFIG_FILE).read_text())
    if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{model_dir}: format {config.get('format')!r} "
            f"v{config.get('format_version')} is not {FORMAT} v{FORMAT_VERSION}"
        )
    try:
        model = build_sequence_model(SequenceConfig.from_dict(config["model"]))
        model.load_state_dict(load_file(str(model_dir / WEIGHTS_FILE)), strict=True)
        item_ids = [str(item_id) for item_id in config["item_ids"]]
    except (KeyError, TypeError, RuntimeError, SafetensorError) as error:
        raise ValueError(f"{model_dir}: weights do not fit the config ({error})") from error
    if len(item_ids) != model.config.items:
        raise ValueError(f"{model_dir}: {len(item_ids)} item ids for {model.config.items} rows")
    return SequenceArtifact(
        model.eval(), item_ids, str(config.get("text_encoder_version", "")), config, model_version
    )


def is_sequence_artifact(model_dir: Path) -> bool:
    """Whether ``model_dir``'s config says it holds a sequence model (no verification)."""
    try:
        config = json.loads((model_dir / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(config, dict) and config.get("format") == FORMAT
