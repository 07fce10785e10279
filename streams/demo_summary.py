"""What ``homefeed demo`` ends with: how alike the homepages were, and how good.

The tally comes from every homepage on the rankings topic; the HitRate@10 is
prequential — each click after the model's training data judged against the
homepage its user had just before it — computed by the same scoring as
``homefeed eval --replay``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ranker.eval.prequential import PrequentialResult, score_stream
from streams.board import HomepageTally
from streams.settings import Settings
from streams.topics import TopicNames
from streams.watch import Board
from streams.wire import Event


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """The run in figures: how alike the homepages were, and the prequential HitRate@10."""

    rankings_topic: str
    events_sent: int
    scored_from_ts: int
    tally: HomepageTally
    prequential: PrequentialResult

    def to_dict(self) -> dict[str, object]:
        """JSON-ready figures (what ``--summary-json`` writes)."""
        return {
            "rankings_topic": self.rankings_topic,
            "events_sent": self.events_sent,
            "scored_from_ts": self.scored_from_ts,
            **self.tally.to_dict(),
            "prequential": self.prequential.to_dict(),
        }

    def describe(self, titles: dict[str, str]) -> str:
        """The few lines the demo ends with."""
        everyone, on_board = self.tally.everyone, self.tally.board
        most, share = everyone.most_shown()
        versions = ", ".join(sorted(self.tally.model_versions)) or "none"
        lines = [
            f"[demo] summary of {everyone.lists:,} homepages on {self.rankings_topic} "
            f"(ranked by {versions}):",
            f"  distinct items in the top-5 lists: {len(everyone.holding):,} "
            f"of {len(titles):,} in the catalog",
            f"  most shown item: “{titles.get(most or '', most)}” in {share:.0%} of all top-5 "
            f"lists (board users: {on_board.most_shown()[1]:.0%} of {on_board.lists:,})",
        ]
        since = day(self.scored_from_ts)
        result = self.prequential
        if result.positives:
            lines.append(
                f"  prequential HitRate@10 over {result.positives:,} clicks since {since} "
                f"(the temporal test period): {result.pipeline_hits / result.positives:.4f}"
                f" (trending: {result.trending_hits / result.positives:.4f})"
            )
        else:
            lines.append(f"  prequential HitRate@10: no clicks since {since} were replayed yet")
        return "\n".join(lines)


def demo_summary(
    board: Board, events_sent: list[Event], scored_from: int, settings: Settings, topics: TopicNames
) -> DemoSummary:
    """Score the clicks sent since ``scored_from`` against the homepages the board collected."""
    prequential = score_stream(
        events_sent,
        board.rankings,
        trending_half_life_s=settings.trending_half_life_s,
        score_from_ms=scored_from * 1000,
    )
    return DemoSummary(topics.rankings, len(events_sent), scored_from, board.tally, prequential)


def day(unix_s: int) -> str:
    """A Unix time as its UTC date."""
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%d")
