"""The incident record: one row per incident, written again (same key) each time it changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pbx_bridge.incidents.tables import incidents
from pbx_bridge.store.registry import RecordKinds

# nature -> (title, severity). "System" natures concern every queue; the others one queue.
NATURES = {
    "ami": ("AMI lost or Asterisk restarted", "critical"),
    "database": ("database unreachable: records spooled", "critical"),
    "mqtt": ("MQTT broker unreachable: no live state", "warning"),
    "no-agents": ("callers waiting, no agent logged in", "critical"),
    "all-paused": ("callers waiting, every agent paused", "warning"),
    "long-wait": ("a caller waiting too long", "warning"),
    "service-level": ("service level under target", "warning"),
}
SYSTEM_NATURES = ("ami", "database", "mqtt")


@dataclass
class IncidentRecord:
    pbx: str
    incident_id: str
    nature: str
    place: str
    queue: str | None
    title: str
    severity: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    calls_waiting: int
    calls_affected: int
    abandoned: int
    recorded_late: int
    agents_affected: int
    agents: str  # JSON list
    trend: str  # JSON list of samples
    actions: str  # JSON list
    detail: str


def register_records(kinds: RecordKinds) -> None:
    """Incidents go through the daemon's writer (spooled during a database outage, like calls);
    people's notes are written by the CLI directly (incidents/store.py)."""
    kinds.register(IncidentRecord, incidents)
