"""The core every feature plugs into; it knows no feature.

The core owns the boundaries (the store and its writer, the AMI connection, the FastAGI server)
and the call tracker whose records are the project's reason to exist. A feature is a room with one
`wire(core)` (pbx_bridge/<room>/wiring.py) that builds its parts from its config section and hands
them to the core through the calls below. Nothing here names a feature; the daemon lists the rooms.

- `subscribe(event_names, handler)`: AMI events, each handler's errors its own (ami/bus.py);
  `on_connected(hook)`: after each AMI login, in the order added; `on_gap(fn)`: after an AMI gap,
  once the calls that ended meanwhile are closed.
- `add_route(name, route)`: a FastAGI script name (refused twice).
- `add_task(name, factory)`: a task for the life of the daemon (life.py); `add_listener(server)`:
  a port bound before anything starts; `every(name, interval_s, fn)`: a timed job (below).
- `add_health(name, fn)`: one key of `health()`; `add_page(path, handler)`: a page on the daemon's
  web listener (pages.py), served when the listener is enabled.
- `on_record(handler)`: each record of the tracker (and of any feature that calls `record`) goes to
  the store writer first, then to every handler in the order they were added.
- `on_reload(fn)`: SIGHUP, the admins' files read again.
- `notice(dict)`: a room tells of something it did by itself (a repair, a step taken): to the live
  state's alerts when there is one, then to every `on_notice(handler)`, so that another room can
  account for it without importing the room that did it.
- Shared between rooms that need them: `live` (the live state), `outbound` (the agents' phones),
  `rota` and `pins` (set by the rota room when voicemail or agents is enabled).
- `shared`: values one room offers another without an import, by name, each a function read at
  the moment of use: `callbacks.offer_after` (queue -> an earlier offer in s, or None), set by
  the escalation room and read by the callbacks room.
"""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Coroutine, Iterable

import structlog

from pbx_bridge.agi.server import FastAgiServer, Route
from pbx_bridge.ami.client import AmiClient, AmiError
from pbx_bridge.calls.tracker import TRACKER_EVENTS, CallTracker
from pbx_bridge.config import Config
from pbx_bridge.pages import Handler, Pages
from pbx_bridge.store.engine import async_engine
from pbx_bridge.store.registry import RecordKinds
from pbx_bridge.store.writer import StoreWriter

log = structlog.get_logger(__name__)

TaskFactory = Callable[[], Coroutine[Any, Any, Any]]


@dataclass(eq=False)
class Core:
    cfg: Config
    engine: Any
    writer: StoreWriter
    ami: AmiClient
    agi: FastAgiServer
    tracker: CallTracker | None = None
    live: Any = None
    outbound: Any = None
    rota: Any = None
    pins: Any = None
    tasks: dict[str, TaskFactory] = field(default_factory=dict)
    healths: dict[str, Callable[[], dict | None]] = field(default_factory=dict)
    listeners: list[Any] = field(default_factory=list)
    handles: dict[str, Any] = field(default_factory=dict)  # what each room's wire returned, by room
    shared: dict[str, Callable] = field(default_factory=dict)  # values rooms share by name (see above)
    pages: Pages = field(default_factory=Pages)  # served by the web listener (the live room's)
    _records: list[Callable[[Any], None]] = field(default_factory=list)
    _reloads: list[Callable[[], None]] = field(default_factory=list)
    _gaps: list[Callable[[], None]] = field(default_factory=list)
    _notices: list[Callable[[dict], None]] = field(default_factory=list)
    _jobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, cfg: Config, secret: str, kinds: RecordKinds) -> Core:
        """`kinds`: every record type the writer may be handed, registered by the rooms that own them."""
        engine = async_engine(cfg.store.url)
        writer = StoreWriter(engine, cfg.store.batch_size, cfg.store.flush_interval, cfg.store.max_pending,
                             cfg.store.spool_dir, kinds=kinds)
        core = cls(cfg, engine, writer, AmiClient(cfg.ami, secret), FastAgiServer(cfg.agi))
        core.tracker = CallTracker(cfg.pbx, cfg.ring, core.record, stale_after=cfg.tracking.stale_after)
        core.subscribe(TRACKER_EVENTS, core.tracker.handle)
        core.add_listener(core.agi)
        for name, component in (("ami", core.ami), ("tracker", core.tracker), ("store", core.writer),
                                ("agi", core.agi)):
            core.add_health(name, component.health)
        core.add_task("store-writer", writer.run)
        core.add_task("fastagi", core.agi.run)
        core.add_task("ami", core.ami.run)
        return core

    # --- what a room plugs in ----------------------------------------------------------------
    def subscribe(self, event_names: Iterable[str] | None, handler: Callable, name: str | None = None) -> None:
        self.ami.subscribe(event_names, handler, name)

    def on_connected(self, hook: Callable[[AmiClient, float | None], Awaitable[None]]) -> None:
        self.ami.on_connect(hook)

    def on_gap(self, fn: Callable[[], None]) -> None:
        self._gaps.append(fn)

    def add_route(self, name: str, route: Route) -> None:
        self.agi.add_route(name, route)

    def add_task(self, name: str, factory: TaskFactory) -> None:
        if name in self.tasks:
            raise ValueError(f"the task {name!r} is added twice")
        self.tasks[name] = factory

    def every(self, name: str, interval_s: float, fn: Callable[[], Any]) -> None:
        """A timed job: wait `interval_s`, run `fn()` (sync, or async and awaited), again, for the life
        of the daemon, as the task `name`. A run that raises is logged with its traceback and counted
        (`health()["jobs"]`), and the job goes on: one bad run must not end the daemon, nor be silent."""
        counts: dict[str, Any] = {"runs": 0, "failures": 0, "last_error": None}

        async def job() -> None:
            while True:
                await asyncio.sleep(interval_s)
                counts["runs"] += 1
                try:
                    result = fn()
                    if inspect.isawaitable(result):
                        await result
                except Exception as exc:  # CancelledError is not an Exception: it ends the job
                    counts["failures"] += 1
                    counts["last_error"] = repr(exc)
                    log.exception("timed_job_failed", job=name, failures=counts["failures"])

        self.add_task(name, job)  # refuses a name twice
        if not self._jobs:
            self.add_health("jobs", self.jobs_health)
        self._jobs[name] = counts

    def add_listener(self, server: Any) -> None:
        self.listeners.append(server)

    def add_health(self, name: str, fn: Callable[[], dict | None]) -> None:
        if name in self.healths:
            raise ValueError(f"the health key {name!r} is added twice")
        self.healths[name] = fn

    def add_page(self, path: str, handler: Handler, *, methods: tuple[str, ...] = ("GET",),
                 prefix: bool = False) -> None:
        self.pages.add(path, handler, methods=methods, prefix=prefix)

    def on_record(self, handler: Callable[[Any], None]) -> None:
        self._records.append(handler)

    def on_reload(self, fn: Callable[[], None]) -> None:
        self._reloads.append(fn)

    def on_notice(self, handler: Callable[[dict], None]) -> None:
        self._notices.append(handler)

    # --- what the core does with them --------------------------------------------------------
    def record(self, record: Any) -> None:
        # a call's latency to its stored row is measured from the event that finished it
        self.writer.put(record, self.tracker.latency_from(record))
        for handler in self._records:
            handler(record)

    def notice(self, notice: dict) -> None:
        """One handler's failure is logged and does not keep the notice from the others."""
        if self.live is not None:
            self.live.on_notice(notice)
        for handler in self._notices:
            try:
                handler(notice)
            except Exception:  # noqa: BLE001 - a listener's bug must not undo what the notice tells of
                log.exception("notice_handler_failed", handler=getattr(handler, "__qualname__", repr(handler)),
                              type=notice.get("type"))

    async def send_action(self, action: dict, timeout: float = 10.0) -> Any:
        return await self.ami.send_action(action, timeout)

    def health(self) -> dict:
        return {name: fn() for name, fn in self.healths.items()}

    def jobs_health(self) -> dict:
        return {name: dict(counts) for name, counts in self._jobs.items()}

    def reload(self) -> None:
        """SIGHUP: read the admins' files again (each keeps its old version on an error)."""
        for fn in self._reloads:
            fn()

    async def after_gap(self, ami: AmiClient, gap_s: float | None) -> None:
        """The last hook at each AMI login: after a gap, close the calls that ended while we were away."""
        if gap_s is None:
            return
        closed = 0
        if self.tracker.in_queue:
            # Calls that ended while we were away (or died with an Asterisk restart) will send no
            # more events: ask Asterisk which channels still exist and close the rest now.
            try:
                listing = await ami.send_action({"Action": "CoreShowChannels"}, timeout=10)
            except (TimeoutError, ConnectionError, AmiError) as exc:
                log.warning("ami_channel_resync_failed", error=repr(exc))
            else:
                items = listing if isinstance(listing, list) else []
                closed = self.tracker.close_missing({m.get("Uniqueid") for m in items if m.get("Uniqueid")})
        log.warning("ami_gap", gap_s=round(gap_s, 1), calls_in_queue=self.tracker.in_queue,
                    calls_closed_as_incomplete=closed)
        for fn in self._gaps:
            fn()
