"""The agents' sessions (migration 0006): one row per log-in, one per pause within it.

On the store's one `metadata` (store/schema.py: its naming convention); keys make writes idempotent
(store/registry.py key_columns). Changed only together with a migration in this room's migrations/.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, String, Table

from pbx_bridge.store.schema import metadata

agent_sessions = Table(
    "agent_sessions",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("session_id", String(64), primary_key=True),
    Column("employee_no", String(32), nullable=False),
    Column("agent", String(80), nullable=False),
    Column("endpoint", String(160), nullable=False),
    Column("interface", String(200), nullable=False),
    Column("queues", String(400), nullable=False),
    Column("login_at", DateTime(timezone=True), nullable=False),
    Column("logout_at", DateTime(timezone=True)),
    Column("logout_reason", String(24)),
    Index("ix_agent_sessions_login_at", "login_at"),
)

agent_pauses = Table(
    "agent_pauses",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("pause_id", String(64), primary_key=True),
    Column("session_id", String(64), nullable=False),
    Column("employee_no", String(32), nullable=False),
    Column("agent", String(80), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Index("ix_agent_pauses_started_at", "started_at"),
)
