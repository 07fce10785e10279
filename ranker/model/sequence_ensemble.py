"""Several sequence models trained apart, served as one.

On a small log (ml-latest-small: 610 users) one training's result swings by a
standard error from seed to seed; the sum of a few independently trained
members' scores does not, and beat every member on validation (docs/evaluation.md,
"Round 8"). Summing scores is an inner product over concatenated vectors
(``[u_1, u_2, u_3] · [i_1, i_2, i_3] = Σ u_k · i_k``), so the ensemble looks to
every caller like one model whose vectors are ``members × dim`` wide: offline
scoring, the text blend (chosen once, for the sum) and the live worker's single
FAISS search stay as they are.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ranker.model.sequence import HistoryEncoder, SequenceConfig, SequenceModel


class EnsembleItems:
    """The members' item tables read as one: vectors side by side, one text buffer."""

    def __init__(self, members: list[SequenceModel]) -> None:
        self._members = members

    @property
    def _first(self) -> SequenceModel:
        return self._members[0]

    @property
    def text(self) -> torch.Tensor:
        """The catalog's text vectors the blend uses: the first member's.

        Frozen vectors are the same in every member; members that tuned the
        text encoder each hold their own, and each scores with its own.
        """
        return self._first.items.text

    @property
    def has_id(self) -> torch.Tensor:
        """Which rows have an id (the same in every member)."""
        return self._first.items.has_id

    def set_items(self, text_vectors: torch.Tensor, has_id: torch.Tensor) -> None:
        """Load the catalog into every member (see :meth:`ItemTable.set_items`)."""
        for member in self._members:
            member.items.set_items(text_vectors, has_id)

    def __call__(self, id_keep: torch.Tensor | None = None) -> torch.Tensor:
        """All item vectors ``(items + 1, members × dim)``."""
        return torch.cat([member.items(id_keep) for member in self._members], dim=1)

    def text_only(self, text_vectors: torch.Tensor) -> torch.Tensor:
        """Vectors ``(N, members × dim)`` of items known only by their text."""
        return torch.cat([member.items.text_only(text_vectors) for member in self._members], dim=1)


class SequenceEnsemble(HistoryEncoder):
    """``config.members`` sequence models whose scores add up."""

    def __init__(self, config: SequenceConfig) -> None:
        super().__init__()
        if config.members < 2:
            raise ValueError(f"an ensemble needs 2 or more members, got {config.members}")
        self.config = config
        member = member_config(config)
        models = [SequenceModel(member) for _ in range(config.members)]
        self.members = nn.ModuleList(models)
        # A plain list as well, typed: the ModuleList is what registers them.
        self._models = models
        self.items = EnsembleItems(models)
        # The learned text term is a single-model option (--variant query).
        self.text_query: nn.Linear | None = None
        self.text_weight: nn.Parameter | None = None

    @classmethod
    def of(cls, members: list[SequenceModel]) -> SequenceEnsemble:
        """An ensemble holding trained ``members`` (copied in)."""
        ensemble = cls(replace(members[0].config, members=len(members)))
        for slot, member in zip(ensemble.members, members, strict=True):
            slot.load_state_dict(member.state_dict())
        return ensemble.eval()

    def text_queries(self, hidden: torch.Tensor, profiles: torch.Tensor) -> torch.Tensor:
        """Users' queries in the text space: the profile itself."""
        return profiles

    def encode_inputs(
        self,
        inputs: torch.Tensor,
        present: torch.Tensor,
        gaps_s: torch.Tensor,
        types: torch.Tensor,
    ) -> torch.Tensor:
        """Each member's hidden states from its slice of ``inputs``, side by side."""
        dim = self.config.dim
        return torch.cat(
            [
                member.encode_inputs(inputs[..., k * dim : (k + 1) * dim], present, gaps_s, types)
                for k, member in enumerate(self._models)
            ],
            dim=-1,
        )

    def all_item_vectors(self) -> torch.Tensor:
        """Every catalog row's item vectors, the members' side by side."""
        return self.items()

    def text_table(self) -> torch.Tensor:
        """The catalog's text vectors the blend uses (see :attr:`EnsembleItems.text`)."""
        return self.items.text


# What scores: one trained model, or an ensemble of them.
ScoringModel = SequenceModel | SequenceEnsemble


def member_config(config: SequenceConfig) -> SequenceConfig:
    """The config each member is built and trained with (no blend: the whole ensemble's)."""
    return replace(config, members=1, text_blend=0.0, profile_decay=1.0)


def build_sequence_model(config: SequenceConfig) -> ScoringModel:
    """The model a config describes: one member, or an ensemble of them."""
    return SequenceModel(config) if config.members == 1 else SequenceEnsemble(config)
