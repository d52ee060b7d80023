"""The conditions that open incidents, read every few seconds from what the daemon already knows.

- `ami`: the AMI client's health (`connected`); its start is corrected to the gap AMI measured
  (wiring.py), and it closes as soon as the calls of the gap are closed (`core.on_gap`).
- `database`: the store writer failing to write while records wait (in memory or in the spool).
- `mqtt`: the live room's publisher not connected (only when MQTT is enabled).
- per queue, from the live state (only while AMI is up: otherwise it is stale):
  `no-agents` (callers waiting, no member) and `all-paused` (callers waiting, every member paused),
  within the rota's shift hours; `long-wait` (the oldest caller has waited `long_wait_s`);
  `service-level` (of the calls that ended in the last `service_level_window_s`, under
  `reports.targets.timely_rate`, once `service_level_min_calls` have ended).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from pbx_bridge.calls.records import CallRecord
from pbx_bridge.incidents.model import Book, _ts
from pbx_bridge.incidents.settings import IncidentsConfig

ANSWERED = ("answered", "transferred")


def in_shift(rota: object, queue: str, at: datetime, default_queues: tuple[str, ...]) -> bool:
    """The queue is staffed now by the rota: a working day, and within a shift of an agent (or
    company) who joins this queue. No shift named for them: all day. No rota: always."""
    if rota is None:
        return True
    working, _ = rota.is_working_day(at.date())
    if not working:
        return False
    shifts, serving = [], False
    for company in rota.companies:
        for agent in company.agents:
            if queue not in rota.queues_of(agent, default_queues):
                continue
            serving = True
            shift = rota.shift_of(agent)
            if shift is None:
                return True
            shifts.append(shift)
    if not serving:  # a queue no agent of the rota joins: the rota's hours, if it has any
        shifts = list(rota.shifts.values())
        if not shifts:
            return True
    return any(shift.holds(at.time()) for shift in shifts)


class Watcher:
    def __init__(self, book: Book, cfg: IncidentsConfig, tz: ZoneInfo, timely_rate: float, timely_s: float,
                 health: Callable[[], dict], live: object, rota: Callable[[], object | None],
                 default_queues: tuple[str, ...] = (), clock: Callable[[], float] = time.time) -> None:
        self.book, self.cfg, self.tz, self.target, self.timely_s = book, cfg, tz, timely_rate, timely_s
        self.health, self.live, self.rota, self.default_queues, self.clock = health, live, rota, default_queues, clock
        self.finished: dict[str, deque[tuple[float, bool]]] = {}
        self.checks = 0

    # --- inputs ----------------------------------------------------------------------------------
    def on_record(self, record: object) -> None:
        if not isinstance(record, CallRecord):
            return
        self.book.on_call(record)
        if record.wait_s is None or record.incomplete:
            return  # no known end: it cannot be placed in the window
        left = _ts(record.joined_at) + record.wait_s
        timely = record.outcome in ANSWERED and record.wait_s <= self.timely_s
        self.finished.setdefault(record.queue, deque()).append((left, timely))

    def service_level(self, queue: str, now: float) -> tuple[float | None, int]:
        calls = self.finished.get(queue)
        if not calls:
            return None, 0
        while calls and calls[0][0] < now - self.cfg.service_level_window_s:
            calls.popleft()
        if not calls:
            return None, 0
        return sum(timely for _, timely in calls) / len(calls), len(calls)

    # --- the periodic look -------------------------------------------------------------------------
    def check(self) -> None:
        now = self.clock()
        self.checks += 1
        health = self.health()
        book = self.book
        ami_up = bool(health.get("ami", {}).get("connected"))
        everyone = self._agents(None)
        system = self._system_sample(health)
        book.observe("ami", "ami", None, not ami_up, now, "no AMI connection", system, everyone)
        store = health.get("store", {})
        waiting_records = (store.get("pending") or 0) + (store.get("spooled") or 0)
        db_down = store.get("last_error") is not None and waiting_records > 0
        book.observe("database", "database", None, db_down, now, "the store writer cannot write", system, everyone)
        if "mqtt" in health:
            book.observe("mqtt", "mqtt", None, not health["mqtt"].get("connected"), now, "", system, everyone)
        for key in ("ami", "database", "mqtt"):
            book.sample(key, system, now, everyone)
        if ami_up:
            self._queues(now)
        book.prune(now)

    def _queues(self, now: float) -> None:
        live, book = self.live, self.book
        local = datetime.fromtimestamp(now, self.tz)
        rota = self.rota() if self.cfg.shift_hours_only else None
        for queue in sorted(live.queues() | set(self.finished)):
            if not queue:
                continue
            waiting = live.waiting.get(queue, {})
            members = [a for a in live.agents.values() if queue in a.queues]
            names = {a.name for a in members}
            oldest = min((joined for joined, _ in waiting.values()), default=None)
            longest = 0.0 if oldest is None else now - oldest
            sl, finished = self.service_level(queue, now)
            sample = {"waiting": len(waiting), "longest_wait_s": round(longest), "service_level":
                      None if sl is None else round(sl, 3), "agents": dict(Counter(a.state_in(queue) for a in members))}
            staffed_now = in_shift(rota, queue, local, self.default_queues) if waiting else True
            checks = (
                ("no-agents", bool(waiting) and not members and staffed_now, f"{len(waiting)} waiting, no member"),
                ("all-paused", bool(waiting) and bool(members) and all(a.paused_in(queue) for a in members) and staffed_now,
                 f"{len(waiting)} waiting, {len(members)} members all paused"),
                ("long-wait", longest >= self.cfg.long_wait_s,
                 f"a caller has waited {round(longest)} s (limit {self.cfg.long_wait_s:g} s)"),
                ("service-level", sl is not None and finished >= self.cfg.service_level_min_calls and sl < self.target,
                 f"{'-' if sl is None else f'{sl:.0%}'} of {finished} calls answered within {self.timely_s:g} s "
                 f"(target {self.target:.0%})"),
            )
            for nature, bad, detail in checks:
                key = f"{nature}:{queue}"
                book.observe(key, nature, queue, bad, now, detail, sample, names)
                book.sample(key, sample, now, names)

    def _agents(self, queue: str | None) -> set[str]:
        return {a.name for a in self.live.agents.values() if a.queues and (queue is None or queue in a.queues)}

    def _system_sample(self, health: dict) -> dict:
        live, now = self.live, self.clock()
        joined = [j for calls in live.waiting.values() for j, _ in calls.values()]
        store = health.get("store", {})
        return {"waiting": len(joined), "longest_wait_s": round(now - min(joined)) if joined else 0,
                "pending": store.get("pending", 0), "spooled": store.get("spooled", 0),
                "ami": bool(health.get("ami", {}).get("connected"))}
