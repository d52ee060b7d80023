"""queue_log lines in, the records of calls that have ended out.

A pure state machine like the tracker, so it is checked the same way: against the lab's recorded
queue_log of calls whose AMI stream is replayed beside it. What queue_log says (Asterisk 22):

    ENTERQUEUE       url|callerid|position
    CONNECT          holdtime|bridged channel uniqueid|ringtime
    COMPLETECALLER   holdtime|calltime|origposition          (COMPLETEAGENT the same)
    BLINDTRANSFER    exten|context|holdtime|calltime|origposition
    ATTENDEDTRANSFER method|...|holdtime|calltime|origposition
    ABANDON, EXITWITHTIMEOUT, EXITEMPTY   position|origposition|waittime
    EXITWITHKEY      key|position|origposition|waittime
    RINGNOANSWER     ringtime in ms (0: busy or unreachable)
    RINGCANCELED     ringtime in ms (the caller left while it rang)
    QUEUESTART       Asterisk (re)started: calls still open will never end in the log

Only calls whose end is in the log become records: an entry still open stays here, and its
ENTERQUEUE's position is the `low_water` mark a restart must read again from. The bridged channel's
uniqueid is AMI's DestUniqueid, so the answered offer has the same key from both sources; other
offers get ids of their own (`ql-<joined epoch>-<n>`), the store skips those AMI saw already.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pbx_bridge.calls.records import CallRecord, OfferRecord
from pbx_bridge.reconcile.lines import QueueLogLine
from pbx_bridge.ring import RingConfig, rings_for

Record = CallRecord | OfferRecord

_UNKNOWN = {"", "<unknown>", "unknown"}
_COMPLETE = {"COMPLETECALLER": "caller", "COMPLETEAGENT": "agent"}
_TRANSFER = {"BLINDTRANSFER", "ATTENDEDTRANSFER", "TRANSFER"}
# verb -> (outcome, ended_by, index of the wait time in data)
_EXITS = {
    "ABANDON": ("abandoned", "caller", 2),
    "EXITWITHTIMEOUT": ("timeout", "system", 2),
    "EXITEMPTY": ("exitempty", "system", 2),
    "EXITWITHKEY": ("exitkey", "caller", 3),
}
# A ring that ran out within a second of the caller's max wait was cut by it (whole seconds here;
# the tracker, with milliseconds, uses 0.25 s).
SAME_INSTANT_S = 1.0


def _num(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


@dataclass
class _Entry:
    line: QueueLogLine  # its ENTERQUEUE
    last: float
    connect: QueueLogLine | None = None
    offers: list[OfferRecord] = field(default_factory=list)
    misses: list[tuple[OfferRecord, float]] = field(default_factory=list)  # RINGNOANSWER, decided at the end


class CallBuilder:
    def __init__(self, pbx: str, ring: RingConfig, stale_after: float = 4 * 3600) -> None:
        self.pbx, self.ring, self.stale_after = pbx, ring, stale_after
        self.open: dict[str, _Entry] = {}
        self.counts = {"calls": 0, "offers": 0, "orphans": 0, "unfinished": 0}

    def feed(self, line: QueueLogLine) -> list[Record]:
        verb = line.event.upper()
        if verb == "QUEUESTART":
            self.counts["unfinished"] += len(self.open)
            self.open.clear()
            return []
        if verb == "ENTERQUEUE":
            if self.open.pop(line.callid, None) is not None:
                self.counts["unfinished"] += 1
            self.open[line.callid] = _Entry(line, line.time)
            return []
        entry = self.open.get(line.callid)
        if entry is None:
            if verb == "CONNECT" or verb in _COMPLETE or verb in _EXITS:
                self.counts["orphans"] += 1  # its ENTERQUEUE was before where we started reading
            return []
        entry.last = max(entry.last, line.time)
        if verb == "CONNECT":
            entry.connect = line
            self._offer(entry, line, "answered", _num(line.field(2)), line.field(1))
        elif verb in _COMPLETE:
            return self._finish(entry, line, "answered", _COMPLETE[verb], talk=_num(line.field(1)))
        elif verb in _TRANSFER:
            return self._finish(entry, line, "transferred", "transfer", talk=_num(line.field(len(line.data) - 2)))
        elif verb in _EXITS:
            outcome, ended_by, wait_at = _EXITS[verb]
            return self._finish(entry, line, outcome, ended_by, wait=_num(line.field(wait_at)))
        elif verb == "RINGNOANSWER":
            ms = _num(line.field(0))
            offer = self._offer(entry, line, "busy" if ms == 0 else "no-answer", None if ms is None else ms / 1000)
            entry.misses.append((offer, line.time))
        elif verb == "RINGCANCELED":
            ms = _num(line.field(0))
            self._offer(entry, line, "caller-left", None if ms is None else ms / 1000)
        return []

    def expire(self, now: float) -> int:
        """Forget calls with no line for `stale_after` (queue_log time): their end is not coming."""
        stale = [callid for callid, entry in self.open.items() if now - entry.last > self.stale_after]
        for callid in stale:
            del self.open[callid]
        self.counts["unfinished"] += len(stale)
        return len(stale)

    def low_water(self) -> Any:
        """The position of the oldest open call's ENTERQUEUE (None if none is open)."""
        positions = [entry.line.pos for entry in self.open.values() if entry.line.pos is not None]
        return min(positions, key=lambda pos: pos.order) if positions else None

    # --- helpers -----------------------------------------------------------------------------
    def _offer(self, entry: _Entry, line: QueueLogLine, result: str, ring_s: float | None,
               offer_id: str = "") -> OfferRecord:
        enter = entry.line
        offer = OfferRecord(
            uniqueid=enter.callid, offer_id=offer_id or f"ql-{int(enter.time)}-{len(entry.offers) + 1}",
            pbx=self.pbx, queue=line.queue or enter.queue, agent=line.agent if line.agent not in ("", "NONE") else None,
            interface="", offered_at=_utc(line.time - (ring_s or 0)), ring_s=ring_s,
            rings=0 if result == "busy" else rings_for(ring_s, self.ring), result=result, source="queue_log",
        )
        entry.offers.append(offer)
        return offer

    def _finish(self, entry: _Entry, end: QueueLogLine, outcome: str, ended_by: str, *,
                wait: float | None = None, talk: float | None = None) -> list[Record]:
        enter = entry.line
        self.open.pop(enter.callid, None)
        connect = entry.connect
        if outcome in ("answered", "transferred") and connect is None:
            outcome, ended_by = "unknown", "system"  # a completion without its CONNECT: not ours to guess
        for offer, when in entry.misses:
            if outcome == "timeout" and offer.result == "no-answer" and end.time - when < SAME_INSTANT_S:
                offer.result = "caller-left"
        caller = enter.field(1)
        record = CallRecord(
            uniqueid=enter.callid, linkedid=enter.callid, pbx=self.pbx, queue=enter.queue,
            caller_num="" if caller.lower() in _UNKNOWN else caller, caller_name="", joined_at=_utc(enter.time),
            position=int(p) if (p := _num(enter.field(2))) is not None else None, outcome=outcome,
            wait_s=wait, ended_by=ended_by, source="queue_log", incomplete=outcome == "unknown",
        )
        if connect is not None and outcome != "unknown":
            record.agent = connect.agent or None
            record.wait_s = _num(connect.field(0))
            record.ring_s = _num(connect.field(2))
            record.talk_s = talk
        self.counts["calls"] += 1
        self.counts["offers"] += len(entry.offers)
        return [*entry.offers, record]
