"""Rings to seconds and back: the arithmetic behind "answer at the second ring" (rules §1).

A ring cycle is `on_ms` of ringing then `off_ms` of silence; ring k starts at (k-1) cycles.
"Two rings" is a setting: `end_of_second_ring` (cn: 5 s + 1 s = 6 s) or `two_full_cycles`
(cn: 10 s).
"""

from __future__ import annotations

import math

from pbx_bridge.config import RingConfig


def cycle_s(ring: RingConfig) -> float:
    pattern = ring.pattern
    return (pattern.on_ms + pattern.off_ms) / 1000


def rings_for(ring_s: float | None, ring: RingConfig) -> int | None:
    """How many rings had started by the time the phone stopped ringing."""
    if ring_s is None:
        return None
    if ring_s <= 0:
        return 0
    return math.floor(ring_s / cycle_s(ring)) + 1


def two_rings_s(ring: RingConfig) -> float:
    """The seconds that make "two rings" under this configuration."""
    pattern = ring.pattern
    if ring.two_rings == "two_full_cycles":
        return 2 * cycle_s(ring)
    return cycle_s(ring) + pattern.on_ms / 1000

