"""The stage interfaces of the ranking pipeline and the values they pass along.

Each stage kind has one small Protocol; concrete stages are named
``<What><Kind>`` and carry a stable ``name`` used in logs and metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ranker.state import Interaction


@dataclass(slots=True)
class RankingQuery:
    """Everything the pipeline knows about one user at ranking time."""

    user_id: str
    user_vector: np.ndarray | None
    history: list[Interaction]
    seen: set[str]
    history_length: int = 0  # every event applied for this user, not only the kept history


@dataclass(slots=True)
class Candidate:
    """An item considered for a user's homepage."""

    item_id: str
    source: str
    retrieval_score: float
    score: float = 0.0
    reason: str = ""
    # What the scorer saw, logged with the impression so the next model can learn from it.
    features: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class FilterResult:
    """What a filter kept and what it removed, so a ranking can be explained."""

    kept: list[Candidate]
    removed: list[Candidate] = field(default_factory=list)


class CandidateSource(Protocol):
    """Retrieves candidates for a batch of users in one call."""

    name: str
    # Fail open: if this source raises, rank with the other sources' candidates.
    fail_open: bool

    def fetch(self, queries: Sequence[RankingQuery], limit: int) -> list[list[Candidate]]:
        """Candidates per query, in query order."""
        ...


class Filter(Protocol):
    """Removes candidates a user must not see."""

    name: str

    def apply(self, query: RankingQuery, candidates: list[Candidate]) -> FilterResult:
        """Split candidates into kept and removed."""
        ...


class Scorer(Protocol):
    """Sets ``Candidate.score`` for a whole batch at once."""

    name: str

    def score(self, queries: Sequence[RankingQuery], candidates: list[list[Candidate]]) -> None:
        """Score every candidate of every query in place."""
        ...

    def version(self) -> str:
        """What produces the scores now: published as the ranking's ``model_version``."""
        ...


class Selector(Protocol):
    """Orders, trims or annotates the scored candidates of one user."""

    name: str

    def select(self, query: RankingQuery, candidates: list[Candidate]) -> list[Candidate]:
        """The candidates to keep, in homepage order."""
        ...
