"""Filters: rules that remove candidates, each reporting what it removed."""

from __future__ import annotations

from indexer.replica import IndexReplica
from ranker.stages import Candidate, FilterResult, RankingQuery


def _split(candidates: list[Candidate], drop: set[str]) -> FilterResult:
    kept = [c for c in candidates if c.item_id not in drop]
    removed = [c for c in candidates if c.item_id in drop]
    return FilterResult(kept, removed)


class DuplicateCandidatesFilter:
    """Keeps the first occurrence of an item offered by several sources."""

    name = "duplicates"

    def apply(self, query: RankingQuery, candidates: list[Candidate]) -> FilterResult:
        """Drop repeated item ids, keeping source order."""
        first: dict[str, Candidate] = {}
        removed = []
        for candidate in candidates:
            if candidate.item_id in first:
                removed.append(candidate)
            else:
                first[candidate.item_id] = candidate
        return FilterResult(list(first.values()), removed)


class SeenItemsFilter:
    """Never show an item the user already clicked, viewed or disliked."""

    name = "seen"

    def apply(self, query: RankingQuery, candidates: list[Candidate]) -> FilterResult:
        """Drop items in the user's seen set."""
        return _split(candidates, query.seen)


class RemovedItemsFilter:
    """Drop items no longer in the catalog (deleted after they were retrieved)."""

    name = "removed"

    def __init__(self, replica: IndexReplica) -> None:
        self._replica = replica

    def apply(self, query: RankingQuery, candidates: list[Candidate]) -> FilterResult:
        """Keep only items the replica still knows."""
        gone = {c.item_id for c in candidates if c.item_id not in self._replica}
        return _split(candidates, gone)
