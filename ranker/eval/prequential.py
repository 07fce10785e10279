"""Prequential scoring: each click judged against the homepage its user had just before it.

For every positive event (a click) we ask: was that item in the top 10 of the
homepage the user had just before it? "Just before" is the newest ranking
whose source event came earlier in that user's sequence; a user with no
ranking yet sees trending, as the homepage service would show them. The
trending baseline is scored on the same stream with the same decayed counts
the workers use. ``homefeed eval --replay`` (``streams.prequential``) replays
a log through the live pipeline to get the rankings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from ranker.trending import TrendingCounter
from streams.wire import Event, Ranking

TOP_K = 10


@dataclass(frozen=True, slots=True)
class PrequentialResult:
    """HitRate@10 over the stream for the pipeline and for trending."""

    events: int
    positives: int
    pipeline_hits: int
    trending_hits: int
    cold_start_positives: int
    model_versions: tuple[str, ...]
    seconds: float
    # Per experiment variant: (clicks judged against that variant's homepage, hits).
    variants: dict[str, tuple[int, int]] = field(default_factory=dict)
    # The workers' own online metrics of the live period, per variant (JSON-ready).
    online: dict[str, dict[str, object]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready figures."""
        return {
            "events": self.events,
            "positives": self.positives,
            "hit@10_pipeline": self.pipeline_hits / max(1, self.positives),
            "hit@10_trending": self.trending_hits / max(1, self.positives),
            "cold_start_positives": self.cold_start_positives,
            "model_versions": list(self.model_versions),
            "seconds": round(self.seconds, 1),
            "variants": {
                name: {"positives": positives, "hits": hits}
                for name, (positives, hits) in sorted(self.variants.items())
            },
            "online": self.online,
        }


def score_stream(
    events: Sequence[Event],
    rankings: Sequence[Ranking],
    *,
    trending_half_life_s: float,
    k: int = TOP_K,
    score_from_ms: int = 0,
) -> PrequentialResult:
    """Score each click against the homepage its user had just before it.

    Only clicks at or after ``score_from_ms`` are scored; earlier events only
    build state and counts.
    """
    position: dict[str, int] = {}  # event id -> index in its user's sequence
    per_user_count: dict[str, int] = defaultdict(int)
    for event in events:
        position[event.event_id] = per_user_count[event.user_id]
        per_user_count[event.user_id] += 1
    # For each user, rankings ordered by the sequence position of their source event.
    by_user: dict[str, list[tuple[int, list[str], str | None]]] = defaultdict(list)
    for ranking in rankings:
        source = position.get(ranking.source_event_id or "")
        if source is not None:
            top = [i.item_id for i in ranking.items[:k]]
            by_user[ranking.user_id].append((source, top, ranking.variant))
    for entries in by_user.values():
        entries.sort(key=lambda entry: entry[0])

    trending = TrendingCounter(trending_half_life_s)
    cursor: dict[str, int] = defaultdict(int)
    latest: dict[str, list[str]] = {}
    latest_variant: dict[str, str | None] = {}
    per_variant: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    positives = pipeline_hits = trending_hits = cold = 0
    seen_count: dict[str, int] = defaultdict(int)
    for event in events:
        user, index = event.user_id, seen_count[event.user_id]
        entries = by_user.get(user, [])
        # Advance to the newest ranking made from an event before this one.
        while cursor[user] < len(entries) and entries[cursor[user]][0] < index:
            _, latest[user], latest_variant[user] = entries[cursor[user]]
            cursor[user] += 1
        hot = [item for item, _ in trending.top(k)]
        if event.type == "click" and event.item_id is not None and event.ts >= score_from_ms:
            positives += 1
            shown = latest.get(user)
            if shown is None:
                cold += 1
                shown = hot
            hit = event.item_id in shown
            pipeline_hits += hit
            trending_hits += event.item_id in hot
            # A click counts for the variant whose homepage the user had (cold ones for none).
            variant = latest_variant.get(user)
            if variant is not None:
                per_variant[variant][0] += 1
                per_variant[variant][1] += hit
        if event.item_id is not None:
            trending.add(event.item_id, event.type, event.ts)
        seen_count[user] += 1
    versions = tuple(sorted({r.model_version for r in rankings}))
    return PrequentialResult(
        len(events),
        positives,
        pipeline_hits,
        trending_hits,
        cold,
        versions,
        0.0,
        {name: (counts[0], counts[1]) for name, counts in per_variant.items()},
    )
