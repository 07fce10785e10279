"""Tuning BERT inside sequence training: MiniLM's top layer, or low-rank adapters on it.

The full softmax scores every catalog item at every step, and re-running even
one BERT layer over a 10k-item catalog costs ~3.4 s on these two cores
(measured, bf16) against ~0.2 s for a whole step on frozen vectors. So:

* the five lower layers never change: their per-token states are computed once
  per catalog and cached on disk (``ranker.model.item_encoding``);
* after every epoch the catalog's text table is re-encoded with the current top
  layer (what validation, the next epoch and the saved model see);
* each step re-encodes, with gradients, a sample of at most ``rows_per_step``
  of the items in its batch and uses the last refresh for every other item.
  The sampled rows carry the gradient into the top layer; the rest of the
  softmax sees vectors at most one epoch old.

``top-layer`` trains all of the last layer's 1.9M weights; ``lora`` freezes it
and trains rank-``LORA_RANK`` adapters beside each of its six linear maps
(Hu et al., 2021), 55k weights. Both keep the pooled, unit-length 384-d output
of the pretrained encoder, so the tuned vectors stay in the space the text
profiles and the live text index use.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ranker.model.click_model import ItemTower
from ranker.model.item_encoding import LowerStates, cached_lower_states, item_vectors
from ranker.model.sequence import PAD, ItemTable
from ranker.model.sequence_variants import TUNED_VARIANTS

log = logging.getLogger(__name__)

# Tokens kept per item text: the click model's item tower uses the same.
MAX_TEXT_TOKENS = 32
# Items re-encoded with gradients per step: 128 rows cost ~0.18 s forward and
# backward in bf16 here (256: 0.36 s, 512: 0.79 s), so a step costs ~1.8x a
# frozen one; more rows would leave too few epochs in the budget.
ROWS_PER_STEP = 128
LORA_RANK = 8
# Learning rates of the tuned weights (the sequence model keeps its own): a
# pretrained layer wants small steps, fresh adapters larger ones.
TUNING_LR = {"top-layer": 5e-5, "lora": 1e-3}


def require_tuned(mode: str) -> None:
    """Refuse a mode that tunes nothing (or is unknown)."""
    if mode not in TUNED_VARIANTS:
        raise ValueError(f"text tuning must be one of {TUNED_VARIANTS}, got {mode!r}")


class LowRankAdapted(nn.Module):
    """A frozen linear map plus a trainable low-rank update ``B A`` (zero at the start)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float | None = None) -> None:
        super().__init__()
        self.base = base
        for parameter in base.parameters():
            parameter.requires_grad = False
        self.down = nn.Parameter(torch.randn(rank, base.in_features) / base.in_features**0.5)
        self.up = nn.Parameter(torch.zeros(base.out_features, rank))
        self.scale = (alpha if alpha is not None else 2.0 * rank) / rank

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """The base map's output plus the adapter's."""
        update = (inputs @ self.down.T.to(inputs.dtype)) @ self.up.T.to(inputs.dtype)
        return self.base(inputs) + self.scale * update


# The linear maps of a BERT layer, by attribute path.
_LAYER_LINEARS = (
    ("attention", "self", "query"),
    ("attention", "self", "key"),
    ("attention", "self", "value"),
    ("attention", "output", "dense"),
    ("intermediate", "dense"),
    ("output", "dense"),
)


def add_adapters(layer: nn.Module, rank: int) -> None:
    """Freeze ``layer`` and put a low-rank adapter beside each of its linear maps."""
    for parameter in layer.parameters():
        parameter.requires_grad = False
    for path in _LAYER_LINEARS:
        parent = layer
        for name in path[:-1]:
            parent = getattr(parent, name)
        base = getattr(parent, path[-1])
        if not isinstance(base, nn.Linear):
            raise TypeError(f"{'.'.join(path)} is {type(base).__name__}, not a linear map")
        setattr(parent, path[-1], LowRankAdapted(base, rank))


class TextTuner:
    """The trainable top of the item text encoder for one training run."""

    def __init__(
        self, tower: ItemTower, lower: LowerStates, mode: str, rows_per_step: int = ROWS_PER_STEP
    ) -> None:
        require_tuned(mode)
        # Tuning keeps the encoder's pooled output: the tower's projection is unused.
        tower.projection.requires_grad_(False)
        self.tower = tower
        self.lower = lower
        self.mode = mode
        self.rows_per_step = rows_per_step
        self.lr = TUNING_LR[mode]

    def parameters(self) -> list[nn.Parameter]:
        """The weights tuning trains."""
        return [p for p in self.tower.parameters() if p.requires_grad]

    def encode(self, rows: torch.Tensor) -> torch.Tensor:
        """Unit text vectors ``(len(rows), 384)`` of catalog rows (1-based), with gradients."""
        states, mask = self.lower.batch(rows - 1, torch.device("cpu"))
        return self.tower.upper(states, mask, pretrained_only=True)

    def step_table(
        self, stale: torch.Tensor, batch_rows: torch.Tensor, rng: np.random.Generator
    ) -> torch.Tensor:
        """The text table for one step: ``stale`` with a sample of the batch's items fresh.

        ``batch_rows`` holds the item rows of the step's windows (PAD included).
        """
        present = torch.unique(batch_rows[batch_rows != PAD])
        if len(present) > self.rows_per_step:
            keep = rng.choice(len(present), self.rows_per_step, replace=False)
            present = present[torch.from_numpy(np.sort(keep))]
        fresh = self.encode(present)
        return stale.index_copy(0, present, fresh.to(stale.dtype))

    @torch.no_grad()
    def refresh(self, items: ItemTable, bf16: bool) -> None:
        """Re-encode the whole catalog with the current top layer into ``items.text``."""
        self.tower.eval()
        vectors = item_vectors(
            self.tower,
            self.lower,
            device=torch.device("cpu"),
            dtype=torch.bfloat16 if bf16 else torch.float32,
            pretrained_only=True,
        )
        self.tower.train()
        items.text[1:] = torch.from_numpy(vectors).to(items.text)


class TunerFactory:
    """Loads MiniLM once and hands every member of a training its own trainable top."""

    def __init__(self, mode: str, texts: Sequence[str], cache_dir: Path | None) -> None:
        from transformers import AutoModel, AutoTokenizer

        from indexer.encoder import default_model_dir

        require_tuned(mode)
        base = str(default_model_dir())
        tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
        bert = AutoModel.from_pretrained(base, local_files_only=True, add_pooling_layer=False)
        self.mode = mode
        self._tower = ItemTower(bert, trainable_layers=1)
        self._lower = cached_lower_states(
            self._tower,
            tokenizer,
            list(texts),
            max_tokens=MAX_TEXT_TOKENS,
            device=torch.device("cpu"),
            dtype=torch.bfloat16,
            cache_dir=cache_dir,
        )

    def __call__(self) -> TextTuner:
        """A fresh copy of the pretrained top layer (with adapters under ``lora``)."""
        tower = copy.deepcopy(self._tower)
        if self.mode == "lora":
            add_adapters(tower.bert.encoder.layer[tower.split_at], LORA_RANK)
        tower.train()
        log.info(
            "text tuning %s: %d trainable weights",
            self.mode,
            sum(p.numel() for p in tower.parameters() if p.requires_grad),
        )
        return TextTuner(tower, self._lower, self.mode)
