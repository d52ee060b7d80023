"""How the daemon's tasks live and how the daemon ends: one way to stop, one way to fail.

Stop: SIGTERM or SIGINT (what `systemctl stop` and `restart` send) cancels the main task; its
TaskGroup cancels every task; each component cleans up in `except CancelledError`/`finally`
(the MQTT publisher says "offline", the store writer writes or spools what it holds) and lets the
cancellation through. Exit status 0. There is no stop flag beside it: a path that only tests
take is a path production never proves.

Fail: every task runs for the life of the daemon, so one that raises, or returns, is a failure.
It is logged at once with its traceback (`daemon_task_failed`, naming the task), the TaskGroup
cancels the others as for a stop, and the exception reaches the command, which exits 1 (or 2
for a listener that cannot bind). systemd restarts the daemon.

Bounded: from the moment the stop begins, the process is gone within STOP_LIMIT_S, well under
the unit's TimeoutStopSec (20 s). Each clean-up bounds itself; if one still hangs, the tasks left
are logged (`daemon_stop_overran`) and the process exits 1 there and then, rather than waiting
for systemd's SIGKILL, which would leave no word of why.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)

STOP_LIMIT_S = 15.0


class TaskEnded(Exception):
    """A task that should run for the life of the daemon returned."""


async def _for_life(name: str, coro: Coroutine[Any, Any, Any]) -> None:
    await coro
    raise TaskEnded(f"task {name!r} returned; it should run until the daemon stops")


def first_failure(group: BaseExceptionGroup) -> BaseException:
    """The exception that ended the daemon (a TaskGroup wraps them; the command wants the cause)."""
    for exc in group.exceptions:
        return first_failure(exc) if isinstance(exc, BaseExceptionGroup) else exc
    return group


def describe(exc: BaseException) -> str:
    """One line for the command's stderr (systemd's status shows it); the log has the traceback."""
    task = getattr(exc, "daemon_task", None)
    return f"task {task!r} failed: {exc!r}"[:500] if task else f"failed: {exc!r}"[:500]


class Life:
    """The daemon's named tasks, reported as they end, and the stop's time limit."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task] = {}
        self.stopping: str | None = None
        self._guarded = False
        self._limit: asyncio.TimerHandle | None = None

    def start(self, group: asyncio.TaskGroup, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        task = group.create_task(_for_life(name, coro), name=name)
        task.add_done_callback(self._ended)
        self.tasks[name] = task
        return task

    def guard(self, main_task: asyncio.Task) -> None:
        """The process's own wiring (main, not tests): signals cancel `main_task`; stops are time-limited."""
        self._guarded = True
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._signalled, sig, main_task)

    def _signalled(self, sig: signal.Signals, main_task: asyncio.Task) -> None:
        log.info("daemon_stopping", signal=sig.name)
        self._begin_stop(sig.name)
        main_task.cancel()

    def _ended(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:  # _for_life never returns
            return
        try:
            exc.daemon_task = task.get_name()  # for describe()
        except AttributeError:  # an exception class with __slots__: the log still names the task
            pass
        log.error("daemon_task_failed", task=task.get_name(), error=repr(exc)[:300], exc_info=exc)
        self._begin_stop(f"task {task.get_name()} failed")

    def _begin_stop(self, reason: str) -> None:
        if self.stopping is None:
            self.stopping = reason
        if self._guarded and self._limit is None:
            self._limit = asyncio.get_running_loop().call_later(STOP_LIMIT_S, self._overran)

    def _overran(self) -> None:
        running = sorted(name for name, task in self.tasks.items() if not task.done())
        log.critical("daemon_stop_overran", limit_s=STOP_LIMIT_S, reason=self.stopping, tasks_still_running=running)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
