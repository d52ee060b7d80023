"""The callback requests (virtual hold).

On the store's one `metadata` (store/schema.py: its naming convention); keys make writes idempotent
(store/registry.py key_columns). Changed only together with a migration in this room's migrations/.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table

from pbx_bridge.store.schema import metadata

# Callback requests (virtual hold, migration 0008). Written directly, one committed transaction
# each, never through the batched writer: a request exists before the caller is told so, and an
# attempt is marked `dialling` before the Originate is sent (see pbx_bridge/callbacks).
callback_requests = Table(
    "callback_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pbx", String(64), nullable=False),
    Column("uniqueid", String(64), nullable=False),
    Column("number", String(80), nullable=False),
    Column("caller_name", String(160), nullable=False, default=""),
    Column("queue", String(80), nullable=False),
    Column("position", Integer),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("originates", Integer, nullable=False, default=0),
    Column("attempt_id", String(40)),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("next_try_at", DateTime(timezone=True)),
    Column("agent", String(80)),
    Column("result", String(40)),
    Column("done_at", DateTime(timezone=True)),
    Index("ux_callback_requests_call", "pbx", "uniqueid", unique=True),
    Index("ix_callback_requests_status", "status"),
    Index("ix_callback_requests_requested_at", "requested_at"),
)
