"""The incidents room's tables, on the store's one `metadata`.

The daemon writes `incidents` through the store writer (upserted on its key each time it changes);
people's notes go to `incident_notes`, a table of their own, so that the daemon's next write of an
open incident cannot overwrite what a person added.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, Index, Integer, String, Table, Text

from pbx_bridge.store.schema import metadata

incidents = Table(
    "incidents",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("incident_id", String(40), primary_key=True),
    Column("nature", String(40), nullable=False),
    Column("place", String(160), nullable=False),  # the PBX, and the queue for a queue's incident
    Column("queue", String(80)),
    Column("title", String(200), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("duration_s", Float),
    Column("calls_waiting", Integer, nullable=False),  # the most callers waiting at once while open
    Column("calls_affected", Integer, nullable=False),
    Column("abandoned", Integer, nullable=False),
    Column("recorded_late", Integer, nullable=False),
    Column("agents_affected", Integer, nullable=False),
    Column("agents", Text, nullable=False),  # JSON list of names
    Column("trend", Text, nullable=False),  # JSON list of samples
    Column("actions", Text, nullable=False),  # JSON list of what the daemon did by itself
    Column("detail", Text, nullable=False),
    Index("ix_incidents_started_at", "started_at"),
)

incident_notes = Table(
    "incident_notes",
    metadata,
    Column("note_id", String(40), primary_key=True),
    Column("pbx", String(64), nullable=False),
    Column("incident_id", String(40), nullable=False),
    Column("noted_at", DateTime(timezone=True), nullable=False),
    Column("by", String(80), nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_incident_notes_incident", "pbx", "incident_id"),
)
