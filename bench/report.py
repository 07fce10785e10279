"""Printing and saving benchmark figures: ratios first, absolute numbers second.

Every benchmark measures against a baseline in the same run (these machines are
noisy), so a result is a list of ratios plus the figures they come from.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ratio:
    """``value / baseline`` with what both measure, e.g. pipeline vs passthrough."""

    name: str
    value: float
    baseline: float
    target: float | None = None  # the ratio the issue asks for, if any

    @property
    def ratio(self) -> float:
        """The ratio (0 when the baseline is 0: nothing to compare with)."""
        return self.value / self.baseline if self.baseline else 0.0

    @property
    def met(self) -> bool | None:
        """Whether the target is met; None without a target."""
        return None if self.target is None else self.ratio >= self.target


@dataclass(slots=True)
class BenchResult:
    """One benchmark's outcome: ratios, figures (JSON keys) and notes."""

    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    ratios: list[Ratio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Figures plus ratios and the conditions they were measured under."""
        return {
            **self.figures,
            "ratios": {r.name: round(r.ratio, 4) for r in self.ratios},
            "targets_met": {r.name: r.met for r in self.ratios if r.target is not None},
            "notes": self.notes,
            "conditions": machine_conditions(),
        }


def percentiles(
    samples: Sequence[float], points: Sequence[float] = (50, 95, 99)
) -> dict[float, float]:
    """Percentiles of ``samples`` (NaN for an empty list)."""
    if len(samples) == 0:
        return {point: float("nan") for point in points}
    values = np.percentile(np.asarray(samples, dtype=np.float64), points)
    return {point: float(value) for point, value in zip(points, values, strict=True)}


def machine_conditions() -> dict[str, Any]:
    """What the figures were measured on: cores, load, Python, time."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpus": os.cpu_count(),
        "loadavg_1m": round(load[0], 2),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def format_result(result: BenchResult) -> str:
    """Human-readable text: ratios first, then figures, then notes."""
    lines = [f"== {result.name} =="]
    for ratio in result.ratios:
        verdict = ""
        if ratio.target is not None:
            verdict = f"  target ≥ {ratio.target:g}: {'met' if ratio.met else 'NOT met'}"
        lines.append(
            f"  {ratio.name:<44} {ratio.ratio:8.3f}x  "
            f"({_number(ratio.value)} vs {_number(ratio.baseline)}){verdict}"
        )
    for key, value in result.figures.items():
        if isinstance(value, list):
            lines.append(f"  {key}:")
            lines.extend(f"    {_row(entry)}" for entry in value)
        else:
            lines.append(f"  {key:<44} {_number(value)}")
    lines.extend(f"  note: {note}" for note in result.notes)
    return "\n".join(lines)


def emit(result: BenchResult, json_path: Path | None) -> None:
    """Print the result and, when asked, write its JSON."""
    print(format_result(result), flush=True)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result.as_json(), indent=2, default=_jsonable))
        log.info("wrote %s", json_path)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def _row(entry: Any) -> str:
    if isinstance(entry, dict):
        return "  ".join(f"{key}={_number(value)}" for key, value in entry.items())
    return str(entry)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
