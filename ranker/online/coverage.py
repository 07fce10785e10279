"""Catalog coverage: distinct items shown, as HyperLogLog registers mergeable across windows.

1,024 registers (1 KiB per window) estimate distinct items to about 3%; the
union of partitions or windows is the registers' element-wise maximum.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

import numpy as np

COVERAGE_BITS = 10


def _register_and_rank(item_id: str) -> tuple[int, int]:
    hashed = int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=8).digest(), "big")
    register = hashed >> (64 - COVERAGE_BITS)
    rest = hashed & ((1 << (64 - COVERAGE_BITS)) - 1)
    rank = (64 - COVERAGE_BITS) - rest.bit_length() + 1
    return register, rank


def coverage_add(registers: bytes, item_ids: Iterable[str]) -> bytes:
    """``registers`` (empty = none yet) with ``item_ids`` added."""
    values = bytearray(registers or bytes(1 << COVERAGE_BITS))
    for item_id in item_ids:
        register, rank = _register_and_rank(item_id)
        if rank > values[register]:
            values[register] = rank
    return bytes(values)


def coverage_merge(many: Iterable[bytes]) -> bytes:
    """The registers of the union of the sets behind ``many``."""
    merged = np.zeros(1 << COVERAGE_BITS, dtype=np.uint8)
    for registers in many:
        if registers:
            np.maximum(merged, np.frombuffer(registers, dtype=np.uint8), out=merged)
    return merged.tobytes()


def coverage_estimate(registers: bytes) -> float:
    """Estimated distinct items behind ``registers``."""
    if not registers:
        return 0.0
    values = np.frombuffer(registers, dtype=np.uint8).astype(np.float64)
    m = float(len(values))
    raw = 0.7213 / (1 + 1.079 / m) * m * m / float(np.sum(np.exp2(-values)))
    empty = int(np.count_nonzero(values == 0))
    if raw <= 2.5 * m and empty:
        return m * math.log(m / empty)  # linear counting: better for small sets
    return raw
