"""The ranking pipeline: stages in order. This module is the table of contents.

Order matters and is chosen on purpose:
0. With a sequence model loaded, one forward pass encodes every user of the
   batch first: its source and its scorer both read that vector.
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
5. Side effects, on the event loop once the batch is ranked: the ranking is
   published first (freshness), then the impression log, then the filter
   counts. A user forgotten while their batch ranked gets none of them.

Candidates travel as arrays (:class:`ranker.pipeline.candidates.Candidates`);
records are made only for the items that end up on the homepage.
:class:`ranker.pipeline.runner.RankingPipeline` runs the stages.
"""

from __future__ import annotations

from indexer.replica import IndexReplica
from ranker.model.sequence_live import SequenceServing
from ranker.pipeline.candidate_sources import FaissCandidateSource, TrendingCandidateSource
from ranker.pipeline.filters import DuplicateCandidatesFilter, RemovedItemsFilter, SeenItemsFilter
from ranker.pipeline.runner import RankingPipeline
from ranker.pipeline.scorers import DotProductScorer, TrendingScorer
from ranker.pipeline.selectors import (
    DiversitySelector,
    ExplorationSelector,
    HomepageSizeSelector,
    ReasonSelector,
)
from ranker.pipeline.sequence_stages import (
    SequenceCandidateSource,
    SequenceScorer,
    SequenceUserEncoder,
)
from ranker.pipeline.side_effects import (
    DiscardOutput,
    FilterStatsSideEffect,
    HomepageLog,
    HomepageOutput,
    PublishRankingSideEffect,
    ServedLogSideEffect,
)
from ranker.pipeline.stages import CandidateSource, Scorer, UserEncoder
from ranker.trending import TrendingCounter

TRENDING_POOL = 20


def build_pipeline(
    replica: IndexReplica,
    trending: TrendingCounter,
    *,
    homepage_size: int,
    candidates_per_user: int,
    max_per_category: int = 6,
    exploration_share: float = 0.1,
    scorer: Scorer | None = None,
    rankings: HomepageOutput | None = None,
    served_log: HomepageLog | None = None,
    sequence: SequenceServing | None = None,
    trending_only: bool = False,
) -> RankingPipeline:
    """The production pipeline, stage by stage (outputs left out: rank only).

    ``scorer`` is the learned click model's stage when one is configured; with
    ``sequence`` the sequence model encodes, retrieves and scores, and
    ``scorer`` (or the dot product) scores only batches it cannot. With
    ``trending_only`` (the ``trending`` experiment variant) every user gets
    the trending list in its order, less what they have seen.
    """
    # With the sequence model the text ANN serves only users the model could not
    # retrieve for (no known history, or a model swapped mid-batch): the
    # model's index already holds brand-new items by their text.
    sources: list[CandidateSource] = [
        FaissCandidateSource(replica, skip_model_retrieved=sequence is not None),
        TrendingCandidateSource(trending, replica, size=TRENDING_POOL),
    ]
    encoders: list[UserEncoder] = []
    # The learned click model when one is loaded (it falls back to this itself).
    chosen: Scorer = scorer or DotProductScorer(replica)
    if trending_only:
        sources = [TrendingCandidateSource(trending, replica, size=candidates_per_user)]
        chosen = TrendingScorer()
    elif sequence is not None:
        encoders.append(SequenceUserEncoder(sequence))
        # First: it marks the users it retrieved for, which the text ANN then skips.
        sources.insert(0, SequenceCandidateSource(sequence, replica))
        chosen = SequenceScorer(sequence, fallback=chosen)
    return RankingPipeline(
        sources=sources,
        filters=[
            DuplicateCandidatesFilter(),
            SeenItemsFilter(),
            RemovedItemsFilter(replica),
        ],
        scorer=chosen,
        selectors=[
            DiversitySelector(replica, max_per_category=max_per_category),
            ExplorationSelector(homepage_size, exploration_share),
            HomepageSizeSelector(homepage_size),
            ReasonSelector(replica),
        ],
        side_effects=[
            PublishRankingSideEffect(rankings or DiscardOutput()),
            ServedLogSideEffect(served_log or DiscardOutput()),
            FilterStatsSideEffect(),
        ],
        candidates_per_user=candidates_per_user,
        encoders=encoders,
    )
