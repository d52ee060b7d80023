"""The escalation room's table, on the store's one metadata (its migration: escalation/migrations/)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table

from pbx_bridge.store.schema import metadata

# One row per action a step took (escalate, add-member, remove-deferred, de-escalate, ...): the
# review of a busy day reads what the PBX did, when, and why.
escalation_steps = Table(
    "escalation_steps",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("action_id", String(40), primary_key=True),
    Column("queue", String(80), nullable=False),
    Column("step", Integer, nullable=False),  # 1 = the ladder's first step
    Column("step_name", String(40), nullable=False),
    Column("action", String(24), nullable=False),
    Column("detail", String(200), nullable=False, default=""),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("reason", String(200), nullable=False, default=""),
    Index("ix_escalation_steps_at", "at"),
)
