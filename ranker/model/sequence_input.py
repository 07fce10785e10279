"""What the sequence model reads: right-aligned interaction sequences as tensors.

A :class:`History` is a batch of right-aligned sequences: item rows shifted by
one (row 0 pads), timestamps and interaction types, the newest interaction in
the last column. Training windows and the live worker's user states both
become one, so the model reads them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Interaction types the model knows, in the order of their codes (input code + 1; 0 pads).
SEQUENCE_EVENT_TYPES: tuple[str, ...] = ("click", "view", "dislike")


@dataclass(frozen=True)
class Timeline:
    """One user's interactions in time order."""

    items: np.ndarray  # int64 catalog rows (0-based)
    ts: np.ndarray  # int64 seconds
    types: np.ndarray  # int8 event type codes


@dataclass(frozen=True)
class History:
    """Right-aligned padded sequences (newest last)."""

    rows: np.ndarray  # (B, W) int64 catalog row + 1, 0 on padding
    ts: np.ndarray  # (B, W) int64 seconds, 0 on padding
    types: np.ndarray  # (B, W) int64 event type code + 1, 0 on padding

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, rows: np.ndarray) -> History:
        """The sequences at ``rows``."""
        return History(self.rows[rows], self.ts[rows], self.types[rows])

    def items_rows(self) -> np.ndarray:
        """Catalog rows (0-based), -1 on padding."""
        return self.rows - 1

    @classmethod
    def from_timelines(cls, timelines: list[Timeline], width: int) -> History:
        """The newest ``width`` interactions of each timeline."""
        rows = np.zeros((len(timelines), width), dtype=np.int64)
        ts = np.zeros((len(timelines), width), dtype=np.int64)
        types = np.zeros((len(timelines), width), dtype=np.int64)
        for row, timeline in enumerate(timelines):
            count = min(width, len(timeline.items))
            if count:
                rows[row, -count:] = timeline.items[-count:] + 1
                ts[row, -count:] = timeline.ts[-count:]
                types[row, -count:] = timeline.types[-count:].astype(np.int64) + 1
        return cls(rows, ts, types)


def history_tensors(
    history: History, width: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Item rows, gap seconds to the previous interaction, and types, as tensors."""
    rows = history.rows[:, -width:]
    ts = history.ts[:, -width:]
    gaps = np.zeros_like(ts)
    gaps[:, 1:] = np.where(rows[:, :-1] > 0, ts[:, 1:] - ts[:, :-1], 0)
    gaps = np.where(rows > 0, np.maximum(gaps, 0), 0)
    return (
        torch.from_numpy(np.ascontiguousarray(rows)),
        torch.from_numpy(gaps),
        torch.from_numpy(np.ascontiguousarray(history.types[:, -width:])),
    )
