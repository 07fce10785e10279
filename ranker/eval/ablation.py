"""The sequence model's ablation, trained in the run: text + id, id only, text only.

Each variant is trained once per seed on the same split and evaluated on the
same test moments as the baselines, so the in-house id-only row (a SASRec with
full-catalog cross-entropy) is the peer measured in the same run. Rows report
the mean and the population standard deviation over seeds.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ranker.eval.evaluate import METRIC_NAMES, EvalSet, evaluate_ranker
from ranker.eval.sequence_ranker import SequenceRanker
from ranker.training.sequence_fit import (
    default_dropout,
    fit_sequence_model,
    text_vectors,
    training_timelines,
    variant_config,
)
from ranker.training.sequence_train import SequenceTrainConfig
from ranker.training.train import Prepared

log = logging.getLogger(__name__)

# Report names of the variants.
ROW_NAMES = {
    "both": "model",
    "ids": "id_only",
    "text": "text_only",
    "query": "model_text_query",
    "top-layer": "model_tuned_top_layer",
    "lora": "model_tuned_lora",
}


@dataclass
class VariantRuns:
    """One variant's metrics per seed and its training cost."""

    per_seed: list[dict[str, float]] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)
    text_blends: list[float] = field(default_factory=list)
    members: list[int] = field(default_factory=list)
    # What picks between variants: validation nDCG@10 of the model as saved
    # (with the text blend training chose for it).
    val_ndcg10: list[float] = field(default_factory=list)

    def mean(self) -> dict[str, float]:
        """Mean of every metric over seeds."""
        return {name: float(np.mean([run[name] for run in self.per_seed])) for name in METRIC_NAMES}

    def spread(self) -> dict[str, float]:
        """Standard deviation of every metric over seeds."""
        return {name: float(np.std([run[name] for run in self.per_seed])) for name in METRIC_NAMES}


def run_ablation(
    prepared: Prepared,
    eval_set: EvalSet,
    *,
    variants: list[str],
    seeds: list[int],
    train_config: SequenceTrainConfig,
    dropout: float | None = None,
    cache_dir: Path | None,
    device: str = "auto",
    progress: bool = False,
) -> dict[str, VariantRuns]:
    """Train and evaluate every variant for every seed; keyed by report row name."""
    vectors = text_vectors(list(prepared.catalog.texts), cache_dir, device)
    results: dict[str, VariantRuns] = {}
    chosen_dropout = default_dropout(training_timelines(prepared)) if dropout is None else dropout
    for variant in variants:
        runs = results.setdefault(ROW_NAMES[variant], VariantRuns())
        for seed in seeds:
            started = time.perf_counter()
            config = variant_config(
                variant,
                items=len(prepared.catalog),
                text_dim=int(vectors.vectors.shape[1]),
                dropout=chosen_dropout,
            )
            model, report = fit_sequence_model(
                prepared,
                vectors,
                config,
                replace(train_config, seed=seed),
                cache_dir=cache_dir,
                progress=progress,
            )
            outcome = evaluate_ranker(
                SequenceRanker(model, ROW_NAMES[variant]), eval_set, k=10, progress=False
            )
            runs.per_seed.append(outcome.metrics)
            runs.train_seconds.append(round(time.perf_counter() - started, 1))
            runs.best_epochs.append(report.best_epoch)
            runs.text_blends.append(report.text_blend)
            runs.members.append(report.members)
            runs.val_ndcg10.append(round(report.final_val_ndcg10, 4))
            if variant != "ids":
                # The same trained model ranking by user · item alone: what
                # the validation-chosen text blend adds.
                plain = copy.deepcopy(model)
                plain.config = replace(plain.config, text_blend=0.0)
                name = f"{ROW_NAMES[variant]}_without_blend"
                without = evaluate_ranker(
                    SequenceRanker(plain, name), eval_set, k=10, progress=False
                )
                results.setdefault(name, VariantRuns()).per_seed.append(without.metrics)
            log.info(
                "%s seed %d: hit@10 %.4f, ndcg@10 %.4f (%.0fs)",
                variant,
                seed,
                outcome.metrics["hit@10"],
                outcome.metrics["full_ndcg@10"],
                runs.train_seconds[-1],
            )
            if progress:
                print(
                    f"{ROW_NAMES[variant]} seed {seed}: hit@10 {outcome.metrics['hit@10']:.4f}"
                    f", ndcg@10 {outcome.metrics['full_ndcg@10']:.4f} "
                    f"(best epoch {report.best_epoch}, {runs.train_seconds[-1]:.0f}s)",
                    flush=True,
                )
    return results


def spread_table(
    means: dict[str, dict[str, float]],
    spreads: dict[str, dict[str, float]],
    metrics: tuple[str, ...] = ("hit@10", "full_ndcg@10", "full_mrr@10", "auc"),
) -> str:
    """Fixed-width table of ``mean ± std`` per row (rows without spread show the mean)."""
    header = f"{'ranker':<16}" + "".join(f"{name:>20}" for name in metrics)
    lines = [header, "-" * len(header)]
    for name, values in means.items():
        cells = []
        for metric in metrics:
            spread = spreads.get(name, {}).get(metric)
            cell = f"{values[metric]:.4f}" + (f" ± {spread:.4f}" if spread is not None else "")
            cells.append(f"{cell:>20}")
        lines.append(f"{name:<16}" + "".join(cells))
    return "\n".join(lines)
