"""Calls the agents' own phones place (日呼出量, rules §4: the calls an agent must make each day).

An agent's phone is known by the queue members' state interface (`PJSIP/agent301` in
`QueueMember*` events), or by the rota's endpoints; a `DialBegin` whose *calling* channel is such a
phone is an outbound call of that agent (when the queue rings the agent, the phone is the dialled
side instead). The record is written at the matching `DialEnd`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Mapping

import structlog

from pbx_bridge.store.registry import RecordKinds
from pbx_bridge.calls.tables import outbound_calls

log = structlog.get_logger(__name__)

OUTBOUND_EVENTS = ("QueueMember", "QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded", "QueueMemberRemoved",
                   "DialBegin", "DialEnd")
MAX_OPEN = 10_000  # dials whose end never came are dropped beyond this (memory stays bounded)


@dataclass
class OutboundRecord:
    call_id: str  # the dialled channel's uniqueid
    pbx: str
    agent: str
    endpoint: str
    number: str
    started_at: datetime
    dial_status: str = "UNKNOWN"
    answered: bool = False


def endpoint_of(channel: str) -> str:
    """`PJSIP/agent301-0000000a` -> `PJSIP/agent301`."""
    base, sep, suffix = channel.rpartition("-")
    return base if sep and suffix and all(c in "0123456789abcdef" for c in suffix.lower()) else channel


class OutboundTracker:
    def __init__(self, pbx: str, sink: Callable[[OutboundRecord], None], clock: Callable[[], float] = time.time) -> None:
        self.pbx, self.sink, self.clock = pbx, sink, clock
        self.phones: dict[str, str] = {}  # endpoint -> agent name
        self.open: dict[str, OutboundRecord] = {}

    def know_phone(self, endpoint: str, agent: str) -> None:
        if endpoint and "/" in endpoint and not endpoint.startswith("Local/"):
            self.phones[endpoint] = agent

    def handle(self, event: Mapping) -> None:
        name = (event.get("Event") or "").lower()
        if name.startswith("queuemember"):
            self.know_phone(event.get("StateInterface") or event.get("Interface") or "",
                            event.get("MemberName") or event.get("Name") or "")
        elif name == "dialbegin":
            self._begin(event)
        elif name == "dialend" and event.get("DestUniqueid") in self.open:
            record = self.open.pop(event["DestUniqueid"])
            record.dial_status = (event.get("DialStatus") or "UNKNOWN").upper()
            record.answered = record.dial_status == "ANSWER"
            log.info("outbound_call_recorded", agent=record.agent, number=record.number, status=record.dial_status)
            self.sink(record)

    def _begin(self, event: Mapping) -> None:
        agent = self.phones.get(endpoint_of(event.get("Channel") or ""))
        dest = event.get("DestUniqueid")
        if agent is None or not dest or len(self.open) >= MAX_OPEN:
            return
        try:
            ts = float(event.get("Timestamp") or self.clock())
        except ValueError:
            ts = self.clock()
        self.open[dest] = OutboundRecord(
            call_id=dest, pbx=self.pbx, agent=agent, endpoint=endpoint_of(event["Channel"]),
            number=event.get("Exten") or event.get("DialString") or "", started_at=datetime.fromtimestamp(ts, timezone.utc))


def register_records(kinds: RecordKinds) -> None:
    kinds.register(OutboundRecord, outbound_calls)
