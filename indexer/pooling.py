"""Sentence vectors from BERT's last hidden states: mean over real tokens, unit length."""

from __future__ import annotations

import torch


def mean_pooled_unit(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` over the tokens ``attention_mask`` marks, L2-normalised, in float32.

    Pooled in float32: summing up to max_length bf16 values loses precision.
    Both encoder runtimes use this (OpenVINO traces it into its graph).
    """
    mask = attention_mask.unsqueeze(-1).to(torch.float32)
    summed = (hidden.to(torch.float32) * mask).sum(dim=1)
    pooled = summed / mask.sum(dim=1).clamp(min=1.0)
    return torch.nn.functional.normalize(pooled, p=2.0, dim=1)
