"""Prediction ids: UUIDv7 (RFC 9562) as 32 hex digits, ordered by creation time.

Time-ordered ids land at the end of the store's id index instead of at random places in it,
which keeps inserting a batch of predictions several times cheaper than with random UUIDs.
"""

from __future__ import annotations

import os
import time

import numpy as np

_RAND_B_MASK = (1 << 62) - 1
_VECTOR_FROM = 8  # below this many ids the integer arithmetic is cheaper than numpy


def new_ids(n: int = 1) -> list[str]:
    """``n`` fresh UUIDv7 ids (hex, no dashes), all with the current millisecond.

    >>> a, b = new_ids(2)
    >>> len(a), a[12], a != b, a[:12] == b[:12]
    (32, '7', True, True)
    """
    ms = time.time_ns() // 1_000_000
    if n >= _VECTOR_FROM:
        return _many(ms, n)
    rand = os.urandom(10 * n)
    head = (ms << 80) | (0x7 << 76)
    out = []
    for i in range(n):
        r = int.from_bytes(rand[10 * i : 10 * i + 10], "big")
        value = head | ((r >> 68) << 64) | (0b10 << 62) | (r & _RAND_B_MASK)
        out.append(f"{value:032x}")
    return out


def _many(ms: int, n: int) -> list[str]:
    """The same ids built as one byte table: 48-bit time, version 7, variant 0b10, random."""
    raw = bytearray(os.urandom(16 * n))
    table = np.frombuffer(raw, dtype=np.uint8).reshape(n, 16)
    table[:, :6] = np.frombuffer(ms.to_bytes(6, "big"), dtype=np.uint8)
    table[:, 6] = (table[:, 6] & 0x0F) | 0x70
    table[:, 8] = (table[:, 8] & 0x3F) | 0x80
    return raw.hex(" ", 16).split(" ")  # a third of the cost of slicing one hex string


def new_id() -> str:
    """One fresh UUIDv7 id (hex, no dashes)."""
    return new_ids(1)[0]


__all__ = ["new_id", "new_ids"]
