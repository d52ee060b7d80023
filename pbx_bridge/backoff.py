"""Reconnect pacing shared by every long-lived connection (AMI, MQTT, the database), and their waits.

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


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait for `event` at most `seconds`; True if it was set.

    Not asyncio.wait_for: on 3.11 it swallows a cancellation that lands as the event is set,
    and the loop that called it would then outlive the daemon's stop.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


def raise_if_cancelled() -> None:
    """Raise CancelledError if this task has been asked to stop.

    A library may still swallow the cancellation (aiomqtt awaits with asyncio.wait_for, and an
    exception raised while cleaning up replaces it); a reconnect loop calls this before it tries
    again, so a swallowed stop ends the loop instead of keeping it alive for ever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
