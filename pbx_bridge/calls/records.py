"""The two records every later figure is computed from: one per queued call, one per agent offer.

Field names are the ones admins see in exports and reports; they are part of the interface.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone

from pbx_bridge.numbers import PhoneNumber, phone_number_or_none
from pbx_bridge.store.registry import RecordKinds
from pbx_bridge.calls.tables import calls, offers

SOURCES = ("ami", "queue_log")  # who told us: the live AMI stream, or Asterisk's queue_log read back
CALL_OUTCOMES = ("answered", "abandoned", "timeout", "exitempty", "exitkey", "transferred", "unknown")
ENDED_BY = ("caller", "agent", "transfer", "system")
OFFER_RESULTS = ("answered", "no-answer", "caller-left", "busy", "unavailable", "answered-elsewhere")


@dataclass
class CallRecord:
    uniqueid: str
    linkedid: str
    pbx: str
    queue: str
    caller_num: str
    caller_name: str
    joined_at: datetime
    position: int | None = None
    outcome: str = "unknown"
    wait_s: float | None = None
    agent: str | None = None
    interface: str | None = None
    ring_s: float | None = None
    talk_s: float | None = None
    ended_by: str | None = None
    hangup_cause: str | None = None
    # Beyond the published fields: which entry of this channel into a queue this is (a channel
    # that leaves one queue and joins another has two records), whether the end was seen, and
    # where the record came from (`queue_log`: filled in by reconciliation, pbx_bridge/reconcile).
    seq: int = 0
    incomplete: bool = False
    source: str = "ami"

    def as_row(self) -> dict:
        return asdict(self)

    @property
    def number(self) -> PhoneNumber | None:
        """`caller_num` is the caller ID as it came (for reports); this is what may be matched or dialled."""
        return phone_number_or_none(self.caller_num, source=None)


@dataclass
class OfferRecord:
    uniqueid: str
    offer_id: str
    pbx: str
    queue: str
    agent: str | None
    interface: str
    offered_at: datetime
    ring_s: float | None = None
    rings: int | None = None
    result: str = "no-answer"
    source: str = "ami"

    def as_row(self) -> dict:
        return asdict(self)


CALL_EXPORT_FIELDS = (
    "uniqueid", "linkedid", "pbx", "queue", "caller_num", "caller_name", "joined_at", "position", "outcome",
    "wait_s", "agent", "interface", "ring_s", "talk_s", "ended_by", "hangup_cause", "incomplete",
    "source",
)
OFFER_EXPORT_FIELDS = ("uniqueid", "queue", "agent", "interface", "offered_at", "ring_s", "rings", "result", "pbx",
                       "source")

assert set(CALL_EXPORT_FIELDS) <= {f.name for f in fields(CallRecord)}
assert set(OFFER_EXPORT_FIELDS) <= {f.name for f in fields(OfferRecord)}


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, the form every export uses."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def register_records(kinds: RecordKinds) -> None:
    """The store's tables for the call records (spool name: the table's)."""
    kinds.register(CallRecord, calls)
    kinds.register(OfferRecord, offers)
