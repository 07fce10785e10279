"""Click model artifacts on disk and the inference API the live pipeline calls.

An artifact folder holds ``model.safetensors`` (every weight: encoder, towers,
head), ``config.json`` (shapes, training settings, the data it saw), the
tokenizer files, and ``manifest.json`` with the SHA-256 of each of those files
and the ``model_version`` derived from them. Loading re-hashes every file and
refuses a folder whose bytes differ from its manifest.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, BertConfig, PreTrainedTokenizerBase

from indexer.checksums import sha256_file
from indexer.encoder import resolve_device
from ranker.model.click_model import ClickModel, ClickModelConfig

log = logging.getLogger(__name__)

FORMAT = "homefeed-click-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
MANIFEST_FILE = "manifest.json"


CLICK_PREFIX = "click-"


def _model_version(files: dict[str, str], prefix: str = CLICK_PREFIX) -> str:
    """The version an artifact's file hashes give it (``prefix`` names the model family)."""
    digest = hashlib.sha256("".join(f"{n}:{h};" for n, h in sorted(files.items())).encode())
    return f"{prefix}{digest.hexdigest()[:12]}"


def write_manifest(out_dir: Path, names: list[str], prefix: str = CLICK_PREFIX) -> str:
    """Hash ``names`` in ``out_dir`` into ``manifest.json``; returns the ``model_version``."""
    files = {name: sha256_file(out_dir / name) for name in names if (out_dir / name).is_file()}
    model_version = _model_version(files, prefix)
    manifest = {"model_version": model_version, "files": files}
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return model_version


def save_artifact(
    model: ClickModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path, extra: dict[str, object]
) -> str:
    """Write the artifact folder and return its ``model_version``.

    ``extra`` (training settings, report, data facts) goes into ``config.json``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {
        name: tensor.detach().to("cpu", torch.float32).contiguous()
        for name, tensor in model.state_dict().items()
    }
    save_file(state, str(out_dir / WEIGHTS_FILE))
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "bert": model.item_tower.bert.config.to_dict(),
        **extra,
    }
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True, default=str))
    tokenizer_files = [Path(name).name for name in tokenizer.save_pretrained(str(out_dir))]
    # save_pretrained may also write a config.json-like file; never let it win.
    hashed = sorted({WEIGHTS_FILE, CONFIG_FILE, *tokenizer_files} - {MANIFEST_FILE})
    model_version = write_manifest(out_dir, hashed)
    log.info("saved click model %s to %s", model_version, out_dir)
    return model_version


def read_manifest(model_dir: Path, prefix: str = CLICK_PREFIX) -> dict[str, object]:
    """The manifest, after checking every listed file's hash; ValueError if anything is off."""
    manifest_path = model_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        family = "click model" if prefix == CLICK_PREFIX else "model"
        raise ValueError(f"{model_dir}: not a {family} artifact (no {MANIFEST_FILE})")
    try:
        manifest = json.loads(manifest_path.read_text())
        files: dict[str, str] = manifest["files"]
        model_version = str(manifest["model_version"])
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{manifest_path}: unreadable manifest ({error})") from error
    for required in (WEIGHTS_FILE, CONFIG_FILE):
        if required not in files:
            raise ValueError(f"{manifest_path}: does not list {required}")
    for name, expected in files.items():
        path = model_dir / name
        if not path.is_file():
            raise ValueError(f"{model_dir}: {name} is missing")
        if sha256_file(path) != expected:
            raise ValueError(
                f"{model_dir}: {name} does not match its manifest hash "
                f"(corrupt or replaced file); refusing model {model_version}"
            )
    if model_version != _model_version(files, prefix):
        raise ValueError(
            f"{manifest_path}: model_version {model_version} does not match the file hashes"
        )
    return manifest


def load_artifact(
    model_dir: Path, device: str = "cpu"
) -> tuple[ClickModel, PreTrainedTokenizerBase, dict[str, object], str]:
    """Model (eval mode), tokenizer, config and model_version of a verified artifact."""
    manifest = read_manifest(model_dir)
    config = json.loads((model_dir / CONFIG_FILE).read_text())
    if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{model_dir}: format {config.get('format')!r} "
            f"v{config.get('format_version')} is not {FORMAT} v{FORMAT_VERSION}"
        )
    try:
        model_config = ClickModelConfig.from_dict(config["model"])
        bert_config = BertConfig.from_dict(config["bert"])
        model = ClickModel.from_bert_config(bert_config, model_config)
        state = load_file(str(model_dir / WEIGHTS_FILE))
        model.load_state_dict(state, strict=True)
    except (KeyError, TypeError, RuntimeError, SafetensorError) as error:
        raise ValueError(f"{model_dir}: weights do not fit the config ({error})") from error
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = model.to(resolve_device(device)).eval()
    return model, tokenizer, config, str(manifest["model_version"])


class ClickPredictor:
    """Inference API of a trained click model.

    ``item_vectors`` re-encodes item texts with the fine-tuned item tower (the
    catalog must be re-encoded when ``model_version`` changes); ``score`` turns
    user histories and candidate vectors into click probabilities, batched over
    users. Texts are built with :func:`ranker.model.item_text.item_text`; features
    with :func:`ranker.model.features.candidate_features`.
    """

    def __init__(
        self,
        model: ClickModel,
        tokenizer: PreTrainedTokenizerBase,
        config: dict[str, object],
        model_version: str,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.model_version = model_version

    @classmethod
    def load(cls, model_dir: Path, *, device: str = "cpu") -> ClickPredictor:
        """Load and verify an artifact folder (ValueError if corrupt or mismatched)."""
        return cls(*load_artifact(Path(model_dir), device))

    @property
    def device(self) -> torch.device:
        """Where the model runs."""
        return next(self.model.parameters()).device

    @property
    def dim(self) -> int:
        """Item vector length."""
        return self.model.item_tower.dim

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Order of the last axis of ``features`` in :meth:`score`."""
        return self.model.config.feature_names

    def item_vectors(self, texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
        """Unit item vectors ``(len(texts), dim)`` float32 from the fine-tuned item tower."""
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        tower = self.model.item_tower
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                encoded = self.tokenizer(
                    list(texts[start : start + batch_size]),
                    truncation=True,
                    padding=True,
                    return_tensors="pt",
                    max_length=self.model.config.max_text_tokens,
                )
                ids = encoded["input_ids"].to(self.device)
                mask = encoded["attention_mask"].to(self.device)
                out = tower.upper(tower.lower(ids, mask), mask)
                vectors[start : start + len(ids)] = out.float().cpu().numpy()
        return vectors

    def logits(
        self,
        history_vectors: np.ndarray,
        history_weights: np.ndarray,
        history_age_days: np.ndarray,
        history_mask: np.ndarray,
        candidate_vectors: np.ndarray,
        features: np.ndarray,
    ) -> np.ndarray:
        """Raw click logits ``(B, C)``; see :meth:`score` for the arguments."""

        def tensor(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

        with torch.inference_mode():
            out = self.model.logits(
                tensor(history_vectors.astype(np.float32)),
                tensor(history_weights.astype(np.float32)),
                tensor(history_age_days.astype(np.float32)),
                tensor(history_mask.astype(bool)),
                tensor(candidate_vectors.astype(np.float32)),
                tensor(features.astype(np.float32)),
            )
        return out.float().cpu().numpy()

    def score(
        self,
        history_vectors: np.ndarray,
        history_weights: np.ndarray,
        history_age_days: np.ndarray,
        history_mask: np.ndarray,
        candidate_vectors: np.ndarray,
        features: np.ndarray,
    ) -> np.ndarray:
        """Click probabilities ``(B, C)`` for B users' candidates.

        Args:
            history_vectors: ``(B, L, D)`` item vectors of each user's recent
                interactions, oldest first, left-aligned, zeros on padding.
            history_weights: ``(B, L)`` interaction weights (click 1.0, view 0.3,
                dislike -0.5, as in ``ranker.state.INTERACTION_WEIGHTS``).
            history_age_days: ``(B, L)`` days from each interaction to now.
            history_mask: ``(B, L)`` True on real entries.
            candidate_vectors: ``(B, C, D)``, or ``(C, D)`` shared by every user.
            features: ``(B, C, F)`` in :attr:`feature_names` order.

        """
        logits = self.logits(
            history_vectors,
            history_weights,
            history_age_days,
            history_mask,
            candidate_vectors,
            features,
        )
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
