"""Confidence intervals and tests for rates (click-through, hit rate) of experiment variants."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95%


@dataclass(frozen=True, slots=True)
class Rate:
    """``hits`` out of ``trials``, with its Wilson 95% interval."""

    hits: int
    trials: int

    @property
    def value(self) -> float:
        """The observed rate (0 with no trials)."""
        return self.hits / self.trials if self.trials else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson score interval: honest near 0 and 1, where the normal one is not."""
        return wilson_interval(self.hits, self.trials)


def wilson_interval(hits: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial rate; (0, 1) with no trials."""
    if trials <= 0:
        return 0.0, 1.0
    rate = hits / trials
    denominator = 1 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_p_value(a: Rate, b: Rate) -> float:
    """Two-sided p-value that ``a`` and ``b`` share one rate (pooled z-test)."""
    if not a.trials or not b.trials:
        return 1.0
    pooled = (a.hits + b.hits) / (a.trials + b.trials)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials))
    if spread == 0:
        return 1.0
    z = (a.value - b.value) / spread
    return math.erfc(abs(z) / math.sqrt(2))
