"""The nuisance desk's tables (rules §6, migration 0007).

On the store's one `metadata` (store/schema.py: its naming convention); keys make writes idempotent
(store/registry.py key_columns). Changed only together with a migration in this room's migrations/.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table

from pbx_bridge.store.schema import metadata

# Warnings are evidence, one row per *7 press, keyed by the call and its place in the call.
nuisance_warnings = Table(
    "nuisance_warnings",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("call_uniqueid", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("number", String(80), nullable=False),
    Column("warned_at", DateTime(timezone=True), nullable=False),
    Column("agent", String(80), nullable=False),
    Column("endpoint", String(160), nullable=False),
    Column("agent_channel", String(160), nullable=False),
    Column("caller_channel", String(160), nullable=False),
    Index("ix_nuisance_warnings_number", "number"),
    Index("ix_nuisance_warnings_warned_at", "warned_at"),
)

# Admins' screens and lifts hold for the whole store (every PBX sharing it), not one host.
nuisance_screens = Table(
    "nuisance_screens",
    metadata,
    Column("screen_id", String(40), primary_key=True),
    Column("number", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("until", DateTime(timezone=True)),  # NULL: until lifted
    Column("reason", String(400), nullable=False),
    Column("created_by", String(80), nullable=False),
    Index("ix_nuisance_screens_number", "number"),
)

nuisance_lifts = Table(
    "nuisance_lifts",
    metadata,
    Column("lift_id", String(40), primary_key=True),
    Column("number", String(80), nullable=False),
    Column("lifted_at", DateTime(timezone=True), nullable=False),
    Column("reason", String(400), nullable=False),
    Column("lifted_by", String(80), nullable=False),
    Index("ix_nuisance_lifts_number", "number"),
)

# Calls turned away at the inbound entry: they never joined a queue, so `calls` has no row.
nuisance_screened_calls = Table(
    "nuisance_screened_calls",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("uniqueid", String(64), primary_key=True),
    Column("number", String(80), nullable=False),
    Column("screened_at", DateTime(timezone=True), nullable=False),
    Column("source", String(16), nullable=False),
    Column("reason", String(400), nullable=False),
    Column("until", DateTime(timezone=True)),
    Index("ix_nuisance_screened_calls_screened_at", "screened_at"),
)
