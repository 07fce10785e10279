"""The click model: BERT item tower, attention user tower, click head.

* Item tower: the MiniLM BERT encoder; the lower layers stay frozen (so their
  per-token outputs can be cached per item) and the top ``trainable_layers``
  are fine-tuned, then mean-pooled, linearly mapped (identity at start) and
  L2-normalised. Vectors keep the encoder's 384 dimensions, so the fine-tuned
  tower can re-encode the live FAISS catalog as is.
* User tower: multi-head attention pooling over the user's recent item vectors;
  each head's attention logit adds learned recency (age in days and position,
  log-bucketed) and interaction-type terms to a content match. Values are the
  item vectors times the interaction weight, so a dislike pulls away.
* Click head: a small MLP over (user . item, max and mean similarity of the
  item to the recent history) plus the cheap features of ``ranker.model.features``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from transformers import BertConfig, BertModel

from ranker.model.features import FEATURE_NAMES


@dataclass(frozen=True)
class ClickModelConfig:
    """Shape of the click model (saved with the weights)."""

    trainable_layers: int = 1
    max_text_tokens: int = 32
    max_history: int = 50
    similarity_history: int = 20  # newest items the max/mean similarity looks at
    heads: int = 2
    head_hidden: int = 32
    age_buckets: int = 16
    position_buckets: int = 8
    feature_names: tuple[str, ...] = FEATURE_NAMES

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        values = asdict(self)
        values["feature_names"] = list(self.feature_names)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> ClickModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = dict(values)
        known["feature_names"] = tuple(known.get("feature_names", FEATURE_NAMES))  # type: ignore[arg-type]
        return cls(**known)  # type: ignore[arg-type]


def additive_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """BERT's ``(B, 1, 1, T)`` additive mask from a 0/1 token mask."""
    blocked = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
    return blocked


class ItemTower(nn.Module):
    """Text -> item vector, with only the top BERT layers trainable."""

    def __init__(self, bert: BertModel, trainable_layers: int) -> None:
        super().__init__()
        layers = len(bert.encoder.layer)
        if not 1 <= trainable_layers <= layers:
            raise ValueError(f"trainable_layers must be in [1, {layers}], got {trainable_layers}")
        self.bert = bert
        self.split_at = layers - trainable_layers
        hidden = int(bert.config.hidden_size)
        self.projection = nn.Linear(hidden, hidden)
        with torch.no_grad():
            self.projection.weight.copy_(torch.eye(hidden))
            self.projection.bias.zero_()
        for name, parameter in self.bert.named_parameters():
            parameter.requires_grad = any(
                name.startswith(f"encoder.layer.{n}.") for n in range(self.split_at, layers)
            )

    @property
    def dim(self) -> int:
        """Item vector length."""
        return int(self.projection.out_features)

    def lower(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states entering the first trainable layer (frozen, cacheable)."""
        hidden = self.bert.embeddings(
            input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids)
        )
        mask = additive_mask(attention_mask, hidden.dtype)
        for layer in self.bert.encoder.layer[: self.split_at]:
            hidden = layer(hidden, attention_mask=mask)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        return hidden

    def upper(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, *, pretrained_only: bool = False
    ) -> torch.Tensor:
        """Trainable layers, mean pooling, projection, L2 norm.

        ``pretrained_only`` stops after pooling (the sentence vector the layers
        give, without the learned projection).
        """
        mask = additive_mask(attention_mask, hidden.dtype)
        for layer in self.bert.encoder.layer[self.split_at :]:
            hidden = layer(hidden, attention_mask=mask)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        weights = attention_mask.unsqueeze(-1).to(torch.float32)
        pooled = (hidden.to(torch.float32) * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        if not pretrained_only:
            pooled = self.projection(pooled)
        return nn.functional.normalize(pooled, dim=-1)


class UserTower(nn.Module):
    """Attention pooling of recent item vectors with recency and type terms."""

    def __init__(self, dim: int, config: ClickModelConfig) -> None:
        super().__init__()
        self.config = config
        self.queries = nn.Parameter(torch.randn(config.heads, dim) / math.sqrt(dim))
        self.keys = nn.Linear(dim, dim, bias=False)
        self.age_bias = nn.Embedding(config.age_buckets, config.heads)
        self.position_bias = nn.Embedding(config.position_buckets, config.heads)
        self.type_bias = nn.Linear(1, config.heads)
        self.output = nn.Linear(dim * config.heads, dim)
        for table in (self.age_bias, self.position_bias):
            nn.init.zeros_(table.weight)
        with torch.no_grad():
            # Start as the plain average of the heads: content pooling.
            self.output.weight.copy_(torch.cat([torch.eye(dim)] * config.heads, 1) / config.heads)
            self.output.bias.zero_()

    def forward(
        self,
        history: torch.Tensor,
        weights: torch.Tensor,
        age_days: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """``(B, L, D)`` history vectors (oldest first) -> ``(B, D)`` unit user vectors."""
        length = history.shape[1]
        newest_first = (
            mask.long().sum(1, keepdim=True) - 1 - torch.arange(length, device=history.device)
        ).clamp(min=0)
        position_bucket = (
            torch.log2(newest_first.float() + 1).long().clamp(max=self.config.position_buckets - 1)
        )
        age_bucket = (
            torch.log2(age_days.clamp(min=0) + 1).long().clamp(max=self.config.age_buckets - 1)
        )
        content = torch.einsum("bld,hd->blh", self.keys(history), self.queries)
        logits = (
            content
            + self.age_bias(age_bucket)
            + self.position_bias(position_bucket)
            + self.type_bias(weights.unsqueeze(-1))
        )
        logits = logits.masked_fill(~mask.unsqueeze(-1), torch.finfo(logits.dtype).min)
        attention = torch.softmax(logits, dim=1) * mask.unsqueeze(-1)
        values = history * weights.unsqueeze(-1)
        pooled = torch.einsum("blh,bld->bhd", attention, values).flatten(1)
        return nn.functional.normalize(self.output(pooled), dim=-1)


class ClickHead(nn.Module):
    """Logit of a click from similarities and cheap features."""

    SIMILARITIES = 3  # user.item, max and mean similarity to recent history

    def __init__(self, config: ClickModelConfig) -> None:
        super().__init__()
        inputs = self.SIMILARITIES + len(config.feature_names)
        self.scale = nn.Parameter(torch.tensor(5.0))
        self.linear = nn.Linear(inputs, 1)
        self.mlp = nn.Sequential(
            nn.Linear(inputs, config.head_hidden), nn.ReLU(), nn.Linear(config.head_hidden, 1)
        )

    def forward(self, similarities: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """``(B, C, 3)`` similarities and ``(B, C, F)`` features -> ``(B, C)`` logits."""
        inputs = torch.cat([similarities * self.scale, features], dim=-1)
        return (self.linear(inputs) + self.mlp(inputs)).squeeze(-1)


class ClickModel(nn.Module):
    """Item tower + user tower + click head."""

    def __init__(self, bert: BertModel, config: ClickModelConfig) -> None:
        super().__init__()
        self.config = config
        self.item_tower = ItemTower(bert, config.trainable_layers)
        self.user_tower = UserTower(self.item_tower.dim, config)
        self.head = ClickHead(config)

    @classmethod
    def from_bert_config(cls, bert_config: BertConfig, config: ClickModelConfig) -> ClickModel:
        """An untrained shell to load saved weights into."""
        return cls(BertModel(bert_config, add_pooling_layer=False), config)

    def logits(
        self,
        history: torch.Tensor,
        weights: torch.Tensor,
        age_days: torch.Tensor,
        mask: torch.Tensor,
        candidates: torch.Tensor,
        features: torch.Tensor,
    ) -> torch.Tensor:
        """Click logits of ``(B, C, D)`` candidate vectors (or ``(C, D)`` shared by all users).

        Args:
            history: ``(B, L, D)`` item vectors of each user's recent history, oldest first.
            weights: ``(B, L)`` interaction weights (click 1, view 0.3, dislike -0.5, pad 0).
            age_days: ``(B, L)`` days between each interaction and the scored moment.
            mask: ``(B, L)`` True on real history entries.
            candidates: candidate item vectors.
            features: ``(B, C, F)`` cheap features in ``config.feature_names`` order.

        """
        user = self.user_tower(history, weights, age_days, mask)
        recent = self.config.similarity_history
        recent_history = _newest(history, mask, recent)
        # Padding reads as weight 0, so "liked" is only real positive interactions.
        liked = _newest(weights.unsqueeze(-1), mask, recent).squeeze(-1) > 0
        if candidates.dim() == 2:
            dot = user @ candidates.T
            pair = torch.einsum("bld,cd->blc", recent_history, candidates)
        else:
            dot = torch.einsum("bd,bcd->bc", user, candidates)
            pair = torch.einsum("bld,bcd->blc", recent_history, candidates)
        floor = torch.finfo(pair.dtype).min
        best = pair.masked_fill(~liked.unsqueeze(-1), floor).amax(1)
        any_liked = liked.any(1, keepdim=True)
        best = torch.where(any_liked, best, torch.zeros_like(best))
        mean = (pair * liked.unsqueeze(-1)).sum(1) / liked.sum(1, keepdim=True).clamp(min=1)
        similarities = torch.stack([dot, best, mean], dim=-1)
        return self.head(similarities, features)


def _newest(values: torch.Tensor, mask: torch.Tensor, count: int) -> torch.Tensor:
    """The ``count`` newest real entries of left-aligned ``(B, L, ...)`` rows (zeros pad)."""
    lengths = mask.long().sum(1)
    offsets = (lengths - count).clamp(min=0)
    index = offsets.unsqueeze(1) + torch.arange(count, device=values.device)
    valid = index < lengths.unsqueeze(1)
    index = index.clamp(max=values.shape[1] - 1)
    gathered = torch.gather(values, 1, index.unsqueeze(-1).expand(-1, -1, values.shape[-1]))
    return gathered * valid.unsqueeze(-1).to(values.dtype)
