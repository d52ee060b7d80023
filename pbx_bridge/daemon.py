"""The daemon: the core (core.py), the enabled feature rooms plugged into it, and its life.

One asyncio loop, one TaskGroup of named tasks; SIGTERM/SIGINT cancel the main task, and
cancellation flows down so that the store writer can write what it still holds. How tasks are
started, reported when they fail, and how long a stop may take: life.py. The rooms: rooms.py; what a room plugs in:
core.py, and docs/architecture.md ("Rooms and the core").
"""

from __future__ import annotations

import asyncio
import signal

import structlog

from pbx_bridge import listen, rooms, sdnotify
from pbx_bridge.config import Config
from pbx_bridge.core import Core
from pbx_bridge.life import Life, first_failure
from pbx_bridge.store.engine import safe_url

log = structlog.get_logger(__name__)


class Daemon:
    def __init__(self, cfg: Config, secret: str) -> None:
        self.cfg = cfg
        self.life = Life()
        self.tasks = self.life.tasks
        self.core = core = Core.build(cfg, secret, rooms.record_kinds())
        self.engine, self.writer, self.tracker, self.ami, self.agi = (
            core.engine, core.writer, core.tracker, core.ami, core.agi)
        core.every("call-sweeper", cfg.tracking.sweep_interval, self.tracker.sweep)
        core.add_task("watchdog", self._watchdog)
        for room in rooms.ROOMS:  # may raise RotaError, ScreeningFileError or SpoolError: exit 2
            feature = rooms.wiring(room)
            if feature.enabled(cfg):
                core.handles[room] = feature.wire(core)
        core.on_connected(core.after_gap)  # last: the live state and the rota are seeded first

    def health(self) -> dict:
        return self.core.health()

    async def _watchdog(self) -> None:
        interval = sdnotify.watchdog_interval() or 15.0
        while True:
            health = self.health()
            sdnotify.notify(
                "WATCHDOG=1",
                f"STATUS=ami {'up' if health['ami']['connected'] else 'down'}, "
                f"{health['tracker']['active_calls']} calls in queue, {health['store']['pending']} records pending, "
                f"{health['store']['spooled']} spooled, "
                f"{health['agi']['active']} AGI sessions",
            )
            await asyncio.sleep(interval)

    async def run(self) -> None:
        log.info("daemon_starting", pbx=self.cfg.pbx, store=safe_url(self.cfg.store.url),
                 ami=f"{self.cfg.ami.host}:{self.cfg.ami.port}")
        try:
            async with asyncio.TaskGroup() as group:
                for name, factory in self.core.tasks.items():
                    self.life.start(group, name, factory())
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.core.reload)
                sdnotify.notify("READY=1")
                log.info("daemon_ready")
        except BaseExceptionGroup as failed:
            raise first_failure(failed) from None  # each failure was logged with its traceback as it happened
        finally:
            sdnotify.notify("STOPPING=1")
            try:
                async with asyncio.timeout(5):  # a database that does not answer must not hold the stop
                    await self.engine.dispose()
            except TimeoutError:
                log.warning("store_dispose_timed_out")
            self.writer.close()
            log.info("daemon_stopped", **self.writer.health())


async def main(cfg: Config, secret: str) -> None:
    """A clean stop (SIGTERM) returns; a failure raises the task's exception for the command."""
    rooms.upgrade(cfg.store.url)
    daemon = Daemon(cfg, secret)  # may raise RotaError, ScreeningFileError or SpoolError: exit 2
    listen.ensure_fd_budget(sum(server.listener.max_connections for server in daemon.core.listeners))
    # The ports first: one in use ends the start here (ListenError: one line, exit 2), before
    # anything connects and before systemd hears READY=1.
    for listener in daemon.core.listeners:
        await listener.bind()
    daemon.life.guard(asyncio.current_task())
    try:
        await daemon.run()
    except asyncio.CancelledError:
        log.info("daemon_signalled", reason=daemon.life.stopping)
