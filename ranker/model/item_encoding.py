"""Catalog texts through the item tower: frozen lower states, then item vectors.

The lower BERT layers never change during training, so their per-token outputs
are computed once per catalog (and cached on disk, keyed by the texts and the
encoder weights); each step and each refresh then runs only the top layers.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase

from ranker.model.click_model import ItemTower

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LowerStates:
    """Per-token states entering the trainable layers, one row per item."""

    states: torch.Tensor  # (items, tokens, hidden) float16 on CPU
    mask: torch.Tensor  # (items, tokens) int64

    def __len__(self) -> int:
        return int(self.states.shape[0])

    def batch(self, rows: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Float32 states and mask of ``rows``, trimmed to their longest text, on ``device``."""
        mask = self.mask[rows]
        width = max(1, int(mask.sum(1).max()))
        states = self.states[rows, :width].to(device=device, dtype=torch.float32)
        return states, mask[:, :width].to(device)


def lower_states(
    tower: ItemTower,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    max_tokens: int,
    device: torch.device,
    dtype: torch.dtype,
    batch_size: int = 256,
    progress: bool = True,
) -> LowerStates:
    """Run the frozen lower layers over ``texts``."""
    encoded = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_tokens,
        padding="max_length",
        return_tensors="pt",
    )
    input_ids, mask = encoded["input_ids"], encoded["attention_mask"]
    hidden = tower.bert.config.hidden_size
    states = torch.zeros((len(texts), max_tokens, hidden), dtype=torch.float16)
    # Shortest first, so most batches are narrow.
    order = torch.argsort(mask.sum(1))
    starts = range(0, len(texts), batch_size)
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32),
    ):
        for start in tqdm(
            starts, desc="item text (frozen layers)", disable=not progress, unit="batch"
        ):
            rows = order[start : start + batch_size]
            width = max(1, int(mask[rows].sum(1).max()))
            out = tower.lower(input_ids[rows, :width].to(device), mask[rows, :width].to(device))
            states[rows, :width] = out.to("cpu", torch.float16)
    return LowerStates(states, mask)


def cached_lower_states(
    tower: ItemTower,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    max_tokens: int,
    device: torch.device,
    dtype: torch.dtype,
    cache_dir: Path | None,
) -> LowerStates:
    """:func:`lower_states`, read from ``cache_dir`` when the same texts were seen before.

    The key hashes the texts and the frozen layers' weights, so a fine-tuned
    model (whose lower layers are untouched) shares the pretrained encoder's cache.
    """
    digest = hashlib.sha256(f"{tower.split_at};{max_tokens}".encode())
    frozen_prefixes = ("embeddings.", *(f"encoder.layer.{n}." for n in range(tower.split_at)))
    for name, tensor in sorted(tower.bert.state_dict().items()):
        if name.startswith(frozen_prefixes):
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu", torch.float32).numpy().tobytes())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    path = cache_dir / f"lower-{digest.hexdigest()[:16]}.safetensors" if cache_dir else None
    if path is not None and path.exists():
        try:
            tensors = load_file(str(path))
            log.info("frozen item states read from cache %s", path)
            return LowerStates(tensors["states"], tensors["mask"])
        except Exception:  # noqa: BLE001 - a broken cache is recomputed, not fatal
            log.warning("unreadable cache %s; recomputing", path, exc_info=True)
    result = lower_states(
        tower, tokenizer, texts, max_tokens=max_tokens, device=device, dtype=dtype
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        save_file(
            {"states": result.states.contiguous(), "mask": result.mask.contiguous()}, str(partial)
        )
        partial.replace(path)
    return result


def item_vectors(
    tower: ItemTower,
    lower: LowerStates,
    *,
    device: torch.device,
    dtype: torch.dtype,
    batch_size: int = 512,
    pretrained_only: bool = False,
    progress: bool = False,
) -> np.ndarray:
    """Unit item vectors ``(items, dim)`` float32 from cached lower states."""
    dim = tower.bert.config.hidden_size if pretrained_only else tower.dim
    vectors = np.empty((len(lower), dim), dtype=np.float32)
    order = torch.argsort(lower.mask.sum(1))
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32),
    ):
        for start in tqdm(
            range(0, len(lower), batch_size),
            desc="item vectors",
            disable=not progress,
            unit="batch",
        ):
            rows = order[start : start + batch_size]
            states, mask = lower.batch(rows, device)
            out = tower.upper(states, mask, pretrained_only=pretrained_only)
            vectors[rows.numpy()] = out.float().cpu().numpy()
    return vectors
