"""The JSON a homepage request returns: a user's ranking, or trending when they have none."""

from __future__ import annotations

from typing import Any

from streams.homepage.catalog import Catalog
from streams.homepage.store import TrendingBoard
from streams.wire import Ranking

TRENDING_MODEL = "trending"
TRENDING_NOTE = "no personal ranking for this user yet: showing what is trending"


def _card(
    catalog: Catalog, item_id: str, score: float, reason: str, model_version: str
) -> dict[str, Any]:
    entry = catalog.get(item_id)
    return {
        "item_id": item_id,
        "title": entry.title if entry is not None and entry.title else item_id,
        "category": entry.category if entry is not None else None,
        "score": round(float(score), 6),
        "reason": reason,
        "model_version": model_version,
    }


def homepage_view(
    user_id: str,
    ranking: Ranking | None,
    catalog: Catalog,
    trending: TrendingBoard,
    limit: int,
) -> dict[str, Any]:
    """Build the homepage of ``user_id``, at most ``limit`` cards.

    ``source`` says where it came from: ``ranking`` (the user's own) or
    ``trending`` (the user has no ranking yet, or was forgotten).
    """
    if ranking is not None:
        return {
            "user_id": user_id,
            "source": "ranking",
            "model_version": ranking.model_version,
            "variant": ranking.variant,  # the experiment arm; None outside an experiment
            "generated_at": ranking.generated_at,
            "source_event": {
                "event_id": ranking.source_event_id,
                "type": ranking.source_event_type,
                "item_id": ranking.source_item_id,
                "ts": ranking.source_event_ts,
            },
            "items": [
                _card(catalog, item.item_id, item.score, item.reason, ranking.model_version)
                for item in ranking.items[:limit]
            ],
        }
    return {
        "user_id": user_id,
        "source": "trending",
        "note": TRENDING_NOTE,
        "model_version": TRENDING_MODEL,
        "variant": None,
        "generated_at": trending.generated_at,
        "source_event": None,
        "items": [
            _card(catalog, item_id, score, "trending", TRENDING_MODEL)
            for item_id, score in trending.top(limit)
        ],
    }
