"""The stage interfaces of the ranking pipeline and the values they pass along.

Each stage kind has one small Protocol; concrete stages are named
``<What><Kind>`` and carry a stable ``name`` used in logs and metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ranker.pipeline.candidates import Candidates, ShownItem
from ranker.state import Interaction
from streams.wire import Event


@dataclass(slots=True)
class RankingQuery:
    """Everything the pipeline knows about one user at ranking time."""

    user_id: str
    user_vector: np.ndarray | None
    history: list[Interaction]
    seen: set[str]
    history_length: int = 0  # every event applied for this user, not only the kept history
    # Set by a user encoder stage: the sequence model's vector of this user, and its version.
    model_vector: np.ndarray | None = None
    model_vector_version: str = ""
    # Set by the sequence model's source when it found this user's candidates.
    retrieved_by_model: bool = False


@dataclass(slots=True)
class RankedHomepage:
    """A user's ranked items, what each filter removed, and what produced them."""

    user_id: str
    items: list[ShownItem]
    removed: dict[str, list[str]] = field(default_factory=dict)  # filter name -> item ids
    model_version: str = ""  # the scorer that really scored this batch
    generated_at: int = 0  # ms
    source: Event | None = None  # the latest event of the user when it was ranked
    variant: str = ""  # the experiment variant that ranked it ("" outside an experiment)


class UserEncoder(Protocol):
    """Turns each user's recent interactions into a model vector, once per batch."""

    name: str

    def encode(self, queries: Sequence[RankingQuery]) -> None:
        """Set ``model_vector`` on the queries it can encode (one model call)."""
        ...


class CandidateSource(Protocol):
    """Retrieves candidates for a batch of users in one call."""

    name: str
    # Fail open: if this source raises, rank with the other sources' candidates.
    fail_open: bool

    def fetch(self, queries: Sequence[RankingQuery], limit: int) -> list[Candidates]:
        """Candidates per query, in query order."""
        ...


class Filter(Protocol):
    """Removes candidates a user must not see."""

    name: str

    def keep(self, query: RankingQuery, candidates: Candidates) -> np.ndarray:
        """A boolean mask: True for each candidate that stays."""
        ...


class Scorer(Protocol):
    """Sets ``Candidates.scores`` for a whole batch at once."""

    name: str

    def score(self, queries: Sequence[RankingQuery], candidates: list[Candidates]) -> str:
        """Score every candidate of every query in place; returns what scored them.

        The returned version is published as each ranking's ``model_version``:
        read at scoring time, so a model swapped in meanwhile cannot mislabel it.
        """
        ...


class Selector(Protocol):
    """Orders, trims or annotates the scored candidates of one user."""

    name: str

    def select(self, query: RankingQuery, candidates: Candidates) -> Candidates:
        """The candidates to keep, in homepage order."""
        ...


class SideEffect(Protocol):
    """Acts on a batch's finished homepages (publish, log, count) on the event loop."""

    name: str

    async def apply(self, homepages: Sequence[RankedHomepage]) -> None:
        """Act on homepages that are final (forgotten users are already left out)."""
        ...

    async def forget(self, user_id: str) -> None:
        """Undo what :meth:`apply` left behind for a user who asked to be forgotten."""
        ...
