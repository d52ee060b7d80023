"""The daemon's side of nuisance calls: it records the agents' warnings and answers "is this
number screened?" at the inbound entry.

The answer comes from memory, never from a query on the call's path: the view is rebuilt from the
store every `refresh_interval` seconds (so a screen or a lift made with the CLI, another process,
takes effect within seconds), at once after a warning recorded here, and when the admins' file
changes. If the store cannot be read, the view in force stays (and the error is logged).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timezone

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from pbx_bridge.backoff import raise_if_cancelled
from pbx_bridge.calls.outbound import endpoint_of
from pbx_bridge.nuisance import store
from pbx_bridge.nuisance.file import FileHolder, Loaded
from pbx_bridge.nuisance.model import NumberState, Rules, Screen, ScreenedCallRecord, WarningRecord, evaluate, normalise
from pbx_bridge.nuisance.settings import NuisanceConfig
from pbx_bridge.numbers import ChannelName, PhoneNumber

log = structlog.get_logger(__name__)

CALLS_REMEMBERED = 10_000  # warnings-per-call counters kept (calls in progress are far fewer)


class NuisanceDesk:
    def __init__(self, cfg: NuisanceConfig, pbx: str, tz, engine: AsyncEngine, sink: Callable[[object], None],
                 name_of: Callable[[str], str | None] = lambda endpoint: None,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.pbx = pbx
        self.engine = engine
        self.sink = sink
        self.name_of = name_of
        self.clock = clock
        self.rules = Rules(cfg.warnings_to_screen, cfg.window, cfg.screen_for)
        self.file = FileHolder(cfg.file, tz, on_change=lambda _loaded: self._rebuild()) if cfg.file else None
        self._known: store.Known | None = None
        self._local: dict[tuple[str, str, int], WarningRecord] = {}  # recorded here, maybe not yet in the store
        self._per_call: OrderedDict[str, int] = OrderedDict()
        self._lock = asyncio.Lock()
        self.screens: dict[str, Screen] = {}
        self.refreshed_at: float | None = None
        self.refresh_failures = 0
        self.screened_calls = 0
        self.warnings = 0

    def recording_path(self, call_uniqueid: str) -> str:
        """Where Asterisk records a warned call, started at its first warning (rules §6: evidence)."""
        return f"{self.cfg.recording_dir}/nuisance-{self.pbx}-{call_uniqueid}.{self.cfg.recording_format}"

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), timezone.utc)

    def load_file(self) -> None:
        """At start: a broken file is a configuration error (ScreeningFileError, exit 2)."""
        if self.file is not None:
            self.file.load()

    def health(self) -> dict:
        return {"screened_numbers": len(self.screens), "screened_calls": self.screened_calls,
                "warnings": self.warnings, "refresh_failures": self.refresh_failures}

    # -- the view -----------------------------------------------------------------------------

    def _file(self) -> Loaded | None:
        return self.file.current if self.file is not None else None

    def states(self) -> dict[str, NumberState]:
        now = self.now()
        known = self._known or store.Known([], set(), [], [])
        warnings = list(known.warnings) + [(r.number, r.warned_at) for key, r in self._local.items()
                                           if key not in known.warning_keys and r.number]
        loaded = self._file()
        return evaluate(warnings, known.admin, known.lifts, loaded.listed if loaded else [],
                        loaded.never if loaded else (), self.rules, now)

    def _rebuild(self) -> None:
        screens = {n: s.screen for n, s in self.states().items() if s.screen is not None}
        for number in screens.keys() - self.screens.keys():
            s = screens[number]
            log.info("nuisance_screen_started", number=number, source=s.source, reason=s.reason,
                     until=s.until.isoformat() if s.until else "permanent")
        for number in self.screens.keys() - screens.keys():
            log.info("nuisance_screen_ended", number=number, source=self.screens[number].source)
        self.screens = screens

    async def refresh(self) -> None:
        since = self.now() - self.rules.lookback
        try:
            self._known = await store.load_async(self.engine, since)
        except Exception as exc:  # noqa: BLE001 - any store failure: keep the view in force
            self.refresh_failures += 1
            log.warning("nuisance_refresh_failed", error=repr(exc)[:200])
            return
        self._local = {k: r for k, r in self._local.items()
                       if k not in self._known.warning_keys and r.warned_at > since}
        self.refreshed_at = self.clock()
        self._rebuild()

    async def run(self) -> None:
        """Refresh the view until cancelled; watch the admins' file beside it."""
        watcher = asyncio.create_task(self.file.watch(), name="screening-file") if self.file else None
        try:
            while True:
                raise_if_cancelled()
                if watcher is not None and watcher.done():
                    watcher.result()  # the watcher's failure is the desk's: the daemon ends, loudly
                    raise RuntimeError("the screening file's watcher returned")
                await self.refresh()
                await asyncio.sleep(self.cfg.refresh_interval)
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.wait({watcher})

    def reload_file(self) -> None:
        """SIGHUP."""
        if self.file is not None:
            self.file.reload()

    # -- the inbound entry --------------------------------------------------------------------

    def check(self, number: PhoneNumber | None) -> Screen | None:
        """The screen in force for this caller ID now, if any. Memory only: no I/O on the call's path."""
        norm = normalise(number)
        screen = self.screens.get(norm) if norm is not None else None
        return screen if screen is not None and screen.active(self.now()) else None

    def screened(self, uniqueid: str, number: PhoneNumber, screen: Screen) -> None:
        self.screened_calls += 1
        self.sink(ScreenedCallRecord(self.pbx, uniqueid, normalise(number) or "", self.now(), screen.source,
                                     screen.reason, screen.until))

    # -- the agent's warning ------------------------------------------------------------------

    async def warn(self, call_uniqueid: str, number: PhoneNumber | None, caller_channel: ChannelName,
                   agent_channel: str, recording: str = "") -> WarningRecord:
        """Record one warning; its `seq` says which warning of the call it is (1, 2, ...)."""
        async with self._lock:
            seq = self._per_call.get(call_uniqueid)
            if seq is None:
                try:
                    seq = await store.warnings_in_call(self.engine, self.pbx, call_uniqueid)
                except Exception as exc:  # noqa: BLE001 - the count in memory is the fallback
                    log.warning("nuisance_warning_count_failed", error=repr(exc)[:200])
                    seq = 0
            seq += 1
            self._per_call[call_uniqueid] = seq
            self._per_call.move_to_end(call_uniqueid)
            while len(self._per_call) > CALLS_REMEMBERED:
                self._per_call.popitem(last=False)
            endpoint = endpoint_of(agent_channel)
            record = WarningRecord(
                pbx=self.pbx, call_uniqueid=call_uniqueid, seq=seq, number=normalise(number) or "",
                warned_at=self.now(), agent=self.name_of(endpoint) or endpoint, endpoint=endpoint,
                agent_channel=agent_channel, caller_channel=caller_channel, recording=recording)
            self.sink(record)
            self.warnings += 1
            self._local[(record.pbx, record.call_uniqueid, record.seq)] = record
            self._rebuild()
            return record
