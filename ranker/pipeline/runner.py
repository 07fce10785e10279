"""Runs the stages of :mod:`ranker.pipeline.stage_list` over a batch of users."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from ranker.pipeline.candidates import Candidates
from ranker.pipeline.stages import (
    CandidateSource,
    Filter,
    RankedHomepage,
    RankingQuery,
    Scorer,
    Selector,
    SideEffect,
    UserEncoder,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RankingPipeline:
    """User encoders → candidate sources → filters → scorer → selectors, then side effects."""

    sources: list[CandidateSource]
    filters: list[Filter]
    scorer: Scorer
    selectors: list[Selector]
    side_effects: list[SideEffect]
    candidates_per_user: int
    encoders: list[UserEncoder] = field(default_factory=list)

    def rank(self, queries: Sequence[RankingQuery]) -> list[RankedHomepage]:
        """Rank a batch of users with one call per source and one scorer call.

        Pure computation (no I/O): a worker runs it in a thread.
        """
        for encoder in self.encoders:
            try:
                encoder.encode(queries)
            except Exception:
                # Fail open: sources and scorers fall back for users without a vector.
                log.exception("user encoder %s failed; ranking without it", encoder.name)
        fetched: list[list[Candidates]] = [[] for _ in queries]
        for source in self.sources:
            try:
                per_user = source.fetch(queries, self.candidates_per_user)
            except Exception:
                if not source.fail_open:
                    raise
                log.exception("candidate source %s failed; ranking without it", source.name)
                continue
            for parts, more in zip(fetched, per_user, strict=True):
                parts.append(more)
        pooled = [Candidates.concat(parts) for parts in fetched]

        removed: list[dict[str, list[str]]] = [{} for _ in queries]
        for position, query in enumerate(queries):
            for rule in self.filters:
                keep = rule.keep(query, pooled[position])
                if keep.all():
                    continue
                removed[position][rule.name] = pooled[position].item_ids[~keep].tolist()
                pooled[position] = pooled[position].take(keep)

        model_version = self.scorer.score(queries, pooled)

        homepages = []
        for position, query in enumerate(queries):
            selected = pooled[position]
            for selector in self.selectors:
                selected = selector.select(query, selected)
            homepages.append(
                RankedHomepage(query.user_id, selected.shown(), removed[position], model_version)
            )
        return homepages

    async def publish(self, homepages: Sequence[RankedHomepage]) -> None:
        """Run every side effect, in order, on final homepages."""
        for effect in self.side_effects:
            await effect.apply(homepages)

    async def forget(self, user_id: str) -> None:
        """Let every side effect undo what it left behind for ``user_id``."""
        for effect in self.side_effects:
            await effect.forget(user_id)
