"""The blockwise catalog softmax gives the plain masked cross-entropy and its gradients."""

from __future__ import annotations

import pytest
import torch

from ranker.training.catalog_softmax import BLOCK_ROWS, catalog_cross_entropy


def _case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    rows, items, dim = BLOCK_ROWS * 2 + 37, 1500, 16  # a partial last block
    hidden = torch.randn(rows, dim, requires_grad=True)
    vectors = torch.randn(items, dim, requires_grad=True)
    targets = torch.randint(1, items, (rows,))
    masked = torch.randint(0, items, (rows, 12))
    masked = torch.where(masked == targets[:, None], 0, masked)  # never the target
    return hidden, vectors, targets, masked


def _plain(
    hidden: torch.Tensor, vectors: torch.Tensor, targets: torch.Tensor, masked: torch.Tensor
) -> torch.Tensor:
    logits = (hidden @ vectors.T).scatter(1, masked, float("-inf"))
    return torch.nn.functional.cross_entropy(logits, targets)


@pytest.mark.parametrize(("low_precision", "tolerance"), [(False, 1e-5), (True, 0.05)])
def test_loss_and_gradients_match_the_plain_masked_cross_entropy(
    low_precision: bool, tolerance: float
) -> None:
    hidden, vectors, targets, masked = _case()
    loss = catalog_cross_entropy(hidden, vectors, targets, masked, low_precision=low_precision)
    loss.backward()
    assert hidden.grad is not None and vectors.grad is not None
    fast_hidden, fast_vectors = hidden.grad.clone(), vectors.grad.clone()
    hidden.grad = vectors.grad = None
    expected = _plain(hidden, vectors, targets, masked)
    expected.backward()
    assert float(loss) == pytest.approx(float(expected), rel=1e-4)
    for fast, plain in ((fast_hidden, hidden.grad), (fast_vectors, vectors.grad)):
        assert plain is not None
        # relative to the largest gradient: bf16 keeps about three digits
        assert float((fast - plain).abs().max()) <= tolerance * float(plain.abs().max())


def test_a_masked_item_gets_no_gradient_from_the_rows_that_mask_it() -> None:
    hidden = torch.randn(1, 4, requires_grad=True)
    vectors = torch.randn(5, 4, requires_grad=True)
    loss = catalog_cross_entropy(hidden, vectors, torch.tensor([2]), torch.tensor([[0, 3]]))
    loss.backward()
    assert vectors.grad is not None
    assert torch.count_nonzero(vectors.grad[[0, 3]]) == 0
    assert torch.count_nonzero(vectors.grad[[1, 2, 4]]) > 0
