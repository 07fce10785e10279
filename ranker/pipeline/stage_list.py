"""The ranking pipeline: stages in order. This module is the table of contents.

Order matters and is chosen on purpose:
1. Candidate sources (ANN first, trending as the cold-start and fallback pool);
   each fails open, so a broken source degrades a homepage instead of
   dropping it.
2. Filters, cheapest first: duplicates and seen items are set lookups;
   removed items need the replica. Each is one boolean mask.
3. One batched scorer call for every candidate of every user in the batch.
4. Selectors: diversity orders the whole list (a category fills at most a few
   of the top 10), exploration swaps a few shown slots for items below the
   fold, the cut to homepage size comes next, and only what is shown gets
   explained.

Candidates travel as arrays (:class:`ranker.pipeline.stages.Candidates`); records are
made only for the items that end up on the homepage.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from indexer.replica import IndexReplica
from ranker.pipeline.candidate_sources import FaissCandidateSource, TrendingCandidateSource
from ranker.pipeline.filters import DuplicateCandidatesFilter, RemovedItemsFilter, SeenItemsFilter
from ranker.pipeline.scorers import DotProductScorer
from ranker.pipeline.selectors import (
    DiversitySelector,
    ExplorationSelector,
    HomepageSizeSelector,
    ReasonSelector,
)
from ranker.pipeline.stages import (
    Candidate,
    Candidates,
    CandidateSource,
    Filter,
    RankingQuery,
    Scorer,
    Selector,
)
from ranker.trending import TrendingCounter

log = logging.getLogger(__name__)

TRENDING_POOL = 20


@dataclass(slots=True)
class RankedHomepage:
    """A user's ranked items plus what each filter removed (for explanations)."""

    user_id: str
    items: list[Candidate]
    removed: dict[str, list[str]] = field(default_factory=dict)


@dataclass(slots=True)
class RankingPipeline:
    """Runs candidate sources → filters → scorer → selectors for a batch of users."""

    sources: list[CandidateSource]
    filters: list[Filter]
    scorer: Scorer
    selectors: list[Selector]
    candidates_per_user: int

    def rank(self, queries: Sequence[RankingQuery]) -> list[RankedHomepage]:
        """Rank a batch of users with one call per source and one scorer call."""
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

        self.scorer.score(queries, pooled)

        homepages = []
        for position, query in enumerate(queries):
            selected = pooled[position]
            for selector in self.selectors:
                selected = selector.select(query, selected)
            homepages.append(RankedHomepage(query.user_id, selected.shown(), removed[position]))
        return homepages


def build_pipeline(
    replica: IndexReplica,
    trending: TrendingCounter,
    *,
    homepage_size: int,
    candidates_per_user: int,
    max_per_category: int = 6,
    exploration_share: float = 0.1,
    scorer: Scorer | None = None,
) -> RankingPipeline:
    """The production pipeline, stage by stage."""
    return RankingPipeline(
        sources=[
            FaissCandidateSource(replica),
            TrendingCandidateSource(trending, replica, size=TRENDING_POOL),
        ],
        filters=[
            DuplicateCandidatesFilter(),
            SeenItemsFilter(),
            RemovedItemsFilter(replica),
        ],
        # The learned click model when one is loaded (it falls back to this itself).
        scorer=scorer or DotProductScorer(replica),
        selectors=[
            DiversitySelector(replica, max_per_category=max_per_category),
            ExplorationSelector(homepage_size, exploration_share),
            HomepageSizeSelector(homepage_size),
            ReasonSelector(replica),
        ],
        candidates_per_user=candidates_per_user,
    )
