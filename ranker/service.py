"""The one event path: apply an event to user state, rank the users it touched, publish.

Plain code with no Kafka in it. The worker's agents call :meth:`RankingService.receive`
for every event and :meth:`RankingService.rank` / :meth:`RankingService.publish`
for every batch; :meth:`RankingService.process` is those same calls in sequence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from indexer.replica import IndexReplica
from ranker.interest import pool_interest, recency_weights
from ranker.model.features import LiveItemStats
from ranker.pending import PendingRankings, RankingRequest
from ranker.pipeline.runner import RankingPipeline
from ranker.pipeline.stages import RankedHomepage, RankingQuery
from ranker.state import INTERACTION_WEIGHTS, UserState
from ranker.trending import TrendingCounter
from streams.wire import Event, now_ms

log = logging.getLogger(__name__)

TextEncoderFn = Callable[[Sequence[str]], np.ndarray]
# A search query pulls the homepage towards its text this much.
SEARCH_BLEND = 0.5
# What became of one event; also the worker's counter names.
Received = Literal["applied", "duplicates", "forgotten"]


class UserStateStore(Protocol):
    """Where user state lives: a Faust table in the worker, a dict in tests."""

    def get(self, user_id: str) -> bytes | None:
        """Stored state bytes, or None."""
        ...

    def put(self, user_id: str, state: bytes) -> None:
        """Store state bytes."""
        ...

    def delete(self, user_id: str) -> None:
        """Forget the user."""
        ...


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one run of events produced."""

    homepages: list[RankedHomepage]
    applied: int
    duplicates: int
    forgotten: list[str]


@dataclass(slots=True)
class RankingService:
    """Applies events to user state and ranks the users they touched."""

    replica: IndexReplica
    trending: TrendingCounter
    pipeline: RankingPipeline
    history_size: int
    seen_size: int
    recency_half_life: float
    encode_text: TextEncoderFn | None = None
    item_stats: LiveItemStats | None = None

    async def receive(
        self,
        event: Event,
        store: UserStateStore,
        pending: PendingRankings,
        position: tuple[int, int] | None = None,
    ) -> Received:
        """Apply one event to its user's state and queue the user for ranking.

        A ``forget`` event erases the user everywhere: state, queued ranking,
        a ranking being computed, and what the side effects published.
        ``position`` is the event's (partition, offset), used to recognise redeliveries.
        """
        if event.type == "forget":
            store.delete(event.user_id)
            pending.discard(event.user_id)
            await self.pipeline.forget(event.user_id)
            return "forgotten"
        state = UserState.decode(store.get(event.user_id))
        applied = state.apply(
            event.event_id,
            event.type,
            event.item_id,
            event.ts,
            history_size=self.history_size,
            seen_size=self.seen_size,
            position=position,
        )
        # Written for a duplicate too: after a crash the local store can be
        # ahead of the changelog, and this makes the changelog catch up.
        store.put(event.user_id, state.encode())
        if not applied:
            return "duplicates"
        if event.item_id is not None:
            self.trending.add(event.item_id, event.type, event.ts)
            if self.item_stats is not None and event.type in INTERACTION_WEIGHTS:
                self.item_stats.add(event.item_id, event.ts)
        pending.add(event, state)
        return "applied"

    def rank(self, requests: Sequence[RankingRequest]) -> list[RankedHomepage]:
        """Rank each (latest event, state) pair in one batched pipeline run (no I/O)."""
        queries = [self._query(event.user_id, state) for event, state in requests]
        searches = {e.user_id: e.text for e, _ in requests if e.type == "search" and e.text}
        self._blend_searches(queries, searches)
        homepages = self.pipeline.rank(queries)
        generated_at = now_ms()
        for homepage, (source, _) in zip(homepages, requests, strict=True):
            homepage.generated_at = generated_at
            homepage.source = source
        return homepages

    async def publish(
        self, homepages: Sequence[RankedHomepage], pending: PendingRankings
    ) -> list[RankedHomepage]:
        """Run the side effects on homepages whose user was not forgotten meanwhile."""
        forgotten = pending.forgotten_since_take
        final = [h for h in homepages if h.user_id not in forgotten] if forgotten else homepages
        await self.pipeline.publish(final)
        return list(final)

    async def process(self, events: Sequence[Event], store: UserStateStore) -> BatchOutcome:
        """Receive events in order, then rank and publish every touched user once."""
        pending = PendingRankings(limit=len(events) + 1)
        counts = {"applied": 0, "duplicates": 0}
        forgotten = []
        for event in events:
            received = await self.receive(event, store, pending)
            if received == "forgotten":
                forgotten.append(event.user_id)
            else:
                counts[received] += 1
        homepages = self.rank(pending.take(len(pending)))
        published = await self.publish(homepages, pending)
        return BatchOutcome(published, counts["applied"], counts["duplicates"], forgotten)

    def _query(self, user_id: str, state: UserState) -> RankingQuery:
        known = [i for i in state.history if i.item_id in self.replica]
        user_vector = None
        if known:
            vectors = self.replica.index.vectors([i.item_id for i in known])
            user_vector = pool_interest(vectors, recency_weights(known, self.recency_half_life))
        return RankingQuery(
            user_id, user_vector, state.history, state.seen_set(), history_length=state.processed
        )

    def _blend_searches(self, queries: list[RankingQuery], searches: dict[str, str]) -> None:
        if not searches or self.encode_text is None:
            return
        targets = [q for q in queries if q.user_id in searches]
        text_vectors = self.encode_text([searches[q.user_id] for q in targets])
        for query, text_vector in zip(targets, text_vectors, strict=True):
            if query.user_vector is None:
                query.user_vector = text_vector.astype(np.float32)
                continue
            blended = (1 - SEARCH_BLEND) * query.user_vector + SEARCH_BLEND * text_vector
            query.user_vector = (blended / np.linalg.norm(blended)).astype(np.float32)
