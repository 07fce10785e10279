"""Full-catalog softmax cross-entropy without materialising the logits.

The plain form (``hidden @ items.T``, mask, ``cross_entropy``) writes a
positions × catalog matrix (3,200 × 9,743 floats, 125 MB, for a MovieLens
batch) and reads and copies it half a dozen times through autograd: on two CPU
cores those passes, not the matrix products, took most of a training step.
Here the logits are made a few hundred rows at a time, so each block stays in
cache: the forward pass keeps only each row's log-sum-exp, and the backward
pass recomputes its block's logits and turns them into ``softmax - onehot`` in
place. One extra matrix product buys skipping every full-size copy.
"""

from __future__ import annotations

from typing import Any

import torch

BLOCK_ROWS = 256  # 256 × 10k fp32 logits = 10 MB: a block stays in L3


def _block_logits(
    hidden: torch.Tensor,
    items: torch.Tensor,
    masked: torch.Tensor,
    excluded: torch.Tensor | None,
    start: int,
    end: int,
    low_precision: bool,
) -> torch.Tensor:
    """Logits of rows ``start:end`` with each row's masked item columns at -inf."""
    if low_precision:
        # ``items`` is already bfloat16 here: converted once per pass, not per block.
        logits = (hidden[start:end].bfloat16() @ items.T).float()
    else:
        logits = hidden[start:end] @ items.T
    logits.scatter_(1, masked[start:end], float("-inf"))
    if excluded is not None:
        logits.masked_fill_(excluded[None], float("-inf"))
    return logits


class _CatalogSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        hidden: torch.Tensor,
        items: torch.Tensor,
        targets: torch.Tensor,
        masked: torch.Tensor,
        excluded: torch.Tensor | None,
        low_precision: bool,
        trainable_columns: int,
    ) -> torch.Tensor:
        rows = hidden.shape[0]
        log_norm = torch.empty(rows, dtype=torch.float32, device=hidden.device)
        block_items = items.bfloat16() if low_precision else items
        for start in range(0, rows, BLOCK_ROWS):
            end = min(start + BLOCK_ROWS, rows)
            log_norm[start:end] = torch.logsumexp(
                _block_logits(hidden, block_items, masked, excluded, start, end, low_precision),
                dim=1,
            )
        target_logits = (hidden.float() * items[targets].float()).sum(1)
        ctx.save_for_backward(hidden, items, targets, masked, log_norm)
        ctx.excluded = excluded
        ctx.low_precision = low_precision
        ctx.trainable_columns = trainable_columns
        return (log_norm - target_logits).mean()

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        hidden, items, targets, masked, log_norm = ctx.saved_tensors
        low_precision = ctx.low_precision
        rows = hidden.shape[0]
        scale = grad_out / rows
        grad_hidden = torch.empty_like(hidden, dtype=torch.float32)
        grad_items = torch.zeros_like(items, dtype=torch.float32)
        # Columns past ``trainable`` are frozen (the text vectors beside the
        # learned ones): their item gradient is never needed, so not computed.
        trainable = ctx.trainable_columns
        block_items = items.bfloat16() if low_precision else items
        low_hidden = hidden[:, :trainable].bfloat16() if low_precision else hidden
        for start in range(0, rows, BLOCK_ROWS):
            end = min(start + BLOCK_ROWS, rows)
            block = _block_logits(
                hidden, block_items, masked, ctx.excluded, start, end, low_precision
            )
            # softmax (masked columns are exp(-inf) = 0), minus one at each target
            block.sub_(log_norm[start:end, None]).exp_()
            block[torch.arange(end - start), targets[start:end]] -= 1.0
            block.mul_(scale)
            if low_precision:
                low = block.bfloat16()
                grad_hidden[start:end] = (low @ block_items).float()
                grad_items[:, :trainable] += (low.T @ low_hidden[start:end]).float()
            else:
                grad_hidden[start:end] = block @ items
                grad_items[:, :trainable] += block.T @ hidden[start:end, :trainable]
        grads = grad_hidden.to(hidden.dtype), grad_items.to(items.dtype)
        return (*grads, None, None, None, None, None)


def catalog_cross_entropy(
    hidden: torch.Tensor,
    items: torch.Tensor,
    targets: torch.Tensor,
    masked: torch.Tensor,
    *,
    excluded: torch.Tensor | None = None,
    low_precision: bool = False,
    frozen_columns: int = 0,
) -> torch.Tensor:
    """Mean cross-entropy of ``targets`` under a softmax of ``hidden @ items.T``.

    ``hidden`` ``(N, d)``, ``items`` ``(I, d)``, ``targets`` ``(N,)`` item rows,
    ``masked`` ``(N, M)`` item rows left out of each row's softmax (repeats
    allowed; never the row's target), ``excluded`` ``(I,)`` optionally items
    left out of every row's softmax. ``low_precision`` runs the products in
    bfloat16 (accumulating in float32), about 3x faster on CPUs with AVX512-BF16.
    The last ``frozen_columns`` of ``items`` get a zero gradient, not computed.
    """
    loss: torch.Tensor = _CatalogSoftmax.apply(
        hidden, items, targets, masked, excluded, low_precision, items.shape[1] - frozen_columns
    )
    return loss


__all__ = ["catalog_cross_entropy"]
