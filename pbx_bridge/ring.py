"""Rings to seconds and back: the arithmetic behind "answer at the second ring" (rules §1).

A ring cycle is `on_ms` of ringing then `off_ms` of silence; ring k starts at (k-1) cycles.
"Two rings" is a setting: `end_of_second_ring` (cn: 5 s + 1 s = 6 s) or `two_full_cycles`
(cn: 10 s).

The `ring:` settings live here too: the tracker, the reports and the ring-twice rule all read them,
and none of them should import another's room (or config.py) to do so.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from pbx_bridge.settings import Strict


class Cadence(Strict):
    on_ms: int = Field(gt=0)
    off_ms: int = Field(ge=0)


CADENCES = {"cn": Cadence(on_ms=1000, off_ms=4000), "us": Cadence(on_ms=2000, off_ms=4000)}


class RingConfig(Strict):
    cadence: Literal["cn", "us"] | Cadence
    two_rings: Literal["end_of_second_ring", "two_full_cycles"]
    misses_before_pause: int = Field(default=2, ge=0, le=100)

    @property
    def pattern(self) -> Cadence:
        return CADENCES[self.cadence] if isinstance(self.cadence, str) else self.cadence


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



RING_JITTER_S = 0.25  # the Dial timeout's own jitter is not the agent's fault


def within_two_rings_limit_s(two_rings: float) -> float:
    """The longest ring, in seconds, of an offer answered "within two rings": the one limit the
    ring-twice report, the monthly report's SQL and the rollups (which count against it as rows
    are written) all use."""
    return two_rings + RING_JITTER_S
