"""The voicemail duty's tables: listenings, the messages, the callbacks placed to them.

On the store's one `metadata` (store/schema.py: its naming convention); keys make writes idempotent
(store/registry.py key_columns). Changed only together with a migration in this room's migrations/.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table

from pbx_bridge.store.schema import metadata

vm_listenings = Table(
    "vm_listenings",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("listening_id", String(120), primary_key=True),
    Column("company", String(64), nullable=False),
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("agent", String(80)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("started_at", DateTime(timezone=True)),
    Column("messages_played", Integer, nullable=False, default=0),
    Index("ix_vm_listenings_scheduled_at", "scheduled_at"),
)

vm_messages = Table(
    "vm_messages",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("msg_id", String(80), primary_key=True),
    Column("company", String(64), nullable=False),
    Column("mailbox", String(80), nullable=False),
    Column("caller_num", String(80), nullable=False),
    Column("caller_name", String(160), nullable=False),
    Column("left_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("first_callback_at", DateTime(timezone=True)),
    Column("handled_at", DateTime(timezone=True)),
    Column("handled_by", String(80)),
    Index("ix_vm_messages_left_at", "left_at"),
)

vm_callbacks = Table(
    "vm_callbacks",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("callback_id", String(120), primary_key=True),
    Column("msg_id", String(80), nullable=False),
    Column("company", String(64), nullable=False),
    Column("agent", String(80)),
    Column("number", String(80), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("dial_status", String(24), nullable=False),
    Column("answered", Boolean, nullable=False),
)
