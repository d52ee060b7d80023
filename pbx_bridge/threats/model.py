"""What a threat leaves in the store: the threat (the evidence the rule lists), every contact
made about it (who was told, when, how), and its acknowledgement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pbx_bridge.store.registry import RecordKinds
from pbx_bridge.threats.tables import threat_acks, threat_contacts, threats

TELLING_LEAD, TELLING_MANAGER = "telling-lead", "telling-manager"
ACKNOWLEDGED, UNACKNOWLEDGED = "acknowledged", "unacknowledged"


@dataclass
class ThreatRecord:
    pbx: str
    threat_id: str  # the caller's channel uniqueid: one threat per call, however often *8 is pressed
    number: str
    caller_name: str
    marked_at: datetime
    endpoint: str  # the desk: the agent's phone
    agent: str
    agent_channel: str
    caller_channel: str
    queue: str
    company: str
    recording: str
    recording_source: str  # threat (started at *8) | site (the site's own, kept) | none
    status: str = TELLING_LEAD
    lead: str = ""
    manager: str = ""
    lead_told_at: datetime | None = None
    manager_told_at: datetime | None = None
    why_manager: str = ""


@dataclass
class ContactRecord:
    pbx: str
    threat_id: str
    seq: int
    at: datetime
    role: str  # lead | manager | wallboard
    name: str
    endpoint: str
    how: str  # alert | call
    result: str


@dataclass
class AckRecord:
    pbx: str
    threat_id: str
    acknowledged_at: datetime
    acknowledged_by: str
    via: str  # phone | cli


def register_records(kinds: RecordKinds) -> None:
    """Notes are written by the CLI directly (threats/store.py), never through the daemon's writer."""
    kinds.register(ThreatRecord, threats)
    kinds.register(ContactRecord, threat_contacts)
    kinds.register(AckRecord, threat_acks)
