"""Work that must not run on the event loop (argon2 hashes, a report's queries), in worker threads,
a few at a time.

The loop serves calls: a slow hash or query on it would hold every call's AGI and AMI. A thread is
held until its work ends even when whoever asked has gone (a caller hung up, a browser gave up), so
a flood of abandoned requests never starts more threads than there are slots; with `waiting_max`
set, a request beyond that many queued is refused at once (`Busy`) instead of queueing without end.
A thread's failure is also reported through `on_error`, since its asker may be gone.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable


class Busy(Exception):
    """Refused unrun: `waiting_max` requests already wait for a slot."""


class CappedThreads:
    def __init__(self, name: str, concurrent: int, waiting_max: int | None = None,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.name = name
        self.waiting_max = waiting_max
        self.on_error = on_error
        self._slots = asyncio.Semaphore(concurrent)
        self.waiting = 0
        self.refused_busy = 0
        self._running: set[asyncio.Task] = set()

    @property
    def running(self) -> int:
        return len(self._running)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` in a worker thread once a slot is free; raises Busy when too many wait."""
        if self.waiting_max is not None and self.waiting >= self.waiting_max and self._slots.locked():
            self.refused_busy += 1
            raise Busy(self.name)
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        task = asyncio.create_task(asyncio.to_thread(fn, *args), name=self.name)
        self._running.add(task)
        task.add_done_callback(self._finished)
        return await asyncio.shield(task)

    def _finished(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        self._slots.release()
        if self.on_error is not None and not task.cancelled() and task.exception() is not None:
            self.on_error(task.exception())
