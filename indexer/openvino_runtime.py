"""The BERT encoder's CPU runtime: the same graph compiled by OpenVINO.

On these CPUs (AVX512-BF16, no AMX) torch's bf16 path gives ~2.2x
sentence-transformers; OpenVINO's fused kernels on the same weights in bf16
give ~3x at a cosine closer to float32 (docs/benchmarks.md, Encoder). The
graph is converted from the loaded torch model at start-up (about 2 s), so
there is no second copy of the weights to keep in step with the checkpoint:
what runs is exactly the checkpoint ``TextEncoder`` loaded. Mean pooling and
the L2 norm are part of the compiled graph, so one call returns the vectors.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import torch

from indexer.pooling import mean_pooled_unit

if TYPE_CHECKING:
    from openvino import InferRequest

logger = logging.getLogger(__name__)

# OpenVINO's names for the precisions TextEncoder's dtypes stand for.
_PRECISIONS = {torch.float32: "f32", torch.bfloat16: "bf16"}


def openvino_available() -> bool:
    """Tell whether the OpenVINO runtime is installed (it is an optional speed-up)."""
    return importlib.util.find_spec("openvino") is not None


class _PooledBert(torch.nn.Module):
    """BERT plus mean pooling over real tokens and L2 norm: the graph to convert."""

    def __init__(self, bert: torch.nn.Module, uses_token_types: bool) -> None:
        super().__init__()
        self.bert = bert
        self.uses_token_types = uses_token_types

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.uses_token_types:
            inputs["token_type_ids"] = torch.zeros_like(input_ids)
        return mean_pooled_unit(self.bert(**inputs).last_hidden_state, attention_mask)


class OpenVinoSentenceModel:
    """A float32 BERT checkpoint compiled for the CPU; returns unit sentence vectors.

    Args:
        bert: The loaded (float32) Hugging Face model; only read, not kept.
        uses_token_types: Whether the model takes ``token_type_ids`` (all zeros here).
        dtype: ``torch.float32`` or ``torch.bfloat16``: the precision OpenVINO
            computes in (pooling included; the returned array is float32).
        threads: CPU threads for one inference.

    """

    def __init__(
        self,
        bert: torch.nn.Module,
        *,
        uses_token_types: bool,
        dtype: torch.dtype,
        threads: int,
    ) -> None:
        import openvino as ov

        if dtype not in _PRECISIONS:
            raise ValueError(f"OpenVINO runs float32 or bfloat16, not {dtype}")
        example = torch.ones((2, 8), dtype=torch.int64)
        with warnings.catch_warnings():
            # Tracing warns about Python branches on shapes in the attention code;
            # the inputs are declared dynamic below, which is what those branches need.
            warnings.simplefilter("ignore")
            graph = ov.convert_model(
                _PooledBert(bert.float().eval(), uses_token_types),
                example_input=(example, example),
                input=[
                    ("input_ids", ov.PartialShape([-1, -1]), ov.Type.i64),
                    ("attention_mask", ov.PartialShape([-1, -1]), ov.Type.i64),
                ],
            )
        # Two streams of half the threads each, fed two batches at a time: a
        # batch of short texts cannot keep both cores busy on its own (measured
        # on 3,000 real texts, batch 64: 700-770 texts/s with one stream of two
        # threads, 770-860 with two of one).
        threads = max(1, threads)
        streams = 2 if threads >= 2 else 1
        compiled = ov.Core().compile_model(
            graph,
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": _PRECISIONS[dtype],
                "NUM_STREAMS": streams,
                "INFERENCE_NUM_THREADS": threads,
            },
        )
        self._queue = ov.AsyncInferQueue(compiled, streams)

    def encode_into(
        self, vectors: np.ndarray, batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]
    ) -> None:
        """Write each padded batch's unit vectors into ``vectors`` at its rows.

        ``batches`` yields ``(rows, input_ids, attention_mask)``; up to two run
        at once. Not safe for two threads at once (one request queue):
        ``TextEncoder`` serialises its calls.
        """

        def store(request: InferRequest, rows: np.ndarray) -> None:
            vectors[rows] = request.get_output_tensor(0).data

        self._queue.set_callback(store)
        try:
            for rows, input_ids, attention_mask in batches:
                # Blocks while both requests are busy, so at most two batches are in memory.
                self._queue.start_async(
                    {"input_ids": input_ids, "attention_mask": attention_mask}, rows
                )
        finally:
            self._queue.wait_all()
