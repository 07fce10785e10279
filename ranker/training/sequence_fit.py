"""From a prepared data folder to a trained sequence model: texts, timelines, training.

The pieces every caller needs in the same way (``homefeed train``, the
evaluation's in-house ablation rows, tests): frozen BERT vectors of the
leak-free item texts (cached on disk by a hash of the texts and the encoder),
each user's training timeline, the validation moments for early stopping, and
which items have an id row.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ranker.model.sequence import SequenceConfig, SequenceModel
from ranker.model.sequence_ensemble import ScoringModel, SequenceEnsemble
from ranker.model.sequence_input import Timeline
from ranker.model.sequence_variants import TUNED_VARIANTS, VARIANTS
from ranker.training.data import TRAIN, VAL
from ranker.training.sequence_batches import history_from_eval
from ranker.training.sequence_train import (
    AUTO,
    SequenceTrainConfig,
    SequenceTrainReport,
    catalog_scores,
    choose_and_report_blend,
    full_ndcg10,
    train_sequence_model,
)
from ranker.training.train import Prepared

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextVectors:
    """Frozen encoder vectors of the catalog texts and the encoder that made them."""

    vectors: np.ndarray  # (items, dim) float32, unit length
    encoder_version: str


def text_vectors(
    texts: list[str], cache_dir: Path | None, device: str = "auto", *, progress: bool = False
) -> TextVectors:
    """The pretrained MiniLM over ``texts``; read from ``cache_dir`` when seen before."""
    from indexer.encoder import TextEncoder

    encoder = TextEncoder(device=device)
    digest = hashlib.sha256(encoder.version.encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    path = cache_dir / f"text-{digest.hexdigest()[:16]}.npy" if cache_dir else None
    if path is not None and path.exists():
        try:
            return TextVectors(np.load(path), encoder.version)
        except (OSError, ValueError):
            log.warning("unreadable text vector cache %s; re-encoding", path)
    log.info("encoding %d item texts with %s", len(texts), encoder.version)
    if progress:
        print(f"encoding {len(texts):,} item texts with {encoder.version} (cached after)…")
    vectors = encoder.encode(texts).astype(np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".tmp.npy")
        np.save(partial, vectors)
        partial.replace(path)
    return TextVectors(vectors, encoder.version)


def training_timelines(prepared: Prepared) -> list[Timeline]:
    """Each user's training events in time order."""
    log_, split = prepared.log, prepared.split
    timelines = []
    for positions in prepared.sequences.by_user:
        kept = positions[split.roles[positions] == TRAIN]
        timelines.append(
            Timeline(log_.items[kept].astype(np.int64), log_.ts[kept], log_.types[kept])
        )
    return timelines


def items_with_ids(prepared: Prepared) -> np.ndarray:
    """True for every catalog item that has a training interaction."""
    log_, split = prepared.log, prepared.split
    has_id = np.zeros(len(prepared.catalog), dtype=bool)
    has_id[log_.items[split.roles == TRAIN]] = True
    return has_id


# Dropout by how long users' training sequences are, as SASRec (Kang & McAuley,
# 2018) set it: 0.2 on dense MovieLens, 0.5 on sparse Amazon and Steam logs,
# where a short sequence's few positions overfit within a few epochs.
# Validation agreed on both shared sets (seed 0, docs/evaluation.md):
# amazon-toys-2014 (median 4 training interactions per user) 0.0799 at 0.5
# against 0.0785 at 0.2; ml-latest-small (median 68.5) the other way round.
SPARSE_MEDIAN_LENGTH = 20
DENSE_DROPOUT = 0.2
SPARSE_DROPOUT = 0.5


def is_sparse(timelines: list[Timeline]) -> bool:
    """Whether the median user has fewer than SPARSE_MEDIAN_LENGTH training interactions."""
    lengths = [len(timeline.items) for timeline in timelines if len(timeline.items)]
    return bool(lengths) and float(np.median(lengths)) < SPARSE_MEDIAN_LENGTH


def default_dropout(timelines: list[Timeline]) -> float:
    """The Transformer's dropout for these training sequences (see SPARSE_MEDIAN_LENGTH)."""
    return SPARSE_DROPOUT if is_sparse(timelines) else DENSE_DROPOUT


@dataclass(frozen=True)
class ValidationMoments:
    """The validation events early stopping ranks, with what each user had seen."""

    positions: np.ndarray  # (Q,) event positions in the log
    targets: np.ndarray  # (Q,) item rows
    seen: list[np.ndarray]  # item rows the user touched before each event


def validation_moments(
    prepared: Prepared, max_events: int = 5000, seed: int = 0
) -> ValidationMoments:
    """Positive validation events with history whose item is new to the user (seeded subset)."""
    positions, seen = prepared.sequences.held_out_moments(prepared.split, VAL)
    if len(positions) > max_events:
        rng = np.random.default_rng(seed)
        kept = np.sort(rng.choice(len(positions), max_events, replace=False))
        positions, seen = positions[kept], [seen[i] for i in kept.tolist()]
    return ValidationMoments(positions, prepared.log.items[positions].astype(np.int64), seen)


# Member k of an ensemble trains with seed ``seed + k * MEMBER_SEED_STRIDE``.
MEMBER_SEED_STRIDE = 7919


def fit_sequence_model(
    prepared: Prepared,
    vectors: TextVectors,
    model_config: SequenceConfig,
    train_config: SequenceTrainConfig,
    *,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> tuple[ScoringModel, SequenceTrainReport]:
    """Build and train a sequence model (or an ensemble) on ``prepared``'s training events.

    The first member's first epoch decides how many members share the budget
    (``SequenceTrainConfig.members``); the others train in turn with their own
    seeds, and the text blend is chosen once, for the sum of their scores.
    A config that tunes the text encoder gives each member its own tuned top
    (its lower layers' states cached under ``cache_dir``).
    """
    val = validation_moments(prepared, seed=train_config.seed)
    if not len(val.positions):
        raise ValueError("no validation events with history: cannot early-stop")
    histories = prepared.sequences.histories(val.positions, model_config.max_length)
    val_history = history_from_eval(histories, model_config.max_length)
    timelines = training_timelines(prepared)
    has_id = torch.from_numpy(items_with_ids(prepared))
    # The learned text term is one model's option: it is never split into members.
    # Nor is the budget on sparse logs under AUTO: there a single training was
    # still improving when the budget ended (amazon-toys-2014, best epochs
    # 20-30 of ~30), so a share of it would leave every member short.
    single = (
        model_config.learns_text_term
        or train_config.members == 1
        or (train_config.members == AUTO and is_sparse(timelines))
    )

    tuners = None
    if model_config.text_tuning != "frozen":
        from ranker.training.text_tuning import TunerFactory

        tuners = TunerFactory(model_config.text_tuning, prepared.catalog.texts, cache_dir)

    def member(config: SequenceTrainConfig) -> tuple[SequenceModel, SequenceTrainReport]:
        torch.manual_seed(config.seed)
        model = SequenceModel(model_config)
        model.items.set_items(torch.from_numpy(vectors.vectors), has_id)
        report = train_sequence_model(
            model,
            timelines,
            val_history,
            val.seen,
            val.targets,
            config,
            progress=progress,
            choose_blend=single,
            tuner=None if tuners is None else tuners(),
        )
        return model, report

    first_config = replace(train_config, members=1) if single else train_config
    first, report = member(first_config)
    if report.members == 1:
        if not single:
            choose_and_report_blend(first, val_history, val.seen, val.targets, report)
        return first, report
    budget = train_config.max_seconds / report.members
    members, reports = [first], [report]
    for k in range(1, report.members):
        if progress:
            print(f"member {k + 1} of {report.members} ({budget:.0f}s)…", flush=True)
        seed = train_config.seed + k * MEMBER_SEED_STRIDE
        model, member_report = member(
            replace(train_config, members=1, seed=seed, max_seconds=budget)
        )
        members.append(model)
        reports.append(member_report)
    ensemble = SequenceEnsemble.of(members)
    report.member_best_epochs = [r.best_epoch for r in reports]
    report.member_val_ndcg10 = [r.best_val_ndcg10 for r in reports]
    report.best_val_ndcg10 = full_ndcg10(
        catalog_scores(ensemble, val_history), val.seen, val.targets
    )
    report.seconds = sum(r.seconds for r in reports)
    log.info(
        "%d members (val nDCG@10 %s): the sum %.4f",
        report.members,
        ", ".join(f"{ndcg:.4f}" for ndcg in report.member_val_ndcg10),
        report.best_val_ndcg10,
    )
    choose_and_report_blend(ensemble, val_history, val.seen, val.targets, report)
    return ensemble, report


def variant_config(variant: str, **shape: object) -> SequenceConfig:
    """The model config of one ablation variant (see ``VARIANTS``)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return SequenceConfig(
        use_text=variant != "ids",
        use_ids=variant != "text",
        text_query=variant == "query",
        text_tuning=variant if variant in TUNED_VARIANTS else "frozen",
        **shape,  # type: ignore[arg-type]
    )


def train_and_save(
    prepared: Prepared,
    out_dir: Path,
    *,
    variant: str = "both",
    dropout: float | None = None,
    train_config: SequenceTrainConfig,
    cache_dir: Path | None,
    data_facts: dict[str, object],
    device: str = "auto",
    progress: bool = False,
) -> tuple[str, SequenceTrainReport]:
    """Train one variant on ``prepared`` and write its artifact; returns (version, report)."""
    from dataclasses import asdict

    from ranker.model.sequence_artifact import save_sequence_artifact

    vectors = text_vectors(list(prepared.catalog.texts), cache_dir, device, progress=progress)
    model_config = variant_config(
        variant,
        items=len(prepared.catalog),
        text_dim=int(vectors.vectors.shape[1]),
        dropout=default_dropout(training_timelines(prepared)) if dropout is None else dropout,
    )
    model, report = fit_sequence_model(
        prepared, vectors, model_config, train_config, cache_dir=cache_dir, progress=progress
    )
    version = save_sequence_artifact(
        model,
        list(prepared.catalog.item_ids),
        vectors.encoder_version,
        out_dir,
        {
            "kind": "sequence",
            "variant": variant,
            "train": asdict(train_config),
            "report": report.to_dict(),
            "split": prepared.split.describe(),
            "data": data_facts,
        },
    )
    return version, report
