"""The call tracker's tables (`calls`, `offers`) and the agents' outbound calls. Below the features: reports, ring_twice and reconcile read them.

On the store's one `metadata` (store/schema.py: its naming convention); keys make writes idempotent
(store/registry.py key_columns). Changed only together with a migration in this room's migrations/.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Float, Index, Integer, String, Table

from pbx_bridge.store.schema import metadata

calls = Table(
    "calls",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("uniqueid", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True, default=0),
    Column("linkedid", String(64), nullable=False),
    Column("queue", String(80), nullable=False),
    Column("caller_num", String(80), nullable=False, default=""),
    Column("caller_name", String(160), nullable=False, default=""),
    Column("joined_at", DateTime(timezone=True), nullable=False),
    Column("position", Integer),
    Column("outcome", String(16), nullable=False),
    Column("wait_s", Float),
    Column("agent", String(80)),
    Column("interface", String(160)),
    Column("ring_s", Float),
    Column("talk_s", Float),
    Column("ended_by", String(16)),
    Column("hangup_cause", String(16)),
    Column("incomplete", Boolean, nullable=False, default=False),
    # 'ami' or 'queue_log' (migration 0005): which account of the call the row holds
    Column("source", String(16), nullable=False, default="ami", server_default="ami"),
    Index("ix_calls_joined_at", "joined_at"),
)

offers = Table(
    "offers",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("uniqueid", String(64), primary_key=True),
    Column("offer_id", String(64), primary_key=True),
    Column("queue", String(80), nullable=False),
    Column("agent", String(80)),
    Column("interface", String(160), nullable=False),
    Column("offered_at", DateTime(timezone=True), nullable=False),
    Column("ring_s", Float),
    Column("rings", Integer),
    Column("result", String(24), nullable=False),
    Column("source", String(16), nullable=False, default="ami", server_default="ami"),
    Index("ix_offers_offered_at", "offered_at"),
    Index("ix_offers_agent", "agent"),
)

outbound_calls = Table(
    "outbound_calls",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("call_id", String(64), primary_key=True),
    Column("agent", String(80), nullable=False),
    Column("endpoint", String(160), nullable=False),
    Column("number", String(80), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("dial_status", String(24), nullable=False),
    Column("answered", Boolean, nullable=False),
    Index("ix_outbound_calls_started_at", "started_at"),
)
