"""The one event path: apply an event to user state, rank the users it touched, publish.

Plain code with no Kafka in it. The worker's agents call :meth:`RankingService.receive`
for every event and :meth:`RankingService.rank` / :meth:`RankingService.publish`
for every batch; :meth:`RankingService.process` is those same calls in sequence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

import numpy as np

from indexer.replica import IndexReplica
from ranker.interest import pool_interest, recency_weights
from ranker.model.features import LiveItemStats
from ranker.pending import PendingRankings, RankingRequest
from ranker.pipeline.runner import RankingPipeline
from ranker.pipeline.stages import RankedHomepage, RankingQuery
from ranker.pipeline.variants import VariantPipelines
from ranker.state import INTERACTION_WEIGHTS, UserState
from ranker.trending import TrendingCounter
from streams.wire import Event, now_ms

log = logging.getLogger(__name__)
T = TypeVar("T")

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


def user_runs(items: Iterable[T], user_of: Callable[[T], str]) -> dict[str, list[T]]:
    """``items`` grouped by user, each group in arrival order, users in order of first arrival.

    Users' states are independent, so a batch can be applied one user at a
    time: one state read and one write per user instead of per event.
    """
    runs: dict[str, list[T]] = {}
    for item in items:
        runs.setdefault(user_of(item), []).append(item)
    return runs


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
    pipeline: RankingPipeline | VariantPipelines  # one pipeline, or one per variant
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

        ``position`` is the event's (partition, offset), used to recognise redeliveries.
        """
        counts = await self.receive_run([(event, position)], store, pending)
        return next(name for name, count in counts.items() if count)

    async def receive_run(
        self,
        run: Sequence[tuple[Event, tuple[int, int] | None]],
        store: UserStateStore,
        pending: PendingRankings,
    ) -> dict[Received, int]:
        """Apply one user's events, in order, with one state read and one write.

        Every event of ``run`` belongs to the same user; each comes with its
        (partition, offset) or None. A ``forget`` event erases the user
        everywhere (state, queued ranking, a ranking being computed, what the
        side effects published); events after it start a fresh state. The
        user is queued once, for the newest applied event. Returns how many
        events were applied, duplicates and forgets.
        """
        counts: dict[Received, int] = {"applied": 0, "duplicates": 0, "forgotten": 0}
        if not run:
            return counts
        user_id = run[0][0].user_id
        state: UserState | None = None  # read on first use, after any forget
        written = False
        newest: Event | None = None
        for event, position in run:
            if event.user_id != user_id:
                raise ValueError(f"a run mixes users {user_id!r} and {event.user_id!r}")
            if event.type == "forget":
                store.delete(user_id)
                pending.discard(user_id)
                await self.pipeline.forget(user_id)
                state, written, newest = UserState(), False, None
                counts["forgotten"] += 1
                continue
            if state is None:
                state = UserState.decode(store.get(user_id))
            # Written back for a duplicate too: after a crash the local store
            # can be ahead of the changelog, and this makes the changelog catch up.
            written = True
            applied = state.apply(
                event.event_id,
                event.type,
                event.item_id,
                event.ts,
                history_size=self.history_size,
                seen_size=self.seen_size,
                position=position,
            )
            if not applied:
                counts["duplicates"] += 1
                continue
            counts["applied"] += 1
            newest = event
            if event.item_id is not None:
                self.trending.add(event.item_id, event.type, event.ts)
                if self.item_stats is not None and event.type in INTERACTION_WEIGHTS:
                    self.item_stats.add(event.item_id, event.ts)
        if written and state is not None:
            store.put(user_id, state.encode())
        if newest is not None and state is not None:
            pending.add(newest, state)
        return counts

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
        for user_id, run in user_runs(events, lambda event: event.user_id).items():
            received = await self.receive_run([(e, None) for e in run], store, pending)
            counts["applied"] += received["applied"]
            counts["duplicates"] += received["duplicates"]
            forgotten += [user_id] * received["forgotten"]
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
