"""Live queue state for wallboards (rules §3): who waits, for how long, today's figures, agents.

Kept in memory and updated synchronously from the same AMI events and call records as the store,
so that it costs the ingestion path a few dict operations; the MQTT publisher only reads
snapshots of it. Today's figures restart at local midnight.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable, Mapping
from zoneinfo import ZoneInfo

from pbx_bridge.calls.records import CallRecord, OfferRecord

# Asterisk's device states (QueueMemberStatus Status) as a wallboard says them
_STATUS = {"0": "unknown", "1": "available", "2": "in-call", "3": "in-call", "4": "unavailable",
           "5": "unavailable", "6": "ringing", "7": "in-call", "8": "in-call"}
LIVE_EVENTS = ("QueueCallerJoin", "QueueCallerLeave", "QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded",
               "QueueMemberRemoved", "AgentCalled", "AgentConnect", "AgentComplete", "AgentRingNoAnswer",
               "QueueMember")


@dataclass
class QueueToday:
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    unanswered: int = 0  # left the queue without an answer: abandoned, timed out, emptied, key

    @property
    def finished(self) -> int:
        """Calls whose wait is over: the base of the rates (a call still waiting is not yet a miss)."""
        return self.answered + self.unanswered


@dataclass
class Agent:
    name: str
    interface: str
    queues: set[str] = field(default_factory=set)
    status: str = "unknown"
    # queue -> pause reason. Asterisk pauses a member per queue: one flag per agent took the last
    # event's (or QueueStatus line's) word, so her unpaused line in another queue unpaused her here.
    pauses: dict[str, str] = field(default_factory=dict)
    since: float = field(default_factory=time.time)
    ring_twice_misses: int = 0

    def paused_in(self, queue: str) -> bool:
        return queue in self.pauses

    def state_in(self, queue: str) -> str:
        return "paused" if queue in self.pauses else self.status

    @property
    def paused(self) -> bool:
        """Paused in every queue she belongs to: paused in one only, the others still ring her."""
        return bool(self.queues) and all(q in self.pauses for q in self.queues)

    @property
    def pause_reason(self) -> str:
        return ", ".join(sorted({r for r in self.pauses.values() if r})) if self.paused else ""

    @property
    def state(self) -> str:
        return "paused" if self.paused else self.status

    def leave(self, queue: str) -> None:
        self.queues.discard(queue)
        self.pauses.pop(queue, None)


class LiveState:
    def __init__(self, tz: ZoneInfo, service_level_s: float = 20, long_wait_s: float = 600,
                 repeat_caller_count: int = 3, clock: Callable[[], float] = time.time) -> None:
        self.tz, self.sl, self.long_wait_s, self.repeat_count, self.clock = tz, service_level_s, long_wait_s, \
            repeat_caller_count, clock
        self.waiting: dict[str, dict[str, tuple[float, str]]] = {}  # queue -> uniqueid -> (joined, number)
        self.today: dict[str, QueueToday] = {}
        self.agents: dict[str, Agent] = {}  # by interface
        self.day: date | None = None
        self.unanswered_by_number: Counter[str] = Counter()
        self.dirty_queues: set[str] = set()
        self.dirty_agents: set[str] = set()
        self.alerts: list[dict] = []
        # standing notices (an open threat, an open incident, an escalation step): shown until cleared
        self.standing: dict[str, dict] = {}
        self.dirty_standing: set[str] = set()
        self.long_wait_alerted: set[str] = set()
        self._handlers = {
            "queuecallerjoin": self._join, "queuecallerleave": self._leave, "agentconnect": self._connect,
            "queuememberstatus": self._member,
            "queuememberadded": self._member, "queuemember": self._member, "queuememberpause": self._member,
            "queuememberremoved": self._member_removed,
        }

    # --- inputs ------------------------------------------------------------------------------
    def handle(self, event: Mapping) -> None:
        handler = self._handlers.get((event.get("Event") or "").lower())
        if handler is not None:
            self._roll_day()
            handler(event)

    def on_record(self, record: object) -> None:
        self._roll_day()
        if isinstance(record, OfferRecord):
            agent = self.agents.get(record.interface)
            if agent is not None and record.result == "no-answer":
                agent.ring_twice_misses += 1
                self.dirty_agents.add(agent.interface)
            return
        if not isinstance(record, CallRecord):  # another room's record (core.record hands over all)
            return
        if record.joined_at.astimezone(self.tz).date() != self.day:
            return
        today = self.today.setdefault(record.queue, QueueToday())
        # offered and answered are counted as they happen (join, connect); an abandon needs the
        # finished record, because Asterisk reports timeouts as abandons too
        number = record.number  # matched as a PhoneNumber: a caller ID that is not one is never a repeat caller
        if record.outcome in ("answered", "transferred"):
            self.unanswered_by_number.pop(number, None)
        else:
            today.unanswered += 1
            today.abandoned += record.outcome == "abandoned"
            if number is not None:
                self.unanswered_by_number[number] += 1
                if self.unanswered_by_number[number] == self.repeat_count:
                    self.alerts.append({"type": "repeat-caller", "number": number, "queue": record.queue,
                                        "unanswered_today": self.repeat_count, "at": self._iso(self.clock())})
        self.dirty_queues.add(record.queue)

    def on_notice(self, notice: dict) -> None:
        """Rule notices (ring-twice pauses) go out as alerts."""
        self.alerts.append({**notice, "at": self._iso(self.clock())})

    def stand(self, key: str, notice: dict) -> None:
        """A notice that stays on the board until `clear(key)`: `notice` has `type`, `title`, `text` and
        `severity` ("info", "warning", "critical") and any fields of its own. A second `stand` of the
        same key replaces it (a threat acknowledged, an incident's trend)."""
        self.standing[key] = {**notice, "key": key, "at": notice.get("at") or self._iso(self.clock())}
        self.dirty_standing.add(key)

    def clear(self, key: str) -> None:
        if self.standing.pop(key, None) is not None:
            self.dirty_standing.add(key)

    def resync_waiting(self, entries: list[Mapping]) -> None:
        """After an AMI login: the callers Asterisk holds now (QueueStatus `QueueEntry`) replace ours,
        since the leaves of a gap (or a restart's lost calls) sent no event and would wait forever."""
        now = self.clock()
        fresh: dict[str, dict[str, tuple[float, str]]] = {}
        for entry in entries:
            queue, uniqueid = entry.get("Queue") or "", entry.get("Uniqueid") or ""
            known = self.waiting.get(queue, {}).get(uniqueid)
            try:
                joined = known[0] if known else now - float(entry.get("Wait") or 0)
            except ValueError:
                joined = now
            fresh.setdefault(queue, {})[uniqueid] = (joined, entry.get("CallerIDNum") or "")
        self.dirty_queues |= set(self.waiting) | set(fresh)
        gone = {u for calls in self.waiting.values() for u in calls} - {u for calls in fresh.values() for u in calls}
        self.long_wait_alerted -= gone
        self.waiting = fresh

    def resync_members(self, members: list[Mapping]) -> None:
        """After an AMI login: a membership Asterisk no longer holds (a restart without persistent
        members) is dropped; the QueueMember events themselves were applied as they came."""
        held = {((m.get("Interface") or m.get("Location") or ""), m.get("Queue") or "") for m in members}
        for agent in self.agents.values():
            stale = {q for q in agent.queues if (agent.interface, q) not in held}
            if stale:
                for queue in stale:
                    agent.leave(queue)
                self.dirty_agents.add(agent.interface)
                self.dirty_queues |= stale

    def tick(self) -> None:
        """Once a second: long-wait alerts, and waits grow on the board."""
        now = self.clock()
        self.dirty_queues |= {queue for queue, calls in self.waiting.items() if calls}
        for queue, calls in self.waiting.items():
            for uniqueid, (joined, number) in calls.items():
                if now - joined >= self.long_wait_s and uniqueid not in self.long_wait_alerted:
                    self.long_wait_alerted.add(uniqueid)
                    self.alerts.append({"type": "long-wait", "queue": queue, "uniqueid": uniqueid, "number": number,
                                        "wait_s": round(now - joined), "at": self._iso(now)})

    # --- outputs ------------------------------------------------------------------------------
    def queue_snapshot(self, queue: str) -> dict:
        now = self.clock()
        waiting = self.waiting.get(queue, {})
        oldest = min((joined for joined, _ in waiting.values()), default=None)
        today = self.today.get(queue, QueueToday())
        members = [a for a in self.agents.values() if queue in a.queues]
        return {
            "queue": queue,
            "waiting": len(waiting),
            "longest_wait_s": None if oldest is None else round(now - oldest, 1),
            "oldest_joined_at": None if oldest is None else self._iso(oldest),
            "offered_today": today.offered,
            "answered_today": today.answered,
            "abandoned_today": today.abandoned,
            "service_level_today": None if not today.finished else round(today.answered_in_sl / today.finished, 4),
            "service_level_s": self.sl,
            "abandon_rate_today": None if not today.finished else round(today.abandoned / today.finished, 4),
            "agents": dict(Counter(a.state_in(queue) for a in members)),
            "updated_at": self._iso(now),
        }

    def agent_snapshot(self, interface: str) -> dict:
        agent = self.agents[interface]
        return {"agent": agent.name, "interface": agent.interface, "state": agent.state, "status": agent.status,
                "paused": agent.paused, "pause_reason": agent.pause_reason or None,
                "since": self._iso(agent.since), "queues": sorted(agent.queues),
                "ring_twice_misses_today": agent.ring_twice_misses}

    def queues(self) -> set[str]:
        return set(self.waiting) | set(self.today) | {q for a in self.agents.values() for q in a.queues}

    def take_alerts(self) -> list[dict]:
        alerts, self.alerts = self.alerts, []
        return alerts

    def take_dirty(self) -> tuple[set[str], set[str]]:
        """The queues and agents changed since the last take (to publish), leaving none marked."""
        queues, agents = self.dirty_queues, self.dirty_agents
        self.dirty_queues, self.dirty_agents = set(), set()
        return queues, agents

    def take_dirty_standing(self) -> set[str]:
        """The keys of standing notices raised, changed or cleared since the last take."""
        keys, self.dirty_standing = self.dirty_standing, set()
        return keys

    def standing_notice(self, key: str) -> dict | None:
        """The notice standing under `key`, None once cleared."""
        return self.standing.get(key)

    def put_back_dirty(self, queues: set[str], agents: set[str], standing: set[str] = frozenset()) -> None:
        """Taken but not published (the broker went away): marked again, for after the reconnect."""
        self.dirty_queues |= queues
        self.dirty_agents |= agents
        self.dirty_standing |= standing

    def mark_all_dirty(self) -> None:
        self.dirty_queues |= self.queues()
        self.dirty_agents |= set(self.agents)
        self.dirty_standing |= set(self.standing)

    # --- event handlers ---------------------------------------------------------------------
    def _join(self, ev: Mapping) -> None:
        queue = ev.get("Queue") or ""
        self.waiting.setdefault(queue, {})[ev.get("Uniqueid") or ""] = (
            self._ts(ev), ev.get("CallerIDNum") or "")
        self.today.setdefault(queue, QueueToday()).offered += 1
        self.dirty_queues.add(queue)

    def _connect(self, ev: Mapping) -> None:
        queue = ev.get("Queue") or ""
        today = self.today.setdefault(queue, QueueToday())
        today.answered += 1
        try:
            today.answered_in_sl += float(ev.get("HoldTime") or "inf") <= self.sl
        except ValueError:
            pass
        self.dirty_queues.add(queue)

    def _leave(self, ev: Mapping) -> None:
        queue = ev.get("Queue") or ""
        self.waiting.get(queue, {}).pop(ev.get("Uniqueid") or "", None)
        self.long_wait_alerted.discard(ev.get("Uniqueid") or "")
        self.dirty_queues.add(queue)

    def _member(self, ev: Mapping) -> None:
        interface = ev.get("Interface") or ev.get("Location") or ""
        if not interface:
            return
        agent = self.agents.get(interface)
        if agent is None:
            agent = self.agents[interface] = Agent(name=ev.get("MemberName") or ev.get("Name") or interface,
                                                   interface=interface)
        queue = ev.get("Queue") or ""
        before = agent.state
        agent.queues.add(queue)
        if ev.get("Status"):
            agent.status = _STATUS.get(ev.get("Status"), "unknown")
        if ev.get("Paused") == "1":  # this queue's pause only (a QueueStatus line, an event: the same)
            agent.pauses[queue] = ev.get("PausedReason") or ev.get("Reason") or ""
        elif ev.get("Paused") is not None:
            agent.pauses.pop(queue, None)
        if agent.state != before:
            agent.since = self._ts(ev)
        self.dirty_agents.add(interface)
        self.dirty_queues.add(queue)

    def _member_removed(self, ev: Mapping) -> None:
        agent = self.agents.get(ev.get("Interface") or "")
        if agent is not None:
            agent.leave(ev.get("Queue") or "")
            self.dirty_agents.add(agent.interface)
            self.dirty_queues.add(ev.get("Queue") or "")

    # --- helpers ------------------------------------------------------------------------------
    def _roll_day(self) -> None:
        today = datetime.fromtimestamp(self.clock(), self.tz).date()
        if today != self.day:
            self.day = today
            self.today.clear()
            self.unanswered_by_number.clear()
            for agent in self.agents.values():
                agent.ring_twice_misses = 0
            self.mark_all_dirty()

    def _ts(self, ev: Mapping) -> float:
        try:
            return float(ev.get("Timestamp") or self.clock())
        except ValueError:
            return self.clock()

    def _iso(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.tz).isoformat(timespec="seconds")
