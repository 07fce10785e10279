"""An experiment's variants in a ranking worker: a pipeline and, where needed, a model each.

Every worker builds every variant, so a user's homepage comes from their
variant whichever worker owns their partition. A variant that names a folder
gets its own watcher on it, polled like the click-model folder: a newer
sequence model there is hot-swapped for that variant alone. Variant folders
take sequence models only: a click model needs the indexer to publish item
vectors from its own tower, and the catalog carries one set of vectors.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import faust

from indexer.replica import IndexReplica
from ranker.experiments import DOT_PRODUCT, TRENDING, Experiment
from ranker.model.model_watch import ModelWatcher
from ranker.model.sequence_artifact import (
    SequenceArtifact,
    is_sequence_artifact,
    load_sequence_artifact,
)
from ranker.model.sequence_live import SequenceServing
from ranker.pipeline.runner import RankingPipeline
from ranker.pipeline.variants import VariantPipelines

log = logging.getLogger(__name__)

# Builds one pipeline: (sequence model or None, trending only?) -> pipeline.
PipelineFactory = Callable[[SequenceServing | None, bool], RankingPipeline]


def load_variant_model(path: Path) -> SequenceArtifact:
    """A variant's artifact: a sequence model, or a clear refusal."""
    if not is_sequence_artifact(path):
        raise ValueError(f"{path} is not a sequence model (experiment variants take only those)")
    return load_sequence_artifact(path)


def current_of(watcher: ModelWatcher[SequenceArtifact]) -> Callable[[], SequenceArtifact | None]:
    """What the variant's pipeline asks for its model: the watcher's current one."""
    return lambda: watcher.current


def variant_pipelines(
    app: faust.App,
    experiment: Experiment,
    replica: IndexReplica,
    build: PipelineFactory,
    poll_s: float,
) -> VariantPipelines:
    """One pipeline per variant; a timer keeps each variant's model current."""
    pipelines: dict[str, RankingPipeline] = {}
    watchers: dict[str, ModelWatcher[SequenceArtifact]] = {}
    for variant in experiment.variants:
        if variant.ranker == TRENDING:
            pipelines[variant.name] = build(None, True)
        elif variant.ranker == DOT_PRODUCT:
            pipelines[variant.name] = build(None, False)
        else:
            watcher = ModelWatcher(Path(variant.ranker), load_variant_model)
            watcher.check()
            if watcher.current is None:
                # Not fatal: the variant ranks by dot product until a model lands.
                log.warning("variant %s: no sequence model in %s yet", variant.name, variant.ranker)
            watchers[variant.name] = watcher
            pipelines[variant.name] = build(SequenceServing(replica, current_of(watcher)), False)
        log.info(
            "experiment %s: variant %s (%s) gets %.1f%% of users",
            experiment.salt,
            variant.name,
            variant.ranker,
            100 * experiment.fraction(variant.name),
        )
    if watchers:

        @app.timer(interval=poll_s)
        async def reload_variant_models() -> None:
            for name, watcher in watchers.items():
                if await asyncio.to_thread(watcher.check):
                    log.info("variant %s now ranks with %s", name, watcher.current_path)

    return VariantPipelines(experiment, pipelines)
