"""Tables. Primary keys make writes idempotent: the same call replayed updates its row, never adds one
(the writer reads each table's key from the table: store/registry.py key_columns).

Times are stored as UTC. Each row carries the `pbx` that recorded it, so several daemons can
share one PostgreSQL database without colliding.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Float, Index, Integer, MetaData, String, Table

metadata = MetaData(naming_convention={"pk": "pk_%(table_name)s", "ix": "ix_%(table_name)s_%(column_0_name)s"})

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

# Agent sessions (migration 0006): one row per log-in, one per pause within it.
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

# The scheduler's record of report slots it ran (migration 0003), so missed runs are made up.
report_runs = Table(
    "report_runs",
    metadata,
    Column("job", String(40), primary_key=True),
    Column("slot", String(40), primary_key=True),
    Column("pbx", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("detail", String(400)),
)

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


# --- Nuisance calls (rules §6, migration 0007) ---------------------------------------------------
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
    # the warned call's recording as Asterisk names it (nuisance/migrations/nuisance_0001); "" if none
    Column("recording", String(400), nullable=False, server_default=""),
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
