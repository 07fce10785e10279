"""``homefeed eval``: offline protocols, the sequence ablation and the live replay.

Heavy imports (torch, transformers) stay inside the command functions so
``homefeed --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ranker.experiments import Experiment, ExperimentError, experiment_from
from ranker.model.sequence_variants import VARIANTS
from streams.usage import usage_error

if TYPE_CHECKING:
    from streams.settings import Settings


def data_facts(prepared: object) -> dict[str, object]:
    """Size of the data a command read, for its report."""
    catalog, log_ = prepared.catalog, prepared.log  # type: ignore[attr-defined]
    return {"items": len(catalog), "events": len(log_), "users": len(log_.user_ids)}


def check_model_dir(path: Path | None) -> None:
    """A usage error unless ``path`` (when given) is a model folder."""
    if path is not None and not (path / "config.json").is_file():
        usage_error(
            f"--model {path}: not a model folder (no config.json; `homefeed train` writes one)"
        )


def int_list(text: str, flag: str) -> list[int]:
    """Comma-separated integers of a flag, or a usage error."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        usage_error(f"{flag}: expected comma-separated integers, got {text!r}")
    if not values:
        usage_error(f"{flag}: give at least one value")
    return values


# The live homepage caps a genre's share of the top 10; re-ordering needs a deeper list.
def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate the model and the baselines; print a table, write JSON and a PNG."""
    check_model_dir(getattr(args, "model", None))
    if args.replay:
        return cmd_eval_replay(args, settings)
    if args.ablation:
        return cmd_eval_ablation(args, settings)
    from ranker.eval.evaluate import build_eval_set, evaluate_ranker, report_table, save_plot
    from ranker.eval.recommend import build_rankers, history_length
    from ranker.training.train import prepare

    prepared = prepare(args.data, args.protocol)
    eval_set = build_eval_set(
        prepared,
        list_negatives=args.list_negatives,
        seed=args.seed,
        max_history=history_length(args.model),
    )
    if len(eval_set) == 0:
        raise SystemExit("no test events with history in this split: nothing to evaluate")
    names = [n for n in args.rankers.split(",") if n and (n != "model" or args.model)]
    rankers = build_rankers(
        names,
        prepared,
        eval_set,
        model_dir=args.model,
        device=args.device or settings.device,
        cache_dir=settings.data_dir / "cache",
        seed=args.seed,
    )
    results: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    diversity: dict[str, dict[str, float]] = {}
    for name, ranker in rankers.items():
        started = time.perf_counter()
        depth = min(DIVERSITY_DEPTH, len(prepared.catalog))
        outcome = evaluate_ranker(ranker, eval_set, k=depth, progress=sys.stderr.isatty())
        results[name] = outcome.metrics
        seconds[name] = round(time.perf_counter() - started, 2)
        if name == "model":
            diversity = _diversity_cost(args.data, prepared, eval_set, outcome.top_items)
    report = {
        "models": results,
        "split": {
            **prepared.split.describe(),
            "test_moments": len(eval_set),
            "list_negatives": int(eval_set.negatives.shape[1]),
            "counts_frozen_at_ts": eval_set.reference_ts,
        },
        "data": {"folder": str(args.data), **data_facts(prepared)},
        "model_dir": str(args.model) if args.model else None,
        "seconds": seconds,
        "diversity": diversity,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    plot = args.out.with_suffix(".png")
    save_plot(
        results, plot, f"{args.data.name}, {args.protocol} split, {len(eval_set)} test moments"
    )
    print(report_table(results))
    for cap, figures in diversity.items():
        rule = "no genre cap" if cap == "none" else f"at most {cap} per genre in the top 10"
        print(
            f"model, {rule}: hit@10 {figures['hit@10']:.4f}, "
            f"full_ndcg@10 {figures['full_ndcg@10']:.4f}"
        )
    print(f"wrote {args.out} and {plot}")
    return 0


def check_dropouts(args: argparse.Namespace) -> None:
    """One line and status 2 for a dropout outside [0, 1)."""
    for flag in ("dropout", "id_dropout"):
        value = getattr(args, flag, None)
        if value is not None and not 0.0 <= value < 1.0:
            usage_error(f"--{flag.replace('_', '-')}: must be in [0, 1), got {value}")
    members = getattr(args, "members", None)
    if members is not None and not 1 <= members <= 8:
        usage_error(f"--members: must be 1 to 8, got {members}")


def cmd_eval_ablation(args: argparse.Namespace, settings: Settings) -> int:
    """Train the sequence model's variants per seed; report them beside the baselines."""
    from ranker.eval.ablation import run_ablation, spread_table
    from ranker.eval.evaluate import build_eval_set, evaluate_ranker, save_plot
    from ranker.eval.recommend import build_rankers
    from ranker.model.sequence import SequenceConfig
    from ranker.training.sequence_train import SequenceTrainConfig
    from ranker.training.train import prepare

    check_dropouts(args)
    seeds = int_list(args.seeds, "--seeds")
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        usage_error(f"--variants: unknown {', '.join(unknown)} (use {', '.join(VARIANTS)})")
    prepared = prepare(args.data, args.protocol)
    eval_set = build_eval_set(
        prepared,
        list_negatives=args.list_negatives,
        seed=0,
        max_history=SequenceConfig(items=1).max_length,
    )
    if len(eval_set) == 0:
        raise SystemExit("no test events with history in this split: nothing to evaluate")
    baselines = [n for n in args.rankers.split(",") if n and n != "model"]
    means: dict[str, dict[str, float]] = {}
    spreads: dict[str, dict[str, float]] = {}
    for name, ranker in build_rankers(
        baselines,
        prepared,
        eval_set,
        model_dir=None,
        device=args.device or settings.device,
        cache_dir=settings.data_dir / "cache",
    ).items():
        means[name] = evaluate_ranker(ranker, eval_set, k=10, progress=False).metrics
    config = SequenceTrainConfig(
        protocol=args.protocol,
        max_seconds=args.max_seconds,
        **({"id_dropout": args.id_dropout} if args.id_dropout is not None else {}),
        **({"members": args.members} if args.members is not None else {}),
    )
    runs = run_ablation(
        prepared,
        eval_set,
        variants=variants,
        seeds=seeds,
        train_config=config,
        dropout=args.dropout,
        cache_dir=settings.data_dir / "cache",
        device=args.device or settings.device,
        progress=True,
    )
    for name, variant_runs in runs.items():
        means[name], spreads[name] = variant_runs.mean(), variant_runs.spread()
    report = {
        "models": means,
        "spread": spreads,
        "seeds": seeds,
        "per_seed": {name: r.per_seed for name, r in runs.items()},
        "train_seconds": {name: r.train_seconds for name, r in runs.items()},
        "best_epochs": {name: r.best_epochs for name, r in runs.items()},
        "text_blends": {name: r.text_blends for name, r in runs.items() if r.text_blends},
        "members": {name: r.members for name, r in runs.items() if r.members},
        "val_ndcg10": {name: r.val_ndcg10 for name, r in runs.items() if r.val_ndcg10},
        "split": {**prepared.split.describe(), "test_moments": len(eval_set)},
        "data": {"folder": str(args.data), **data_facts(prepared)},
        "train": {
            "max_seconds": args.max_seconds,
            "id_dropout": config.id_dropout,
            "dropout": args.dropout,
            "members": args.members,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    plot = args.out.with_suffix(".png")
    save_plot(
        means,
        plot,
        f"{args.data.name}, {args.protocol}, {len(eval_set)} test moments, "
        f"sequence variants: mean of {len(seeds)} seeds",
    )
    print(spread_table(means, spreads))
    print(f"wrote {args.out} and {plot}")
    return 0


DIVERSITY_DEPTH = 100
DIVERSITY_CAPS = (6, 3)


def _diversity_cost(
    data: Path, prepared: object, eval_set: object, top_items: object
) -> dict[str, dict[str, float]]:
    """The model's Hit@10/nDCG@10 with the live diversity cap, against no cap."""
    from indexer.datasets import load_movielens_items
    from indexer.replica import category_key
    from ranker.eval.diversity import diversity_cost

    categories = {item.item_id: item.category for item in load_movielens_items(data)}
    keys = [category_key(categories.get(item_id)) for item_id in prepared.catalog.item_ids]  # type: ignore[attr-defined]
    return diversity_cost(top_items, eval_set.targets, keys, DIVERSITY_CAPS)  # type: ignore[arg-type,attr-defined]


def cmd_eval_replay(args: argparse.Namespace, settings: Settings) -> int:
    """Prequential HitRate@10 through the live pipeline on the broker, model vs trending."""
    from streams.prequential import run_prequential

    score_from_s = args.score_from or 0
    if args.model is not None and args.score_from is None:
        split = json.loads((args.model / "config.json").read_text()).get("split", {})
        # Only clicks the model never trained on count; earlier ones just build state.
        score_from_s = int(split.get("test_cut_ts", 0))
    experiment = replay_experiment(args.experiment, settings.experiment_salt)
    result = run_prequential(
        settings,
        args.data,
        model_dir=args.model,
        limit=args.limit,
        rate=args.rate,
        score_from_ms=score_from_s * 1000,
        variants=args.experiment,
    )
    report = {
        "replay": result.to_dict(),
        "experiment": None
        if experiment is None
        else {
            "salt": experiment.salt,
            "variants": {
                v.name: {"ranker": v.ranker, "share": v.share} for v in experiment.variants
            },
        },
        "data": {"folder": str(args.data)},
        "model_dir": str(args.model) if args.model else None,
        "scored_from_ts": score_from_s,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    figures = result.to_dict()
    print(
        f"prequential HitRate@10 over {figures['positives']} clicks: "
        f"pipeline {figures['hit@10_pipeline']:.4f} ({', '.join(result.model_versions)}), "
        f"trending {figures['hit@10_trending']:.4f}; wrote {args.out}"
    )
    from streams.experiment_report import report_table, variant_figures

    if experiment is not None:
        print(report_table(variant_figures(report)))
    if result.online:
        from streams.online_report import rows_from_report

        declared = {
            v.name: {"ranker": v.ranker, "share": v.share}
            for v in (experiment.variants if experiment else ())
        }
        print("online metrics of the live period, from the workers:")
        print(
            report_table(
                rows_from_report(result.online, declared),
                trials="homepages judged",
                hits="clicked",
                rate="CTR",
            )
        )
    return 0


def replay_experiment(variants: str | None, salt: str) -> Experiment | None:
    """The experiment ``--experiment`` declares (checked before anything starts), or None."""
    if not variants:
        return None
    try:
        experiment = experiment_from(salt, variants)
    except ExperimentError as error:
        usage_error(f"--experiment: {error}")
    if experiment is None:
        usage_error("--experiment: give at least one name=ranker:share")
    for variant in experiment.variants:
        if variant.uses_model and not Path(variant.ranker).is_dir():
            usage_error(f"--experiment: variant {variant.name}: no folder {variant.ranker}")
    return experiment
