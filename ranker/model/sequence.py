"""The next-item sequence model: item text + item id through a causal Transformer.

* **Items.** An item's vector is a learned projection of its frozen BERT
  (MiniLM) text vector plus an item-id embedding. Items with no training
  interactions have no id row (``has_id`` is False), so they are scored from
  their text alone; training drops id rows at random (``id_dropout``) so the
  text path alone stays a usable scorer.
* **Users.** A user is their ordered recent interactions: each position adds a
  learned position embedding and an embedding of the log-bucketed time gap to
  the previous interaction, then ``layers`` causal self-attention blocks. The
  output at the newest position is the user vector.
* **Scores.** ``user · item`` over the same item vectors the input uses (tied),
  plus ``text_blend`` times the cosine between the item's frozen text vector
  and the user's text profile (the weighted mean of their history's text
  vectors), a weight chosen on validation after training. The 64-d item
  vectors cannot tell apart two products with near-identical titles; the
  384-d text vectors can. Live retrieval stays one inner-product search, over
  ``[item vector, text_blend · text vector]``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ranker.model.sequence_input import SEQUENCE_EVENT_TYPES
from ranker.state import INTERACTION_WEIGHTS

PAD = 0  # item row 0 is padding; catalog item ``i`` is row ``i + 1``
# Weight of each input type code (padding, then SEQUENCE_EVENT_TYPES) in a
# user's text profile: the interaction weights the zero-shot ranker pools
# with, dislikes (negative) left out.
TEXT_PROFILE_WEIGHTS = (
    0.0,
    *(max(0.0, INTERACTION_WEIGHTS[name]) for name in SEQUENCE_EVENT_TYPES),
)


@dataclass(frozen=True)
class SequenceConfig:
    """Shape of the sequence model (saved with the weights)."""

    items: int  # catalog size (rows 1..items; row 0 pads)
    text_dim: int = 384
    dim: int = 64
    layers: int = 2
    heads: int = 2
    max_length: int = 200
    dropout: float = 0.2
    gap_buckets: int = 24
    event_types: int = 3  # click, view, dislike (code + 1 on the input; 0 pads)
    use_text: bool = True
    use_ids: bool = True
    # A learned vector that stands in for the id part of an item without one
    # (never trained, or its row dropped this step), so text-only items are
    # scored on the same scale as items with ids instead of below all of them.
    missing_id_row: bool = True
    # Weight of the text-profile cosine beside ``user · item`` (0: none); set
    # from validation at the end of training.
    text_blend: float = 0.0
    # How much each older interaction counts in the text profile against the
    # one after it (1: the plain weighted mean). Chosen on validation with the
    # blend weight: on short, title-driven logs the newest items say most
    # about the next one.
    profile_decay: float = 1.0
    # Learn the text term in training instead of only blending it afterwards:
    # the user's query in the 384-d text space is their text profile plus a
    # learned map of the user vector (zero at the start, so training begins
    # from the zero-shot cosine), weighted by a learned scalar. The 64-d item
    # vectors cannot tell apart near-identical titles; the text space can.
    text_query: bool = False
    # Independently trained copies scored as one (their vectors concatenated,
    # so the score is the sum of theirs): see ranker/model/sequence_ensemble.py.
    members: int = 1
    # How the item text vectors were made: the frozen encoder, or with its top
    # layer (or adapters on it) tuned in training (ranker/training/text_tuning.py).
    # A tuned model's ``items.text`` holds the tuned vectors of its catalog.
    text_tuning: str = "frozen"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> SequenceConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        # Artifacts saved before the missing-id row existed have none.
        return cls(**{"missing_id_row": False, **values})  # type: ignore[arg-type]

    @property
    def vector_dim(self) -> int:
        """Width of the user and item vectors the model scores with (all members)."""
        return self.dim * self.members

    @property
    def learns_text_term(self) -> bool:
        """Whether training learns the text-space query and its weight."""
        return self.text_query and self.use_text


def gap_buckets(gaps_s: torch.Tensor, buckets: int) -> torch.Tensor:
    """Log2 buckets of the seconds since the previous interaction (0 = first or same second)."""
    return torch.clamp(
        torch.log2(gaps_s.float().clamp(min=1.0)).floor().long() + 1, 0, buckets - 1
    ) * (gaps_s > 0)


def _weighted_texts(text_vectors: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
    """Each position's text vector times its type's TEXT_PROFILE_WEIGHTS weight."""
    table = torch.tensor(TEXT_PROFILE_WEIGHTS, dtype=text_vectors.dtype, device=types.device)
    return text_vectors * table[types.clamp(0, len(TEXT_PROFILE_WEIGHTS) - 1)][..., None]


def prefix_text_profiles(
    text_vectors: torch.Tensor, types: torch.Tensor, decay: float = 1.0
) -> torch.Tensor:
    """Unit text profile ``(B, L, T)`` of every prefix of the histories ``(B, L, T)``.

    Position ``p`` pools positions ``0..p`` only: in training each position
    predicts the next item from what came before it, never after. Position
    ``q`` counts ``decay ** (p - q)`` in the profile of prefix ``p``.
    """
    weighted = _weighted_texts(text_vectors, types)
    if decay == 1.0:
        pooled = torch.cumsum(weighted, dim=1)
    else:
        steps = torch.arange(weighted.shape[1], device=weighted.device, dtype=weighted.dtype)
        apart = steps[:, None] - steps[None, :]
        mixing = torch.where(apart >= 0, decay ** apart.clamp(min=0), 0.0)
        pooled = torch.einsum("pq,bqt->bpt", mixing, weighted)
    return nn.functional.normalize(pooled, dim=-1)


def text_profile(
    text_vectors: torch.Tensor, types: torch.Tensor, decay: float = 1.0
) -> torch.Tensor:
    """Unit weighted mean ``(B, T)`` of a history's text vectors ``(B, L, T)``.

    ``types`` ``(B, L)`` holds input type codes (0 pads); a history with no
    click or view gets the zero vector, so its text term is 0 everywhere.
    Histories are right-aligned: the newest interaction counts 1, the one
    before it ``decay``, the one before that ``decay ** 2``, and so on.
    """
    weighted = _weighted_texts(text_vectors, types)
    if decay != 1.0:
        back = torch.arange(weighted.shape[1] - 1, -1, -1, device=weighted.device)
        weighted = weighted * (decay ** back.to(weighted.dtype))[None, :, None]
    return nn.functional.normalize(weighted.sum(1), dim=1)


class ItemTable(nn.Module):
    """Item vectors from text projections and id embeddings."""

    def __init__(self, config: SequenceConfig) -> None:
        super().__init__()
        self.config = config
        rows = config.items + 1
        self.text: torch.Tensor
        self.has_id: torch.Tensor
        self.register_buffer("text", torch.zeros(rows, config.text_dim), persistent=True)
        self.register_buffer("has_id", torch.zeros(rows, dtype=torch.bool), persistent=True)
        text_out = nn.Linear(config.dim * 2, config.dim)
        self.text_projection = nn.Sequential(
            nn.Linear(config.text_dim, config.dim * 2), nn.GELU(), text_out
        )
        self.ids = nn.Embedding(rows, config.dim, padding_idx=PAD)
        nn.init.normal_(self.ids.weight, std=0.02)
        # The text path starts quiet (as small as the id rows) and grows as it
        # earns its place; at torch's default scale it swamped the id signal.
        nn.init.normal_(text_out.weight, std=0.02)
        nn.init.zeros_(text_out.bias)
        with torch.no_grad():
            self.ids.weight[PAD].zero_()
        self.missing_id: nn.Parameter | None = None
        if config.use_ids and config.missing_id_row:
            self.missing_id = nn.Parameter(torch.zeros(config.dim))

    def set_items(self, text_vectors: torch.Tensor, has_id: torch.Tensor) -> None:
        """Load the catalog's text vectors ``(items, text_dim)`` and which items have ids."""
        with torch.no_grad():
            self.text[1:] = text_vectors.to(self.text)
            self.has_id[1:] = has_id.to(self.has_id.device)
            self.has_id[PAD] = False

    def forward(
        self, id_keep: torch.Tensor | None = None, text: torch.Tensor | None = None
    ) -> torch.Tensor:
        """All item vectors ``(items + 1, dim)``.

        ``id_keep`` optionally masks id rows; ``text`` replaces the stored text
        table (a step that tunes the text encoder passes its own).
        """
        config = self.config
        vectors = torch.zeros(config.items + 1, config.dim, device=self.ids.weight.device)
        if config.use_text:
            vectors = vectors + self.text_projection(self.text if text is None else text)
        if config.use_ids:
            keep = self.has_id if id_keep is None else self.has_id & id_keep
            vectors = vectors + self.ids.weight * keep[:, None].to(vectors.dtype)
            if self.missing_id is not None:
                missing = ~keep
                missing[PAD] = False
                vectors = vectors + missing[:, None].to(vectors.dtype) * self.missing_id
        return vectors

    def text_only(self, text_vectors: torch.Tensor) -> torch.Tensor:
        """Vectors ``(N, dim)`` of items known only by their text (never trained)."""
        vectors = torch.zeros(len(text_vectors), self.config.dim, device=text_vectors.device)
        if self.config.use_text:
            vectors = vectors + self.text_projection(text_vectors)
        if self.config.use_ids and self.missing_id is not None:
            vectors = vectors + self.missing_id
        return vectors


class CausalBlock(nn.Module):
    """Pre-norm self-attention + feed-forward block.

    Dropout sits on the residual branches only: dropping attention weights
    (``nn.TransformerEncoderLayer`` does) drew a Bernoulli mask per head and
    pair, which took ~40% of a CPU training step for no measured gain.
    """

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3)
        self.attention_out = nn.Linear(dim, dim)
        self.feed_forward_norm = nn.LayerNorm(dim)
        self.feed_forward = nn.Sequential(
            nn.Linear(dim, dim * 4), nn.GELU(), nn.Linear(dim * 4, dim)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """``allowed`` ``(B, 1, L, L)``: True where a query may attend to a key."""
        batch, length, dim = hidden.shape
        qkv = self.qkv(self.attention_norm(hidden))
        qkv = qkv.view(batch, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attended = nn.functional.scaled_dot_product_attention(
            qkv[0], qkv[1], qkv[2], attn_mask=allowed
        )
        attended = attended.transpose(1, 2).reshape(batch, length, dim)
        hidden = hidden + self.dropout(self.attention_out(attended))
        return hidden + self.dropout(self.feed_forward(self.feed_forward_norm(hidden)))


class HistoryEncoder(nn.Module):
    """What every scoring model does with a batch of histories, given ``encode_inputs``.

    Shared by one model and an ensemble of them (ranker/model/sequence_ensemble.py),
    which differ only in how item vectors are made and inputs encoded.
    """

    config: SequenceConfig

    def encode_inputs(
        self,
        inputs: torch.Tensor,
        present: torch.Tensor,
        gaps_s: torch.Tensor,
        types: torch.Tensor,
    ) -> torch.Tensor:
        """Hidden state at every position from the item vectors at each position."""
        raise NotImplementedError

    def all_item_vectors(self) -> torch.Tensor:
        """Every catalog row's item vector."""
        raise NotImplementedError

    def text_table(self) -> torch.Tensor:
        """The catalog's text vectors ``(items + 1, text_dim)`` (frozen, or tuned in training)."""
        raise NotImplementedError

    def encode(
        self,
        sequence: torch.Tensor,
        gaps_s: torch.Tensor,
        types: torch.Tensor,
        item_vectors: torch.Tensor,
    ) -> torch.Tensor:
        """Hidden state at every position ``(B, L, vector_dim)`` of right-aligned sequences.

        ``sequence`` holds item rows (PAD on the left), ``gaps_s`` the seconds
        since each interaction's predecessor, ``types`` event type code + 1.
        Position embeddings count back from the newest interaction, so the
        newest always has the same one.
        """
        return self.encode_inputs(item_vectors[sequence], sequence != PAD, gaps_s, types)

    def user_vectors(
        self,
        sequence: torch.Tensor,
        gaps_s: torch.Tensor,
        types: torch.Tensor,
        item_vectors: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The user vector ``(B, vector_dim)``: the hidden state at the newest position."""
        vectors = self.all_item_vectors() if item_vectors is None else item_vectors
        return self.encode(sequence, gaps_s, types, vectors)[:, -1]

    def text_profiles(self, sequence: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """Each history's text profile ``(B, text_dim)`` from the catalog's text vectors."""
        return text_profile(self.text_table()[sequence], types, self.config.profile_decay)


class SequenceModel(HistoryEncoder):
    """Causal Transformer over item vectors; scores are inner products with item vectors."""

    def __init__(self, config: SequenceConfig) -> None:
        super().__init__()
        if config.members != 1:
            raise ValueError(
                "a SequenceModel is one member: build ensembles with build_sequence_model"
            )
        self.config = config
        self.items = ItemTable(config)
        self.positions = nn.Embedding(config.max_length, config.dim)
        self.gaps = nn.Embedding(config.gap_buckets, config.dim)
        self.types = nn.Embedding(config.event_types + 1, config.dim, padding_idx=0)
        self.input_norm = nn.LayerNorm(config.dim)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            CausalBlock(config.dim, config.heads, config.dropout) for _ in range(config.layers)
        )
        self.output_norm = nn.LayerNorm(config.dim)
        # Small embeddings (as BERT/SASRec initialise them): torch's default
        # N(0, 1) would drown the item signal under position and gap noise.
        for table in (self.positions, self.gaps, self.types):
            nn.init.normal_(table.weight, std=0.02)
        with torch.no_grad():
            self.types.weight[0].zero_()
        self.text_query: nn.Linear | None = None
        self.text_weight: nn.Parameter | None = None
        if config.learns_text_term:
            self.text_query = nn.Linear(config.dim, config.text_dim)
            nn.init.zeros_(self.text_query.weight)
            nn.init.zeros_(self.text_query.bias)
            self.text_weight = nn.Parameter(torch.tensor(1.0))

    def text_queries(self, hidden: torch.Tensor, profiles: torch.Tensor) -> torch.Tensor:
        """Users' queries in the text space: the profile, plus the learned map if any."""
        if self.text_query is None:
            return profiles
        return profiles + self.text_query(hidden)

    def encode_inputs(
        self,
        inputs: torch.Tensor,
        present: torch.Tensor,
        gaps_s: torch.Tensor,
        types: torch.Tensor,
    ) -> torch.Tensor:
        """:meth:`encode` from the item vectors at each position ``(B, L, dim)``.

        ``present`` ``(B, L)`` is False on padding. A live worker gathers the
        vectors of each user's history from its index instead of holding a
        catalog-sized table per batch.
        """
        length = inputs.shape[1]
        hidden = inputs * math.sqrt(self.config.dim)
        back = torch.arange(length - 1, -1, -1, device=inputs.device)
        hidden = (
            hidden
            + self.positions(back)[None]
            + self.gaps(gap_buckets(gaps_s, self.config.gap_buckets))
            + self.types(types)
        )
        hidden = self.dropout(self.input_norm(hidden))
        # Causal, and no attending to padding; each position always sees itself,
        # so no attention row is empty (an empty row would be NaN).
        eye = torch.eye(length, dtype=torch.bool, device=inputs.device)
        causal = torch.tril(torch.ones(length, length, dtype=torch.bool, device=inputs.device))
        allowed = (causal[None] & present[:, None, :]) | eye[None]
        for block in self.blocks:
            hidden = block(hidden, allowed[:, None])
        return self.output_norm(hidden)

    def all_item_vectors(self) -> torch.Tensor:
        """Every catalog row's item vector ``(items + 1, dim)``."""
        vectors: torch.Tensor = self.items()
        return vectors

    def text_table(self) -> torch.Tensor:
        """The catalog's text vectors ``(items + 1, text_dim)`` (frozen, or tuned in training)."""
        return self.items.text
