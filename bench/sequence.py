"""Live cost of the sequence model per ranked user, batched: encode users, search FAISS.

The worker ranks a batch of users by running their recent interactions through
the model in one call and searching an inner-product index over the model's
item vectors: 64-d (``members × 64`` for an ensemble), or
``[item vector, blend · text vector]`` when training chose a text blend (448-d;
576-d for three members); each is measured, with the index type the live
worker picks at that catalog size (ranker/model/sequence_live.py).
Measured in-process at a given catalog size, against the same run's baseline:
today's retrieval (mean of the users' 384-d text vectors, searched in a 384-d
index). Weights are untrained: the cost does not depend on their values.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import faiss
import numpy as np
import torch

from bench.report import BenchResult, Ratio
from indexer.index import BLAS_FROM_QUERIES
from ranker.model.sequence import HistoryEncoder, SequenceConfig, SequenceModel, text_profile
from ranker.model.sequence_ensemble import SequenceEnsemble
from ranker.model.sequence_input import History, Timeline, history_tensors
from ranker.model.sequence_live import APPROXIMATE_FROM
from ranker.training.sequence_train import MAX_MEMBERS

TEXT_DIM = 384
FETCH = 100  # candidates retrieved per user, as the live ANN source


def _histories(users: int, length: int, items: int, rng: np.random.Generator) -> History:
    now = 1_700_000_000
    timelines = [
        Timeline(
            rng.integers(0, items, length),
            now - np.sort(rng.integers(0, 86_400 * 365, length))[::-1],
            rng.integers(0, 3, length).astype(np.int8),
        )
        for _ in range(users)
    ]
    return History.from_timelines(timelines, length)


def _search(index: faiss.Index, queries: np.ndarray) -> None:
    # As the live ItemIndex searches: a batch is one matrix product (indexer.index).
    faiss.cvar.distance_compute_blas_threshold = BLAS_FROM_QUERIES * index.d
    index.search(queries, FETCH)


def _per_user_ms(run: object, users: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best * 1000.0 / users


def run_sequence_bench(
    items: int = 100_000,
    batch_sizes: tuple[int, ...] = (16, 64, 256),
    history: int = 50,
    threads: int = 2,
    seed: int = 0,
) -> BenchResult:
    """Milliseconds per user for each batch size, model vs mean-pooling baseline."""
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    rng = np.random.default_rng(seed)
    model = SequenceModel(SequenceConfig(items=items)).eval()
    text = rng.standard_normal((items, TEXT_DIM)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    model.items.set_items(torch.from_numpy(text), torch.ones(items, dtype=torch.bool))
    # What dense logs train by default: MAX_MEMBERS members summed, one search
    # over their concatenated vectors (plus the text part with a blend).
    ensemble = SequenceEnsemble(SequenceConfig(items=items, members=MAX_MEMBERS)).eval()
    ensemble.items.set_items(torch.from_numpy(text), torch.ones(items, dtype=torch.bool))
    with torch.inference_mode():
        item_vectors = model.items()
        ensemble_vectors = ensemble.items()
    # The live index policies: a worker's model index is exact below
    # APPROXIMATE_FROM items (ranker/model/sequence_live.py), the catalog's
    # text index below 50k (HOMEFEED_INDEX_FACTORY=auto); HNSW32 above.
    factory = "Flat" if items < APPROXIMATE_FROM else "HNSW32"
    text_factory = "Flat" if items < 50_000 else "HNSW32"
    model_index = faiss.index_factory(model.config.vector_dim, factory, faiss.METRIC_INNER_PRODUCT)
    model_index.add(np.ascontiguousarray(item_vectors[1:].numpy()))
    text_index = faiss.index_factory(TEXT_DIM, text_factory, faiss.METRIC_INNER_PRODUCT)
    text_index.add(text)
    blend_dim = model.config.vector_dim + TEXT_DIM
    blend_index = faiss.index_factory(blend_dim, factory, faiss.METRIC_INNER_PRODUCT)
    blend_index.add(np.ascontiguousarray(np.concatenate([item_vectors[1:].numpy(), text], 1)))
    ensemble_dim = ensemble.config.vector_dim + TEXT_DIM
    ensemble_index = faiss.index_factory(ensemble_dim, factory, faiss.METRIC_INNER_PRODUCT)
    ensemble_index.add(
        np.ascontiguousarray(np.concatenate([ensemble_vectors[1:].numpy(), text], 1))
    )
    text_rows = torch.from_numpy(np.concatenate([np.zeros((1, TEXT_DIM), np.float32), text]))
    for index in (model_index, text_index, blend_index, ensemble_index):
        graph = faiss.downcast_index(index)
        if isinstance(graph, faiss.IndexHNSW):
            graph.hnsw.efSearch = FETCH
    result = BenchResult("sequence")
    figures: dict[str, object] = {
        "items": items,
        "history": history,
        "fetch": FETCH,
        "index": factory,
        "text_index": text_factory,
    }
    for batch in batch_sizes:
        histories = _histories(batch, history, items, rng)
        rows, gaps, types = history_tensors(histories, history)

        def encode_only(
            rows: torch.Tensor = rows, gaps: torch.Tensor = gaps, types: torch.Tensor = types
        ) -> np.ndarray:
            with torch.inference_mode():
                return model.user_vectors(rows, gaps, types, item_vectors).numpy()

        def model_path(encode: object = encode_only) -> None:
            _search(model_index, np.ascontiguousarray(encode()))  # type: ignore[operator]

        def blended(
            scorer: HistoryEncoder,
            vectors: torch.Tensor,
            index: faiss.Index,
            rows: torch.Tensor = rows,
            gaps: torch.Tensor = gaps,
            types: torch.Tensor = types,
        ) -> Callable[[], None]:
            """Encode + text profile + one search: what a worker does with a blend."""

            def path() -> None:
                with torch.inference_mode():
                    users = scorer.user_vectors(rows, gaps, types, vectors)
                    profiles = text_profile(text_rows[rows], types, scorer.config.profile_decay)
                    users = torch.cat([users, profiles], dim=1)
                _search(index, np.ascontiguousarray(users.numpy()))

            return path

        blend_path = blended(model, item_vectors, blend_index)
        ensemble_path = blended(ensemble, ensemble_vectors, ensemble_index)

        def pooled_path(histories: History = histories) -> None:
            pooled = text[histories.rows - 1].mean(axis=1)
            pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
            _search(text_index, pooled)

        repeats = max(3, 512 // batch)
        model_ms = _per_user_ms(model_path, batch, repeats)
        pooled_ms = _per_user_ms(pooled_path, batch, repeats)
        figures[f"batch_{batch}"] = {
            "model_ms_per_user": round(model_ms, 4),
            "encode_ms_per_user": round(_per_user_ms(encode_only, batch, repeats), 4),
            "model_with_text_blend_ms_per_user": round(_per_user_ms(blend_path, batch, repeats), 4),
            f"members_{MAX_MEMBERS}_with_text_blend_ms_per_user": round(
                _per_user_ms(ensemble_path, batch, repeats), 4
            ),
            "pooled_baseline_ms_per_user": round(pooled_ms, 4),
        }
        # Ratio of users per second: model path over the pooled baseline.
        result.ratios.append(
            Ratio(f"model_vs_pooled_users_per_s_batch_{batch}", 1.0 / model_ms, 1.0 / pooled_ms)
        )
    result.figures.update(figures)
    result.notes.append(
        "untrained weights (cost does not depend on them); inner-product search with the "
        "live index policy; item vectors are computed once per model version, not per user"
    )
    return result
