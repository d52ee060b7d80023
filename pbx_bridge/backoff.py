"""Reconnect pacing shared by every long-lived connection (AMI now, MQTT and the database later).

Hand-written rather than tenacity: tenacity counts attempts of one call, while a connection that
ran for hours and then dropped must start again from the short delay. Ten lines do that.
"""

from __future__ import annotations

import asyncio
import random


class Backoff:
    """Exponential backoff with full jitter; `reset()` after a session that went well."""

    def __init__(self, minimum: float, maximum: float, rng: random.Random | None = None) -> None:
        self.minimum, self.maximum = minimum, max(minimum, maximum)
        self.failures = 0
        self.rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.minimum * (2 ** min(self.failures, 30)))
        self.failures += 1
        return self.rng.uniform(self.minimum / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0


async def sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep, but wake at once when `stop` is set; True when stopping."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
