"""Training windows and evaluation histories in the sequence model's input form.

Training cuts each user's timeline into windows of fixed width from the newest
end, overlapping by one, so every interaction but the first is a target
exactly once.
"""

from __future__ import annotations

import numpy as np

from ranker.model.sequence_input import History, Timeline
from ranker.training.histories import Histories


def history_from_eval(histories: Histories, width: int) -> History:
    """Re-align the evaluation's left-aligned histories (ages become timestamps)."""
    count = len(histories)
    rows = np.zeros((count, width), dtype=np.int64)
    ts = np.zeros((count, width), dtype=np.int64)
    types = np.zeros((count, width), dtype=np.int64)
    stamps = histories.event_ts[:, None] - np.round(
        histories.age_days.astype(np.float64) * 86400.0
    ).astype(np.int64)
    for row in range(count):
        real = np.flatnonzero(histories.mask[row])[-width:]
        if len(real):
            rows[row, -len(real) :] = histories.items[row, real] + 1
            ts[row, -len(real) :] = stamps[row, real]
            types[row, -len(real) :] = histories.types[row, real] + 1
    return History(rows, ts, types)


def training_windows(timelines: list[Timeline], width: int) -> History:
    """Every timeline cut into windows of ``width`` from its newest end (overlap one)."""
    pieces: list[Timeline] = []
    for timeline in timelines:
        end = len(timeline.items)
        while end >= 2:
            start = max(0, end - width)
            pieces.append(
                Timeline(
                    timeline.items[start:end], timeline.ts[start:end], timeline.types[start:end]
                )
            )
            end = start + 1
            if start == 0:
                break
    return History.from_timelines(pieces, width)
