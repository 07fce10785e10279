"""Turns a micro-batch of user events into refreshed homepages.

Plain code with no Kafka in it: the Faust agent hands in decoded events and a
state store, and sends back what this returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from indexer.replica import IndexReplica
from ranker.interest import pool_interest, recency_weights
from ranker.pipeline.stage_list import RankingPipeline

if TYPE_CHECKING:
    from ranker.pipeline.click_model_scorer import LiveItemStats
from ranker.pipeline.stages import RankingQuery
from ranker.state import INTERACTION_WEIGHTS, UserState
from ranker.trending import TrendingCounter
from streams.wire import Event, RankedItem, Ranking, Served, ServedItem, now_ms

log = logging.getLogger(__name__)

TextEncoderFn = Callable[[Sequence[str]], np.ndarray]
# A search query pulls the homepage towards its text this much.
SEARCH_BLEND = 0.5


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
    """What one micro-batch produced."""

    rankings: list[Ranking]
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

    @property
    def model_version(self) -> str:
        """Identifies what produced a ranking: the scorer and the item encoder."""
        return self.pipeline.scorer.version()

    def apply(
        self, event: Event, store: UserStateStore, position: tuple[int, int] | None = None
    ) -> UserState | None:
        """Apply one event to its user's state; None for duplicates and forgets.

        ``position`` is the event's (partition, offset), used to recognise redeliveries.
        """
        if event.type == "forget":
            store.delete(event.user_id)
            return None
        state = UserState.decode(store.get(event.user_id))
        if not state.apply(
            event.event_id,
            event.type,
            event.item_id,
            event.ts,
            history_size=self.history_size,
            seen_size=self.seen_size,
            position=position,
        ):
            # Write the state again anyway: after a crash the local store can be
            # ahead of the changelog, and this makes the changelog catch up.
            store.put(event.user_id, state.encode())
            return None
        store.put(event.user_id, state.encode())
        if event.item_id is not None:
            self.trending.add(event.item_id, event.type, event.ts)
            if self.item_stats is not None and event.type in INTERACTION_WEIGHTS:
                self.item_stats.add(event.item_id, event.ts)
        return state

    def rank(self, touched: Sequence[tuple[Event, UserState]]) -> list[Ranking]:
        """Rank each (latest event, state) pair; one batched pipeline run."""
        return [ranking for ranking, _ in self.rank_and_log(touched)]

    def rank_and_log(
        self, touched: Sequence[tuple[Event, UserState]]
    ) -> list[tuple[Ranking, Served]]:
        """Like :meth:`rank`, plus the impression log entry of each ranking."""
        queries = [self._query(event.user_id, state) for event, state in touched]
        searches = {e.user_id: e.text for e, _ in touched if e.type == "search" and e.text}
        self._blend_searches(queries, searches)
        homepages = self.pipeline.rank(queries)
        generated_at = now_ms()
        model_version = self.model_version
        results = []
        for homepage, (source, _) in zip(homepages, touched, strict=True):
            ranking = Ranking(
                user_id=homepage.user_id,
                items=[RankedItem(c.item_id, c.score, c.reason) for c in homepage.items],
                model_version=model_version,
                generated_at=generated_at,
                source_event_id=source.event_id,
                source_event_ts=source.ts,
                source_event_type=source.type,
                source_item_id=source.item_id,
            )
            served = Served(
                user_id=homepage.user_id,
                items=[
                    ServedItem(
                        c.item_id,
                        position,
                        c.score,
                        c.retrieval_score,
                        c.source,
                        c.reason,
                        c.features,
                    )
                    for position, c in enumerate(homepage.items)
                ],
                model_version=model_version,
                generated_at=generated_at,
                source_event_id=source.event_id,
                source_event_ts=source.ts,
            )
            results.append((ranking, served))
        return results

    def process(self, events: Sequence[Event], store: UserStateStore) -> BatchOutcome:
        """Apply events in order, then rank every touched user once (latest event wins)."""
        touched: dict[str, tuple[Event, UserState]] = {}
        forgotten: list[str] = []
        applied = duplicates = 0
        for event in events:
            state = self.apply(event, store)
            if event.type == "forget":
                touched.pop(event.user_id, None)
                forgotten.append(event.user_id)
            elif state is None:
                duplicates += 1
            else:
                applied += 1
                touched[event.user_id] = (event, state)
        return BatchOutcome(self.rank(list(touched.values())), applied, duplicates, forgotten)

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
