"""Sequence model artifacts: weights, config with the catalog's item ids, manifest.

A folder holds ``model.safetensors`` (every weight, the catalog's frozen text
vectors included), ``config.json`` (shapes, the item id of every row, the text
encoder's version, training settings and report) and ``manifest.json`` with the
SHA-256 of both and the ``model_version`` derived from them. Loading re-hashes
the files and refuses a folder that differs from its manifest.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ranker.model.sequence import SequenceConfig, SequenceModel

log = logging.getLogger(__name__)

FORMAT = "homefeed-sequence-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
MANIFEST_FILE = "manifest.json"
VERSION_PREFIX = "seq-"


@dataclass(frozen=True)
class SequenceArtifact:
    """A loaded, verified sequence model and what it was trained on."""

    model: SequenceModel
    item_ids: list[str]  # catalog item id of row r + 1
    text_encoder_version: str
    config: dict[str, object]
    model_version: str


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _version(files: dict[str, str]) -> str:
    digest = hashlib.sha256("".join(f"{n}:{h};" for n, h in sorted(files.items())).encode())
    return f"{VERSION_PREFIX}{digest.hexdigest()[:12]}"


def save_sequence_artifact(
    model: SequenceModel,
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
    files = {name: _sha256(out_dir / name) for name in (WEIGHTS_FILE, CONFIG_FILE)}
    model_version = _version(files)
    (out_dir / MANIFEST_FILE).write_text(
        json.dumps({"model_version": model_version, "files": files}, indent=2, sort_keys=True)
    )
    log.info("saved sequence model %s to %s", model_version, out_dir)
    return model_version


def load_sequence_artifact(model_dir: Path) -> SequenceArtifact:
    """The verified artifact in ``model_dir``; ValueError says what is wrong with it."""
    manifest_path = model_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ValueError(f"{model_dir}: not a model artifact (no {MANIFEST_FILE})")
    try:
        manifest = json.loads(manifest_path.read_text())
        files: dict[str, str] = dict(manifest["files"])
        model_version = str(manifest["model_version"])
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{manifest_path}: unreadable manifest ({error})") from error
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        path = model_dir / name
        if name not in files or not path.is_file():
            raise ValueError(f"{model_dir}: {name} is missing")
        if _sha256(path) != files[name]:
            raise ValueError(
                f"{model_dir}: {name} does not match its manifest hash "
                f"(corrupt or replaced file); refusing model {model_version}"
            )
    if model_version != _version(files):
        raise ValueError(
            f"{manifest_path}: model_version {model_version} does not match the file hashes"
        )
    config = json.loads((model_dir / CONFIG_FILE).read_text())
    if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{model_dir}: format {config.get('format')!r} "
            f"v{config.get('format_version')} is not {FORMAT} v{FORMAT_VERSION}"
        )
    try:
        model = SequenceModel(SequenceConfig.from_dict(config["model"]))
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
