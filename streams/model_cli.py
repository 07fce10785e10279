"""``homefeed train`` and ``homefeed recommend`` (and the parsers of all three offline commands).

Heavy imports (torch, transformers) stay inside the command functions so
``homefeed --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ranker.model.sequence_variants import VARIANTS
from streams.eval_cli import check_dropouts, check_model_dir, cmd_eval, data_facts
from streams.settings import DEFAULT_DATASET
from streams.usage import usage_error

if TYPE_CHECKING:
    from streams.settings import Settings

log = logging.getLogger(__name__)

DATA_HELP = f"(default: $HOMEFEED_DATASETS_DIR/{DEFAULT_DATASET})"
PROTOCOL_CHOICES = ("temporal", "leave-last-out", "new-items")
RANKER_NAMES = ("model", "random", "popularity", "zero_shot_bert", "item_knn")


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    """Train the recommender (the sequence model, or the click model) and save the artifact."""
    if args.kind == "sequence":
        return cmd_train_sequence(args, settings)
    from dataclasses import asdict

    from ranker.model.artifacts import save_artifact
    from ranker.model.click_model import ClickModelConfig
    from ranker.training.train import TrainConfig, prepare, train_click_model

    prepared = prepare(args.data, args.protocol)
    config = TrainConfig(
        protocol=args.protocol,
        epochs=args.epochs,
        examples_per_epoch=args.examples_per_epoch,
        batch_size=args.batch_size or 64,
        negatives=args.negatives,
        popular_share=args.popular_share,
        seed=args.seed,
        warmup_passes=args.warmup_passes,
        device=args.device or settings.device,
        threads=args.threads,
    )
    model_config = ClickModelConfig(trainable_layers=args.trainable_layers)
    shown = None
    if args.from_served:
        from ranker.training.served_data import shown_before
        from streams.served_log import read_served
        from streams.topics import TopicNames

        topic = TopicNames.from_settings(settings).served
        served = read_served(settings.kafka, topic)
        shown = shown_before(served, prepared.catalog, prepared.log)
        print(
            f"{len(served)} served homepages from {topic}: "
            f"{len(shown)} events had a homepage shown just before them"
        )
    model, report, _ = train_click_model(
        prepared,
        model_config,
        config,
        cache_dir=settings.data_dir / "cache",
        progress=sys.stderr.isatty() or args.progress,
        shown=shown,
    )
    from transformers import AutoTokenizer

    from indexer.encoder import default_model_dir

    tokenizer = AutoTokenizer.from_pretrained(default_model_dir(), local_files_only=True)
    version = save_artifact(
        model,
        tokenizer,
        args.out,
        {
            "train": asdict(config),
            "report": report.to_dict(),
            "split": prepared.split.describe(),
            "data": {"folder": str(args.data), **data_facts(prepared)},
        },
    )
    print(
        f"model {version} saved to {args.out}: best epoch {report.best_epoch}/"
        f"{report.epochs_run}, val nDCG@10 {report.best_val_ndcg10:.4f}, "
        f"{report.train_examples} training examples, {report.seconds:.0f}s"
    )
    return 0


def cmd_train_sequence(args: argparse.Namespace, settings: Settings) -> int:
    """Train the next-item sequence model and save the artifact."""
    from ranker.training.sequence_fit import train_and_save
    from ranker.training.sequence_train import SequenceTrainConfig
    from ranker.training.train import prepare

    if args.from_served:
        usage_error("--from-served trains the click model: add --kind click")
    check_dropouts(args)
    prepared = prepare(args.data, args.protocol)
    config = SequenceTrainConfig(
        protocol=args.protocol,
        seed=args.seed,
        max_seconds=args.max_seconds,
        threads=args.threads,
        **({"batch_size": args.batch_size} if args.batch_size else {}),
        **({"id_dropout": args.id_dropout} if args.id_dropout is not None else {}),
        **({"members": args.members} if args.members is not None else {}),
    )
    version, report = train_and_save(
        prepared,
        args.out,
        variant=args.variant,
        dropout=args.dropout,
        train_config=config,
        cache_dir=settings.data_dir / "cache",
        data_facts={"folder": str(args.data), **data_facts(prepared)},
        device=args.device or settings.device,
        progress=args.progress,
    )
    print(
        f"model {version} saved to {args.out}: best epoch {report.best_epoch}/"
        f"{report.epochs_run}, val nDCG@10 {report.best_val_ndcg10:.4f}, "
        f"{report.windows} training windows, {report.seconds:.0f}s"
        + (f", {report.members} members" if report.members > 1 else "")
    )
    return 0


def cmd_recommend(args: argparse.Namespace, settings: Settings) -> int:
    """Write each test user's top-K recommendations as JSON lines."""
    from ranker.eval.evaluate import build_eval_set, evaluate_ranker
    from ranker.eval.recommend import (
        BASELINES,
        build_rankers,
        history_length,
        write_recommendations,
    )
    from ranker.training.train import prepare

    is_baseline = args.model in BASELINES
    if not is_baseline:
        check_model_dir(Path(args.model))
    prepared = prepare(args.data, args.protocol)
    eval_set = build_eval_set(
        prepared,
        list_negatives=args.list_negatives,
        seed=args.seed,
        max_history=history_length(None if is_baseline else Path(args.model)),
    )
    name = args.model if is_baseline else "model"
    rankers = build_rankers(
        [name],
        prepared,
        eval_set,
        model_dir=None if is_baseline else Path(args.model),
        device=args.device or settings.device,
        cache_dir=settings.data_dir / "cache",
        seed=args.seed,
    )
    result = evaluate_ranker(rankers[name], eval_set, k=args.k, progress=sys.stderr.isatty())
    lines = write_recommendations(args.out, prepared, eval_set, result, args.k)
    print(
        f"wrote {lines} users' top-{args.k} to {args.out} "
        f"(hit@10 {result.metrics['hit@10']:.4f}, ndcg@10 {result.metrics['full_ndcg@10']:.4f})"
    )
    return 0


def add_dropout_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dropout``, ``--id-dropout``, ``--members``: for ``train`` and ``eval --ablation``."""
    parser.add_argument(
        "--dropout",
        type=float,
        default=None,
        help="sequence: dropout in the Transformer (default: 0.5 where the median "
        "user has under 20 training interactions, else 0.2)",
    )
    parser.add_argument(
        "--id-dropout",
        type=float,
        default=None,
        help="sequence: share of item-id rows dropped per training step (default 0.1)",
    )
    parser.add_argument(
        "--members",
        type=int,
        default=None,
        help="sequence: independently trained models summed, sharing the time budget "
        "(default: as many, up to 3, as get 15 epochs each; 1: a single model)",
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``train``, ``eval`` and ``recommend``."""

    def common(parser: argparse.ArgumentParser, protocol: str) -> None:
        parser.add_argument(
            "--data",
            type=Path,
            default=None,
            help="MovieLens CSV folder (movies.csv, ratings.csv, tags.csv) " + DATA_HELP,
        )
        parser.add_argument(
            "--protocol",
            choices=PROTOCOL_CHOICES,
            default=protocol,
            help=f"split (default {protocol})",
        )
        parser.add_argument(
            "--device", default=None, help="auto|cpu|cuda (default HOMEFEED_DEVICE)"
        )
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    train = sub.add_parser("train", help="fine-tune the click model on a MovieLens folder")
    common(train, "temporal")
    train.add_argument("--out", type=Path, required=True, help="artifact folder to write")
    train.add_argument(
        "--kind",
        choices=("sequence", "click"),
        default="sequence",
        help="sequence: the next-item Transformer over item text + ids "
        "(default); click: the earlier click model the live worker scores with",
    )
    train.add_argument(
        "--variant",
        choices=VARIANTS,
        default="both",
        help="sequence: item signals (text + id, id only, text only; query: text + id "
        "with the text term learned in training; top-layer / lora: text + id with "
        "MiniLM's top layer, or low-rank adapters on it, tuned in training)",
    )
    train.add_argument(
        "--max-seconds",
        type=float,
        default=480.0,
        help="sequence: training time budget (early stopping may end it sooner)",
    )
    add_dropout_arguments(train)
    train.add_argument(
        "--warmup-passes",
        type=int,
        default=3,
        help="click: passes over all examples training only user tower + head",
    )
    train.add_argument(
        "--epochs", type=int, default=3, help="most item-tower fine-tuning epochs (early stopping)"
    )
    train.add_argument("--examples-per-epoch", type=int, default=3072)
    train.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="windows (sequence, default 16) or examples (click, default 64)",
    )
    train.add_argument("--negatives", type=int, default=4, help="non-clicked per clicked")
    train.add_argument(
        "--popular-share",
        type=float,
        default=0.0,
        help="share of negatives drawn by popularity instead of uniformly",
    )
    train.add_argument("--trainable-layers", type=int, default=1, help="top BERT layers tuned")
    train.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    train.add_argument("--progress", action="store_true", help="progress bars even when piped")
    train.add_argument(
        "--from-served",
        action="store_true",
        help="negatives from what the live system showed (the served topic "
        "under HOMEFEED_TOPIC_PREFIX on HOMEFEED_KAFKA_BOOTSTRAP), joined with "
        "the clicks that followed",
    )
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("eval", help="model vs baselines: table, JSON and PNG")
    common(evaluate, "temporal")
    evaluate.add_argument("--model", type=Path, default=None, help="click model folder")
    evaluate.add_argument("--out", type=Path, required=True, help="JSON report (PNG beside)")
    evaluate.add_argument(
        "--rankers",
        default=",".join(RANKER_NAMES),
        help="comma-separated subset of " + ",".join(RANKER_NAMES),
    )
    evaluate.add_argument(
        "--list-negatives", type=int, default=100, help="uniform negatives per impression list"
    )
    evaluate.add_argument(
        "--ablation",
        action="store_true",
        help="train the sequence model's variants (text + id, id only, text "
        "only, ...: see train --variant) for each of --seeds in this run and "
        "report mean and spread beside the baselines",
    )
    evaluate.add_argument("--seeds", default="0,1,2", help="--ablation: training seeds")
    evaluate.add_argument(
        "--variants", default="both,ids,text", help="--ablation: variants to train"
    )
    evaluate.add_argument(
        "--max-seconds",
        type=float,
        default=480.0,
        help="--ablation: training budget per variant and seed",
    )
    add_dropout_arguments(evaluate)
    evaluate.add_argument(
        "--replay",
        action="store_true",
        help="replay the log through the live pipeline on the broker and "
        "report HitRate@10 over the stream (model vs trending)",
    )
    evaluate.add_argument("--limit", type=int, default=None, help="--replay: at most N events")
    evaluate.add_argument("--rate", type=float, default=None, help="--replay: events per second")
    evaluate.add_argument(
        "--score-from",
        type=int,
        default=None,
        help="--replay: score clicks from this Unix time on (default: the model's test cut)",
    )
    evaluate.add_argument(
        "--experiment",
        default=None,
        help="--replay: run an experiment, name=ranker:share items (ranker: a folder of "
        "sequence models, dot-product or trending), and score each variant's homepages",
    )
    evaluate.set_defaults(func=cmd_eval)

    recommend = sub.add_parser("recommend", help="export top-K lists at each test point")
    common(recommend, "leave-last-out")
    recommend.add_argument(
        "--model",
        required=True,
        help="click model folder, or popularity|random|zero_shot_bert|item_knn",
    )
    recommend.add_argument("--k", type=int, default=100, help="items per user")
    recommend.add_argument("--out", type=Path, required=True, help="JSON lines file")
    recommend.add_argument("--list-negatives", type=int, default=100, help=argparse.SUPPRESS)
    recommend.set_defaults(func=cmd_recommend)
