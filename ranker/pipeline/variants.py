"""An experiment in the worker: each user's batch share goes through their variant's pipeline.

Every variant has a full pipeline of its own (its model's encoder, sources and
scorer), built by :mod:`ranker.pipeline.stage_list`; they share the replica,
the trending counter and the outputs. A batch is split by variant, each part
is ranked by its pipeline in one call, and the homepages come back in the
batch's order with their ``variant`` set, so the rankings and the served log
say which arm produced each homepage. Side effects are the same for every
variant, so publishing and forgetting go through one of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ranker.experiments import Experiment
from ranker.pipeline.runner import RankingPipeline
from ranker.pipeline.stages import RankedHomepage, RankingQuery, SideEffect


@dataclass(slots=True)
class VariantPipelines:
    """Routes each query to the pipeline of its user's variant."""

    experiment: Experiment
    pipelines: Mapping[str, RankingPipeline]  # variant name -> its pipeline

    def __post_init__(self) -> None:
        missing = [v.name for v in self.experiment.variants if v.name not in self.pipelines]
        if missing:
            raise ValueError(f"no pipeline for variant(s) {', '.join(missing)}")

    def rank(self, queries: Sequence[RankingQuery]) -> list[RankedHomepage]:
        """One pipeline run per variant present in the batch; homepages in query order."""
        groups: dict[str, list[int]] = {}
        for position, query in enumerate(queries):
            groups.setdefault(self.experiment.variant_of(query.user_id).name, []).append(position)
        homepages: list[RankedHomepage | None] = [None] * len(queries)
        for name, positions in groups.items():
            ranked = self.pipelines[name].rank([queries[p] for p in positions])
            for position, homepage in zip(positions, ranked, strict=True):
                homepage.variant = name
                homepages[position] = homepage
        return [homepage for homepage in homepages if homepage is not None]

    async def publish(self, homepages: Sequence[RankedHomepage]) -> None:
        """The shared side effects, once for the whole batch."""
        await self._any.publish(homepages)

    async def forget(self, user_id: str) -> None:
        """Undo what the shared side effects left for ``user_id``."""
        await self._any.forget(user_id)

    @property
    def side_effects(self) -> list[SideEffect]:
        """The side effects every variant shares."""
        return self._any.side_effects

    @property
    def _any(self) -> RankingPipeline:
        return self.pipelines[self.experiment.variants[0].name]
