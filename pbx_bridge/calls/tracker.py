"""Turns the AMI queue event stream into call and offer records.

A pure state machine: events in, finished records out through `sink`. No I/O, so transcripts
recorded from the lab replay through it exactly as the live stream does, and replaying the same
stream twice yields the same keys (the store then updates instead of duplicating).

Times come from the events' own `Timestamp` (manager.conf `timestampevents = yes`), so a replay
gives the same figures as the live run; without it, the time of arrival is used.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Mapping

import structlog

from pbx_bridge.calls.records import CallRecord, OfferRecord
from pbx_bridge.numbers import phone_number_or_none
from pbx_bridge.ring import RingConfig, rings_for

log = structlog.get_logger(__name__)

Record = CallRecord | OfferRecord
Sink = Callable[[Record], None]

# The events the tracker consumes; everything else is dropped before parsing (ami/protocol.py)
# and, with the shipped manager user, never sent by Asterisk at all.
TRACKER_EVENTS = (  # what the tracker subscribes to (core.py)
    "QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled", "AgentRingNoAnswer",
    "AgentConnect", "AgentComplete", "AgentDump", "DialBegin", "DialEnd", "VarSet", "Hangup", "FullyBooted",
    "Shutdown",
)
# A transcript's replay filter (tests, bench): the tracker's events and the members' (the live state's).
WANTED_EVENTS = (*TRACKER_EVENTS, "QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded", "QueueMemberRemoved")

_LEAVE_STATUS = {"TIMEOUT": "timeout", "LEAVEEMPTY": "exitempty", "LEAVEUNAVAIL": "exitempty"}
_DIAL_FAILURES = {"BUSY": "busy", "CHANUNAVAIL": "unavailable", "CONGESTION": "unavailable"}
_UNKNOWN_NAMES = {"", "<unknown>", "unknown"}
COMPLETE_GRACE_S = 30.0
SAME_INSTANT_S = 0.25  # Asterisk publishes the ring's end and the caller's exit within a millisecond
_LEAVING = {"queuecallerabandon", "queuecallerleave", "hangup", "varset"}  # how long a hung-up answered call waits for its AgentComplete
# A channel's entries into queues are numbered (`seq`) for as long as the channel is remembered. A
# channel re-enters within its own call, minutes later at most; 20,000 channels is hours of traffic
# on a busy site, in about 2 MB. The store resolves a clash with an entry older than that.
SEQ_MEMORY = 20_000


@dataclass
class _Active:
    record: CallRecord
    joined_ts: float
    last_ts: float
    offers: dict[str, tuple[OfferRecord, float]] = field(default_factory=dict)
    connected_ts: float | None = None
    agent_leg: str | None = None  # the answering member's channel (AgentConnect's DestUniqueid)
    completed: bool = False
    left_ts: float | None = None
    abandon_ts: float | None = None
    queuestatus: str | None = None
    hungup_ts: float | None = None
    # An AgentRingNoAnswer waits here a moment: if the caller leaves in the same instant, the
    # ring was cut by the caller's max wait, not missed by the agent.
    pending_rna: list[tuple[str, float, float | None]] = field(default_factory=list)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


class CallTracker:
    """Holds the calls now in a queue; emits each record once it is final."""

    def __init__(self, pbx: str, ring: RingConfig, sink: Sink, stale_after: float = 4 * 3600,
                 clock: Callable[[], float] = time.time) -> None:
        self.pbx, self.ring, self.sink, self.stale_after, self.clock = pbx, ring, sink, stale_after, clock
        self.active: dict[str, _Active] = {}
        self._last_seq: OrderedDict[str, int] = OrderedDict()  # uniqueid -> its latest entry's seq
        # answering member's channel -> queued call: an AgentComplete published as the caller's
        # channel goes away carries no caller fields at all (seen under load), only the member's
        self._answered_legs: dict[str, str] = {}
        self._handlers: dict[str, Callable[[Mapping, str, float], None]] = {
            "queuecallerjoin": self._join,
            "agentcalled": self._agent_called,
            "agentringnoanswer": self._ring_no_answer,
            "agentconnect": self._connect,
            "agentcomplete": self._complete,
            "agentdump": self._dump,
            "queuecallerabandon": self._abandon,
            "queuecallerleave": self._leave,
            "varset": self._varset,
            "dialend": self._dial_end,
            "hangup": self._hangup,
        }
        self.emitted_calls = 0
        self.emitted_offers = 0
        # The Timestamp of the event being handled while a record goes to the sink (None when the
        # sweeper closes a call): the store measures its latency from here to the committed row.
        self.event_ts: float | None = None

    # --- entry points ------------------------------------------------------------------------
    def handle(self, event: Mapping) -> None:
        name = (event.get("Event") or event.get("event") or "").lower()
        handler = self._handlers.get(name)
        if handler is None:
            return
        uniqueid = event.get("Uniqueid") or ""
        if name == "agentcomplete" and uniqueid not in self.active:
            uniqueid = self._orphan_complete(event) or uniqueid
        if name != "queuecallerjoin" and uniqueid not in self.active:
            return  # not a queued call we know (an agent's leg, or joined before we connected)
        ts = self._timestamp(event)
        self.event_ts = ts
        # bind/reset rather than bound_contextvars(): that one copies the whole log context per event
        tokens = structlog.contextvars.bind_contextvars(uniqueid=uniqueid)
        try:
            call = self.active.get(uniqueid)
            if call is not None and call.pending_rna and name not in _LEAVING:
                self._settle_rna(call, ts)
            handler(event, uniqueid, ts)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
            self.event_ts = None
        call = self.active.get(uniqueid)
        if call is not None:
            call.last_ts = max(call.last_ts, ts)

    def sweep(self, now: float | None = None) -> int:
        """Close calls whose end never came (bounded memory) and answered calls past their grace."""
        now = self.clock() if now is None else now
        closed = 0
        for uniqueid, call in list(self.active.items()):
            with structlog.contextvars.bound_contextvars(uniqueid=uniqueid):
                if call.hungup_ts is not None and now - call.hungup_ts > COMPLETE_GRACE_S:
                    self._finish(call)
                    closed += 1
                elif now - call.last_ts > self.stale_after:
                    log.warning("call_closed_stale", idle_s=round(now - call.last_ts))
                    self._finish(call, incomplete=True)
                    closed += 1
        return closed

    def close_missing(self, alive_uniqueids: set[str]) -> int:
        """After an AMI gap: calls whose channel no longer exists ended while we were away."""
        closed = 0
        for uniqueid, call in list(self.active.items()):
            if uniqueid not in alive_uniqueids:
                with structlog.contextvars.bound_contextvars(uniqueid=uniqueid):
                    log.warning("call_ended_during_ami_gap")
                    self._finish(call, incomplete=True)
                closed += 1
        return closed

    # --- what others may ask ------------------------------------------------------------------
    @property
    def in_queue(self) -> int:
        """How many calls are in a queue now (joined, not yet closed)."""
        return len(self.active)

    def latency_from(self, record: object) -> float | None:
        """Where a record's latency to its stored row starts: the event that finished the call, for
        a call record handed over while that event is handled; None otherwise (the sweeper's closes)."""
        return self.event_ts if isinstance(record, CallRecord) else None

    def joined_ts(self, uniqueid: str) -> float | None:
        call = self.active.get(uniqueid)
        return None if call is None else call.joined_ts

    def call_of(self, uniqueid: str) -> tuple[str, str, bool] | None:
        """(queue, caller name, answered by an agent?) of a call the tracker holds; None if unknown."""
        call = self.active.get(uniqueid)
        if call is None:
            return None
        return call.record.queue, call.record.caller_name or "", call.connected_ts is not None
    def in_progress(self, uniqueid: str) -> CallRecord | None:
        """The record of a call still in progress (its queue, its agent so far), or None."""
        call = self.active.get(uniqueid)
        return None if call is None else call.record

    def numbers_in_queue(self) -> set[str]:
        return {call.record.number for call in self.active.values()} - {None}

    def health(self) -> dict:
        return {"active_calls": len(self.active), "calls": self.emitted_calls, "offers": self.emitted_offers}

    # --- event handlers ----------------------------------------------------------------------
    def _join(self, ev: Mapping, uniqueid: str, ts: float) -> None:
        previous = self.active.get(uniqueid)
        if previous is not None:  # the same channel joins another queue: the first entry is over
            self._finish(previous)
        seq = self._next_seq(uniqueid)
        name = ev.get("CallerIDName") or ""
        record = CallRecord(
            uniqueid=uniqueid, linkedid=ev.get("Linkedid") or uniqueid, pbx=self.pbx, queue=ev.get("Queue") or "",
            caller_num=ev.get("CallerIDNum") or "", caller_name="" if name.lower() in _UNKNOWN_NAMES else name,
            joined_at=_utc(ts), position=_int(ev.get("Position")), seq=seq,
        )
        if record.caller_num.lower() in _UNKNOWN_NAMES:
            record.caller_num = ""
        # Kept as it came, for the reports (cut to the column); `record.number` is what is matched
        # and dialled. A caller ID that is not a number is logged here, where it enters.
        record.caller_num = record.caller_num[:80]
        phone_number_or_none(record.caller_num, source="ami_queue_join")
        self.active[uniqueid] = _Active(record=record, joined_ts=ts, last_ts=ts)
        log.info("call_joined", queue=record.queue, position=record.position, caller_num=record.caller_num)

    def _agent_called(self, ev: Mapping, uniqueid: str, ts: float) -> None:
        call = self.active[uniqueid]
        offer_id = ev.get("DestUniqueid") or f"{ev.get('Interface')}@{ts}"
        offer = OfferRecord(
            uniqueid=uniqueid, offer_id=offer_id, pbx=self.pbx, queue=ev.get("Queue") or call.record.queue,
            agent=ev.get("MemberName") or None, interface=ev.get("Interface") or "", offered_at=_utc(ts),
        )
        call.offers[offer_id] = (offer, ts)

    def _ring_no_answer(self, ev: Mapping, uniqueid: str, ts: float) -> None:
        fallback = _int(ev.get("RingTime"))  # milliseconds in this event
        self.active[uniqueid].pending_rna.append(
            (ev.get("DestUniqueid") or "", ts, None if fallback is None else fallback / 1000))

    def _connect(self, ev: Mapping, uniqueid: str, ts: float) -> None:
        call = self.active[uniqueid]
        offer = self._close_offer(call, ev.get("DestUniqueid"), "answered", ts, _int(ev.get("RingTime")))
        for other in list(call.offers):
            self._close_offer(call, other, "answered-elsewhere", ts)
        record = call.record
        record.outcome = "answered"
        record.agent = ev.get("MemberName") or None
        record.interface = ev.get("Interface") or None
        record.ring_s = offer.ring_s if offer is not None else _int(ev.get("RingTime"))
        record.wait_s = round(ts - call.joined_ts, 3)
        call.connected_ts = ts
        call.agent_leg = ev.get("DestUniqueid") or None
        if call.agent_leg:
            self._answered_legs[call.agent_leg] = uniqueid
        log.info("call_answered", agent=record.agent, wait_s=record.wait_s, ring_s=record.ring_s)

    def _complete(self, ev: Mapping, uniqueid: str, ts: float) -> None:
        call = self.active[uniqueid]
        record = call.record
        talk = ts - call.connected_ts if call.connected_ts is not None else _int(ev.get("TalkTime"))
        record.talk_s = None if talk is None else round(talk, 3)
        reason = (ev.get("Reason") or "").lower()
        record.ended_by = reason if reason in ("caller", "agent", "transfer") else "system"
        if reason == "transfer":
            record.outcome = "transferred"
        call.completed = True
        if call.hungup_ts is not None:
            self._finish(call)

    def _dump(self, ev: Mapping, uniqueid: str, ts: float) -> None:
        self._close_offer(self.active[uniqueid], ev.get("DestUniqueid"), "no-answer", ts)

    def _abandon(self, ev: Mapping, uniqueid: str, ts: float) -> None:
        # Asterisk 22 also sends QueueCallerAbandon when the caller times out or the queue empties;
        # the QUEUESTATUS that follows (if Queue() returns to the dialplan) tells those apart.
        call = self.active[uniqueid]
        self._close_open_offers(call, "caller-left", ts)
        call.abandon_ts = ts

    def _leave(self, ev: Mapping, uniqueid: str, ts: float) -> None:
        # For an answered call Asterisk sends the leave before AgentConnect: offers stay open here.
        self.active[uniqueid].left_ts = ts

    def _varset(self, ev: Mapping, uniqueid: str, ts: float) -> None:
        if (ev.get("Variable") or "").upper() == "QUEUESTATUS":
            call = self.active[uniqueid]
            call.queuestatus = (ev.get("Value") or "").upper()
            if call.pending_rna:
                self._settle_rna(call, ts, call.queuestatus)

    def _dial_end(self, ev: Mapping, uniqueid: str, ts: float) -> None:
        result = _DIAL_FAILURES.get((ev.get("DialStatus") or "").upper())
        if result is not None:
            self._close_offer(self.active[uniqueid], ev.get("DestUniqueid"), result, ts)

    def _hangup(self, ev: Mapping, uniqueid: str, ts: float) -> None:
        call = self.active[uniqueid]
        call.hungup_ts = ts
        call.record.hangup_cause = ev.get("Cause") or None
        if call.connected_ts is None or call.completed:
            self._finish(call)

    # --- helpers -----------------------------------------------------------------------------
    def _next_seq(self, uniqueid: str) -> int:
        """Monotonic per channel, also after its previous entry finished (else it would overwrite it)."""
        last = self._last_seq.pop(uniqueid, None)
        seq = 0 if last is None else last + 1
        self._last_seq[uniqueid] = seq
        if len(self._last_seq) > SEQ_MEMORY:
            self._last_seq.popitem(last=False)
        return seq
    def _orphan_complete(self, ev: Mapping) -> str | None:
        """The call an AgentComplete without the caller's channel belongs to.

        app_queue publishes AgentComplete from channel snapshots; when the caller's channel (and
        sometimes the member's) is already gone, the event has no Uniqueid, and maybe no
        DestUniqueid: only Queue, Interface, MemberName, HoldTime, TalkTime and Reason. Under load
        (bench/load.py) that is a few calls in a thousand. Without this the call would wait
        COMPLETE_GRACE_S and be stored late with ended_by=system.
        """
        by_leg = self._answered_legs.get(ev.get("DestUniqueid") or "")
        if by_leg is not None:
            return by_leg
        queue, interface = ev.get("Queue") or "", ev.get("Interface") or ""
        candidates = [uniqueid for uniqueid, call in self.active.items()
                      if call.connected_ts is not None and not call.completed
                      and call.record.queue == queue and call.record.interface == interface]
        if len(candidates) > 1:  # a member on several calls (ringinuse=yes): the times must agree
            hold, talk, ts = _int(ev.get("HoldTime")), _int(ev.get("TalkTime")), self._timestamp(ev)
            candidates = [uniqueid for uniqueid in candidates if hold is not None and talk is not None
                          and abs((self.active[uniqueid].record.wait_s or 0) - hold) <= 1
                          and abs(ts - self.active[uniqueid].connected_ts - talk) <= 1]
        if len(candidates) > 1:  # the caller already gone (moved out of the bridge, then hung up)
            candidates = [uniqueid for uniqueid in candidates if self.active[uniqueid].hungup_ts is not None]
        return candidates[0] if len(candidates) == 1 else None

    def _close_offer(self, call: _Active, offer_id: str | None, result: str, ts: float,
                     fallback_ring_s: float | None = None) -> OfferRecord | None:
        entry = call.offers.pop(offer_id or "", None)
        if entry is None:
            return None
        offer, offered_ts = entry
        ring_s = ts - offered_ts if ts >= offered_ts else fallback_ring_s
        offer.ring_s = None if ring_s is None else round(ring_s, 3)
        # A busy or unreachable phone never rang, whatever the milliseconds it took to say so.
        offer.rings = 0 if result in _DIAL_FAILURES.values() else rings_for(offer.ring_s, self.ring)
        offer.result = result
        self.emitted_offers += 1
        log.info("offer_closed", agent=offer.agent, result=result, ring_s=offer.ring_s, rings=offer.rings)
        self.sink(offer)
        return offer

    def _settle_rna(self, call: _Active, ts: float, queuestatus: str | None = None) -> None:
        """Decide a pending AgentRingNoAnswer: a miss, or a ring cut by the caller's max wait.

        Asterisk reports both the same way; only a timeout (QUEUESTATUS=TIMEOUT) whose exit came in
        the same instant as the ring's end cuts a ring short. A queue that emptied lets the ring
        run out first, and a caller hanging up cancels the ring without an AgentRingNoAnswer.
        """
        rna_ts = call.pending_rna[-1][1]
        if queuestatus is None:
            if ts - rna_ts <= SAME_INSTANT_S:
                return  # the exit, if any, is still on its way
            result = "no-answer"
        else:
            exit_ts = call.abandon_ts or call.left_ts
            cut = queuestatus == "TIMEOUT" and exit_ts is not None and exit_ts - rna_ts <= SAME_INSTANT_S
            result = "caller-left" if cut else "no-answer"
        for offer_id, when, fallback in call.pending_rna:
            self._close_offer(call, offer_id, result, when, fallback)
        call.pending_rna.clear()

    def _close_open_offers(self, call: _Active, result: str, ts: float) -> None:
        pending = {offer_id for offer_id, _, _ in call.pending_rna}
        for offer_id in list(call.offers):
            if offer_id not in pending:  # those rang out already: _settle_rna decides them
                self._close_offer(call, offer_id, result, ts)

    def _finish(self, call: _Active, incomplete: bool = False) -> None:
        record = call.record
        self.active.pop(record.uniqueid, None)
        if call.agent_leg:
            self._answered_legs.pop(call.agent_leg, None)
        end_ts = call.hungup_ts or call.last_ts
        if call.pending_rna:
            self._settle_rna(call, end_ts, call.queuestatus or "")
        self._close_open_offers(call, "caller-left", end_ts)
        if record.outcome == "unknown":
            self._resolve_unanswered(call)
        if record.outcome in ("answered", "transferred") and record.talk_s is None and call.connected_ts:
            record.talk_s = round(end_ts - call.connected_ts, 3)
        if record.ended_by is None:
            record.ended_by = "system"
        record.incomplete = incomplete or record.outcome == "unknown"
        self.emitted_calls += 1
        log.info("call_recorded", outcome=record.outcome, agent=record.agent, wait_s=record.wait_s,
                 talk_s=record.talk_s, ended_by=record.ended_by, incomplete=record.incomplete)
        self.sink(record)

    def _resolve_unanswered(self, call: _Active) -> None:
        record = call.record
        left_ts = call.abandon_ts or call.left_ts
        if left_ts is None:
            return  # never left the queue while we watched: stays unknown
        status = _LEAVE_STATUS.get(call.queuestatus or "")
        if status is not None:
            record.outcome, record.ended_by = status, "system"
        elif call.abandon_ts is not None:
            record.outcome, record.ended_by = "abandoned", "caller"
        else:
            record.outcome, record.ended_by = "exitkey", "caller"
        record.wait_s = round(left_ts - call.joined_ts, 3)
        log.info("call_left_unanswered", outcome=record.outcome, wait_s=record.wait_s)

    def _timestamp(self, event: Mapping) -> float:
        raw = event.get("Timestamp")
        if raw:
            try:
                return float(raw)
            except ValueError:
                pass
        return self.clock()
