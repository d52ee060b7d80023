"""The threats room's tables, on the store's one `metadata` (created by migrations/threats_0001).

A threat row is rewritten by the daemon as the threat goes on (lead told, manager told); what a
person adds from the CLI (an acknowledgement, a note) goes to tables of its own, so the daemon's
next write of the threat row can never overwrite it.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text

from pbx_bridge.store.schema import metadata

threats = Table(
    "threats",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("threat_id", String(64), primary_key=True),  # the caller's channel uniqueid (= calls.uniqueid)
    Column("number", String(80), nullable=False),
    Column("caller_name", String(160), nullable=False),
    Column("marked_at", DateTime(timezone=True), nullable=False),
    Column("endpoint", String(160), nullable=False),  # the desk
    Column("agent", String(80), nullable=False),
    Column("agent_channel", String(160), nullable=False),
    Column("caller_channel", String(160), nullable=False),
    Column("queue", String(80), nullable=False),
    Column("company", String(80), nullable=False),
    Column("recording", String(400), nullable=False),  # as Asterisk names it; "" if none could be made
    Column("recording_source", String(16), nullable=False),  # threat | site | none
    Column("status", String(24), nullable=False),  # telling-lead | telling-manager | acknowledged | unacknowledged
    Column("lead", String(80), nullable=False),
    Column("manager", String(80), nullable=False),
    Column("lead_told_at", DateTime(timezone=True)),
    Column("manager_told_at", DateTime(timezone=True)),
    Column("why_manager", String(400), nullable=False),
    Index("ix_threats_marked_at", "marked_at"),
)

# Who was told, when, how, and with what result: one row per alert or call.
threat_contacts = Table(
    "threat_contacts",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("threat_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("role", String(16), nullable=False),  # lead | manager | wallboard
    Column("name", String(80), nullable=False),
    Column("endpoint", String(160), nullable=False),
    Column("how", String(16), nullable=False),  # alert | call
    Column("result", String(40), nullable=False),  # sent | answered | no-answer | busy | failed | acknowledged
)

threat_acks = Table(
    "threat_acks",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("threat_id", String(64), primary_key=True),
    Column("acknowledged_at", DateTime(timezone=True), nullable=False),
    Column("acknowledged_by", String(80), nullable=False),
    Column("via", String(16), nullable=False),  # phone | cli
)

threat_notes = Table(
    "threat_notes",
    metadata,
    Column("note_id", String(40), primary_key=True),
    Column("pbx", String(64), nullable=False),
    Column("threat_id", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", String(80), nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_threat_notes_threat", "pbx", "threat_id"),
)
