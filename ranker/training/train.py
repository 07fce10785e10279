"""Train the click model on a MovieLens-format folder and save the artifact.

Loss: softmax cross-entropy over each group of one clicked and ``negatives``
non-clicked candidates of the same moment, plus pointwise binary cross-entropy
on the same logits. The softmax term is the ranking objective (candidates of
one moment compete, as they do on a homepage, so per-user offsets cancel); the
binary term keeps ``sigmoid(logit)`` a probability — that a candidate drawn as
in training is the clicked one — which the live scorer exposes.

Schedule: first ``warmup_passes`` cheap passes over all examples that train
only the user tower and head on fixed (pretrained) item vectors; then epochs
that also fine-tune the top BERT layer(s): candidate vectors are re-encoded
every step with gradient, history vectors come from an item table refreshed
once per epoch (no gradient through histories). Early stopping on validation
nDCG@10 keeps the best checkpoint, the warm-up one included.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from transformers import AutoModel, AutoTokenizer

from indexer.encoder import default_model_dir, resolve_device
from ranker.eval.metrics import ndcg_at_k, ranked_relevance
from ranker.model.click_model import ClickModel, ClickModelConfig
from ranker.model.item_encoding import LowerStates, cached_lower_states, item_vectors
from ranker.training.data import VAL, Catalog, InteractionLog, Split, load_movielens, make_split
from ranker.training.examples import Examples, build_examples
from ranker.training.histories import UserSequences

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (saved beside the weights)."""

    protocol: str = "temporal"
    epochs: int = 3
    examples_per_epoch: int = 3072
    batch_size: int = 64
    negatives: int = 4
    popular_share: float = 0.0
    bert_lr: float = 1e-4
    lr: float = 2e-3
    weight_decay: float = 0.01
    patience: int = 2
    # Passes over all examples training only user tower and head (item vectors
    # fixed) before fine-tuning BERT: cheap steps, so the head is not random
    # while the expensive item-tower steps run.
    warmup_passes: int = 3
    warmup_batch_size: int = 256
    val_lists: int = 2000
    val_negatives: int = 100
    seed: int = 0
    device: str = "auto"
    threads: int = 2


@dataclass
class TrainReport:
    """What happened in training."""

    epochs_run: int = 0
    best_epoch: int = 0
    best_val_ndcg10: float = 0.0
    initial_val_ndcg10: float = 0.0  # before any step: the pretrained towers, untrained head
    val_ndcg10: list[float] = field(default_factory=list)
    warmup_val_ndcg10: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_examples: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class Prepared:
    """A data folder read and split, shared by train, eval and recommend."""

    catalog: Catalog
    log: InteractionLog
    split: Split
    sequences: UserSequences


def prepare(data_dir: Path, protocol: str) -> Prepared:
    """Load ``data_dir`` and split it under ``protocol``."""
    from ranker.training.item_texts import leak_free_texts

    catalog, interaction_log = load_movielens(data_dir)
    split = make_split(interaction_log, protocol, len(catalog))
    # Tags written after their author's held-out moments never reach any ranker.
    catalog = replace(catalog, texts=leak_free_texts(data_dir, catalog, interaction_log, split))
    return Prepared(catalog, interaction_log, split, UserSequences(interaction_log))


def autocast_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA; float32 on CPU (where bf16 training is emulated and slow)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def example_tensors(
    examples: Examples, table: torch.Tensor, device: torch.device
) -> dict[str, torch.Tensor]:
    """History vectors (from ``table``), weights, ages, mask and features on ``device``."""
    histories = examples.histories
    items = torch.from_numpy(histories.items).to(device)
    return {
        "history": table[items],
        "weights": torch.from_numpy(histories.weights).to(device),
        "age_days": torch.from_numpy(histories.age_days).to(device),
        "mask": torch.from_numpy(histories.mask).to(device),
        "features": torch.from_numpy(examples.features).to(device),
    }


def list_logits(
    model: ClickModel,
    examples: Examples,
    table: torch.Tensor,
    device: torch.device,
    batch_size: int = 256,
) -> np.ndarray:
    """Logits of every example's candidates, all vectors read from ``table``."""
    out = np.empty(examples.candidates.shape, dtype=np.float32)
    dtype = autocast_dtype(device)
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32),
    ):
        for start in range(0, len(examples), batch_size):
            rows = np.arange(start, min(start + batch_size, len(examples)))
            batch = examples.take(rows)
            tensors = example_tensors(batch, table, device)
            candidates = table[torch.from_numpy(batch.candidates).to(device)]
            logits = model.logits(
                tensors["history"],
                tensors["weights"],
                tensors["age_days"],
                tensors["mask"],
                candidates,
                tensors["features"],
            )
            out[rows] = logits.float().cpu().numpy()
    return out


def mean_list_ndcg(logits: np.ndarray, k: int = 10) -> float:
    """Mean nDCG@k of lists whose column 0 is the clicked item; ties rank it last."""
    labels = np.zeros(logits.shape[1], dtype=np.int8)
    labels[-1] = 1
    reordered = np.roll(logits, -1, axis=1)  # clicked item last: ties never flatter it
    return float(np.mean([ndcg_at_k(ranked_relevance(row, labels), k) for row in reordered]))


def _step_loss(
    model: ClickModel,
    batch: Examples,
    lower: LowerStates,
    table: torch.Tensor,
    device: torch.device,
    *,
    tune_items: bool = True,
) -> torch.Tensor:
    candidates = torch.from_numpy(batch.candidates)
    if tune_items:
        unique, inverse = torch.unique(candidates, return_inverse=True)
        states, mask = lower.batch(unique, device)
        candidate_vectors = model.item_tower.upper(states, mask)[inverse.to(device)]
    else:  # head warm-up: item vectors fixed, only user tower and head learn
        candidate_vectors = table[candidates.to(device)]
    tensors = example_tensors(batch, table, device)
    logits = model.logits(
        tensors["history"],
        tensors["weights"],
        tensors["age_days"],
        tensors["mask"],
        candidate_vectors,
        tensors["features"],
    )
    logits = logits.float()
    clicked = torch.zeros(len(batch), dtype=torch.long, device=device)
    labels = torch.zeros_like(logits)
    labels[:, 0] = 1.0
    softmax_loss = torch.nn.functional.cross_entropy(logits, clicked)
    binary_loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    return softmax_loss + binary_loss


def train_click_model(
    prepared: Prepared,
    model_config: ClickModelConfig,
    config: TrainConfig,
    *,
    cache_dir: Path | None = None,
    progress: bool = True,
    shown: Mapping[int, Sequence[int]] | None = None,
) -> tuple[ClickModel, TrainReport, LowerStates]:
    """Fine-tune a click model; returns the best epoch's model (by validation nDCG@10).

    ``shown`` (log position -> items on the homepage just before) turns served
    but skipped items into the negatives of the training examples.
    """
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    torch.set_num_threads(max(1, config.threads))
    device = resolve_device(config.device)
    dtype = autocast_dtype(device)
    base_dir = default_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    bert = AutoModel.from_pretrained(base_dir, local_files_only=True, add_pooling_layer=False)
    model = ClickModel(bert, model_config).to(device)
    lower = cached_lower_states(
        model.item_tower,
        tokenizer,
        prepared.catalog.texts,
        max_tokens=model_config.max_text_tokens,
        device=device,
        dtype=dtype,
        cache_dir=cache_dir,
    )
    train = build_examples(
        prepared.catalog,
        prepared.log,
        prepared.split,
        negatives=config.negatives,
        popular_share=config.popular_share,
        max_history=model_config.max_history,
        seed=config.seed,
        sequences=prepared.sequences,
        shown=shown,
    )
    val = build_examples(
        prepared.catalog,
        prepared.log,
        prepared.split,
        role=VAL,
        negatives=config.val_negatives,
        popular_share=0.0,
        max_history=model_config.max_history,
        seed=config.seed + 1,
        sequences=prepared.sequences,
    )
    rng = np.random.default_rng(config.seed)
    if len(val) > config.val_lists:
        val = val.take(np.sort(rng.choice(len(val), config.val_lists, replace=False)))
    if len(train) == 0:
        raise ValueError("no training examples: the data has no positive event with history")
    bert_params = [p for p in model.item_tower.bert.parameters() if p.requires_grad]
    bert_ids = {id(p) for p in bert_params}
    other_params = [p for p in model.parameters() if p.requires_grad and id(p) not in bert_ids]
    optimizer = torch.optim.AdamW(
        [{"params": bert_params, "lr": config.bert_lr}, {"params": other_params, "lr": config.lr}],
        weight_decay=config.weight_decay,
    )
    report = TrainReport(train_examples=len(train))

    def refresh() -> torch.Tensor:
        model.eval()
        table = item_vectors(model.item_tower, lower, device=device, dtype=dtype)
        return torch.from_numpy(table).to(device)

    table = refresh()
    best_state = copy.deepcopy(model.state_dict())
    report.best_val_ndcg10 = (
        mean_list_ndcg(list_logits(model, val, table, device)) if len(val) else 0.0
    )
    report.initial_val_ndcg10 = report.best_val_ndcg10
    log.info("epoch 0 (untrained head): val nDCG@10 %.4f", report.best_val_ndcg10)
    for warmup in range(config.warmup_passes):
        model.train()
        order = rng.permutation(len(train))
        losses = []
        for start in tqdm(
            range(0, len(order), config.warmup_batch_size),
            desc=f"head warm-up {warmup + 1}",
            disable=not progress,
            unit="batch",
        ):
            batch = train.take(order[start : start + config.warmup_batch_size])
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                loss = _step_loss(model, batch, lower, table, device, tune_items=False)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        model.eval()
        val_ndcg = mean_list_ndcg(list_logits(model, val, table, device)) if len(val) else 0.0
        log.info(
            "head warm-up %d: train loss %.4f, val nDCG@10 %.4f",
            warmup + 1,
            float(np.mean(losses)),
            val_ndcg,
        )
        report.warmup_val_ndcg10.append(val_ndcg)
    if config.warmup_passes:
        best_state = copy.deepcopy(model.state_dict())
        report.best_val_ndcg10 = report.warmup_val_ndcg10[-1]
    stale = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        count = min(config.examples_per_epoch, len(train))
        chosen = rng.choice(len(train), count, replace=False)
        losses = []
        batches = range(0, count, config.batch_size)
        for start in tqdm(batches, desc=f"epoch {epoch}", disable=not progress, unit="batch"):
            batch = train.take(chosen[start : start + config.batch_size])
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                loss = _step_loss(model, batch, lower, table, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            losses.append(float(loss.detach()))
        table = refresh()
        val_ndcg = mean_list_ndcg(list_logits(model, val, table, device)) if len(val) else 0.0
        report.epochs_run = epoch
        report.train_loss.append(float(np.mean(losses)))
        report.val_ndcg10.append(val_ndcg)
        log.info(
            "epoch %d: train loss %.4f, val nDCG@10 %.4f",
            epoch,
            losses and np.mean(losses),
            val_ndcg,
        )
        if val_ndcg > report.best_val_ndcg10:
            report.best_val_ndcg10, report.best_epoch, stale = val_ndcg, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= config.patience:
                log.info("early stop: no better validation nDCG@10 for %d epochs", stale)
                break
    model.load_state_dict(best_state)
    model.eval()
    report.seconds = time.perf_counter() - started
    return model, report, lower
