"""Offline evaluation of the click model against baselines on one split.

For every test event that is a positive (temporal: a click; leave-last-out: the
user's last interaction) and has at least one earlier interaction by the user:

* impression list: the event's item plus ``list_negatives`` items drawn
  uniformly from those the user never interacts with in the whole log; AUC,
  MRR, nDCG@5 and nDCG@10 over that list (the event's item is placed last,
  so ties never flatter a ranker);
* full ranking: every catalog item except those the user interacted with
  before the event; Hit@10, nDCG@10 and MRR@10 of the event's item (ties by
  catalog order).

The history is everything the user did before the event; item counts (for
popularity, item-kNN and the model's features) are frozen at the split time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ranker.eval.baselines import CatalogRanker
from ranker.eval.metrics import auc, ndcg_at_k, ranked_relevance, reciprocal_rank
from ranker.model.click_model import ClickModel
from ranker.model.features import ItemStats
from ranker.training.data import TEST, Catalog
from ranker.training.histories import Histories, features_for
from ranker.training.train import Prepared, autocast_dtype

log = logging.getLogger(__name__)

METRIC_NAMES = ("auc", "mrr", "ndcg@5", "ndcg@10", "hit@10", "full_ndcg@10", "full_mrr@10")


@dataclass(frozen=True)
class EvalSet:
    """The scored moments of one evaluation and what every ranker may know."""

    positions: np.ndarray  # (Q,) event positions in the log
    targets: np.ndarray  # (Q,) item rows the users picked
    histories: Histories
    seen: list[np.ndarray]  # item rows each user touched before the event
    negatives: np.ndarray  # (Q, list_negatives) uniform non-interacted items
    stats: ItemStats  # counts frozen at the split time
    reference_ts: int  # when the counts were frozen

    def __len__(self) -> int:
        return len(self.positions)


def build_eval_set(
    prepared: Prepared,
    *,
    role: int = TEST,
    max_history: int = 50,
    list_negatives: int = 100,
    seed: int = 0,
) -> EvalSet:
    """Collect the test moments of ``prepared.split`` (see the module docstring)."""
    log_, split, sequences = prepared.log, prepared.split, prepared.sequences
    item_count = len(prepared.catalog)
    known = split.roles < role
    stats = ItemStats.from_events(log_, known, item_count)
    reference_ts = int(log_.ts[known].max()) if known.any() else 0
    ever = [set(log_.items[p].tolist()) for p in sequences.by_user]
    rng = np.random.default_rng(seed)
    # A small catalog cannot give every list the full number of negatives.
    fitting = item_count - max((len(items) for items in ever), default=0)
    if fitting < list_negatives:
        log.warning(
            "only %d negatives per list fit this catalog (asked for %d)",
            max(fitting, 0),
            list_negatives,
        )
        list_negatives = max(fitting, 0)
    if list_negatives < 1:
        raise ValueError("catalog too small: some user has interacted with every item")
    position_array, seen = sequences.held_out_moments(split, role)
    negatives = []
    for position in position_array.tolist():
        user_items = ever[int(log_.users[position])]
        drawn: list[int] = []
        while len(drawn) < list_negatives:
            item = int(rng.integers(item_count))
            if item not in user_items and item not in drawn:
                drawn.append(item)
        negatives.append(drawn)
    return EvalSet(
        positions=position_array,
        targets=log_.items[position_array].astype(np.int64),
        histories=sequences.histories(position_array, max_history),
        seen=seen,
        negatives=np.array(negatives, dtype=np.int64).reshape(-1, list_negatives),
        stats=stats,
        reference_ts=reference_ts,
    )


class ModelRanker:
    """The click model as a catalog ranker (item vectors computed once)."""

    name = "model"

    def __init__(
        self,
        model: ClickModel,
        item_vectors: np.ndarray,
        catalog: Catalog,
        stats: ItemStats,
        reference_ts: int,
    ) -> None:
        self._model = model
        self._device = next(model.parameters()).device
        self._items = torch.from_numpy(item_vectors).to(self._device)
        self._catalog = catalog
        all_items = np.arange(len(catalog))
        self._popularity = stats.popularity[None, :]
        self._trending = stats.trending(all_items, float(reference_ts))[None, :]
        self._first_ts = stats.first_ts[None, :]

    def scores(self, histories: Histories, positions: np.ndarray) -> np.ndarray:
        """Click logits of the whole catalog for each history."""
        features = features_for(
            self._catalog,
            histories,
            np.arange(len(self._catalog)),
            popularity=self._popularity,
            trending=self._trending,
            first_ts=self._first_ts,
        )
        dtype = autocast_dtype(self._device)
        with (
            torch.inference_mode(),
            torch.autocast(self._device.type, dtype=dtype, enabled=dtype != torch.float32),
        ):
            items = torch.from_numpy(histories.items).to(self._device)
            logits = self._model.logits(
                self._items[items],
                torch.from_numpy(histories.weights).to(self._device),
                torch.from_numpy(histories.age_days).to(self._device),
                torch.from_numpy(histories.mask).to(self._device),
                self._items,
                torch.from_numpy(features).to(self._device),
            )
        return logits.float().cpu().numpy().astype(np.float64)


@dataclass
class RankerResult:
    """Metrics of one ranker and its top-K lists (rows as in the EvalSet)."""

    metrics: dict[str, float]
    top_items: np.ndarray  # (Q, K) item rows, best first


def full_ranking(
    scores: np.ndarray, seen: list[np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` item rows per row of ``scores`` without ``seen`` items, and every item's rank.

    Ties keep catalog order (stable sort), the same in ``eval`` and ``recommend``.
    """
    masked = scores.astype(np.float64, copy=True)
    for row, items in enumerate(seen):
        masked[row, items] = -np.inf
    order = np.argsort(-masked, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(order.shape[1])[None, :].repeat(len(order), 0), 1)
    return order[:, :k], ranks


def evaluate_ranker(
    ranker: CatalogRanker,
    eval_set: EvalSet,
    *,
    k: int = 100,
    batch_size: int = 64,
    progress: bool = True,
) -> RankerResult:
    """All metrics of ``ranker`` on ``eval_set``, plus its top-``k`` lists."""
    per_metric: dict[str, list[float]] = {name: [] for name in METRIC_NAMES}
    top_items = np.empty((len(eval_set), k), dtype=np.int64)
    labels = np.zeros(eval_set.negatives.shape[1] + 1, dtype=np.int8)
    labels[-1] = 1
    starts = range(0, len(eval_set), batch_size)
    for start in tqdm(starts, desc=ranker.name, disable=not progress, unit="batch"):
        rows = np.arange(start, min(start + batch_size, len(eval_set)))
        scores = ranker.scores(eval_set.histories.take(rows), eval_set.positions[rows])
        targets = eval_set.targets[rows]
        lists = np.concatenate([eval_set.negatives[rows], targets[:, None]], axis=1)
        list_scores = np.take_along_axis(scores, lists, axis=1)
        for row_scores in list_scores:
            ranked = ranked_relevance(row_scores, labels)
            per_metric["auc"].append(auc(row_scores, labels))
            per_metric["mrr"].append(reciprocal_rank(ranked))
            per_metric["ndcg@5"].append(ndcg_at_k(ranked, 5))
            per_metric["ndcg@10"].append(ndcg_at_k(ranked, 10))
        top, ranks = full_ranking(scores, [eval_set.seen[r] for r in rows], k)
        top_items[rows] = top
        target_ranks = ranks[np.arange(len(rows)), targets]
        per_metric["hit@10"].extend((target_ranks < 10).astype(float).tolist())
        per_metric["full_ndcg@10"].extend(
            np.where(target_ranks < 10, 1.0 / np.log2(target_ranks + 2.0), 0.0).tolist()
        )
        per_metric["full_mrr@10"].extend(
            np.where(target_ranks < 10, 1.0 / (target_ranks + 1.0), 0.0).tolist()
        )
    metrics = {
        name: float(np.mean(values)) if values else 0.0 for name, values in per_metric.items()
    }
    return RankerResult(metrics, top_items)


def report_table(results: dict[str, dict[str, float]]) -> str:
    """A fixed-width text table, one row per ranker."""
    header = f"{'model':<16}" + "".join(f"{name:>14}" for name in METRIC_NAMES)
    lines = [header, "-" * len(header)]
    for name, metrics in results.items():
        lines.append(f"{name:<16}" + "".join(f"{metrics[m]:>14.4f}" for m in METRIC_NAMES))
    return "\n".join(lines)


def save_plot(results: dict[str, dict[str, float]], path: Any, title: str) -> None:
    """Grouped bar chart of every metric per ranker, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    width = 0.8 / max(1, len(names))
    positions = np.arange(len(METRIC_NAMES))
    figure, axes = plt.subplots(figsize=(11, 4.5))
    for n, name in enumerate(names):
        values = [results[name][metric] for metric in METRIC_NAMES]
        axes.bar(positions + n * width, values, width, label=name)
    axes.set_xticks(positions + width * (len(names) - 1) / 2, METRIC_NAMES)
    axes.set_ylabel("score")
    axes.set_title(title)
    axes.legend(ncols=len(names), fontsize="small", loc="upper right")
    axes.set_ylim(0, 1.05)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
