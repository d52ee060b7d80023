"""Wrong PINs lock the menu for a while, per phone and per 工号 (rules §7: keep the login secret).

Counting per 工号 as well as per phone stops guessing one agent's PIN from several phones; an
unknown 工号 counts the same as a known one, so the lock itself says nothing about who exists.
Kept in memory: a daemon restart forgets the counts, which costs a guesser a restart they cannot
cause from a phone.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 10_000  # bounded memory: the oldest keys are forgotten first


class PinLockout:
    def __init__(self, after: int, window_s: float, lock_s: float, clock: Callable[[], float] = time.monotonic):
        self.after, self.window_s, self.lock_s, self.clock = after, window_s, lock_s, clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def locked(self, *keys: str) -> bool:
        now = self.clock()
        return any(self._locked_until.get(k, 0) > now for k in keys if k)

    def failed(self, *keys: str) -> bool:
        """Count a wrong log-in against each key; True when that locked one of them."""
        now = self.clock()
        locked = False
        for key in (k for k in keys if k):
            times = self._failures.setdefault(key, deque())
            times.append(now)
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if len(times) >= self.after:
                self._locked_until[key] = now + self.lock_s
                times.clear()
                locked = True
        while len(self._failures) > MAX_KEYS:
            self._failures.pop(next(iter(self._failures)))
        for key in [k for k, until in self._locked_until.items() if until <= now]:
            del self._locked_until[key]
        return locked

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def health(self) -> dict:
        now = self.clock()
        return {"locked": sum(1 for until in self._locked_until.values() if until > now)}
