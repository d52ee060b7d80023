"""The room's tables, on the store's one `metadata` (branch `qa` of the migrations: migrations/).

A listen (qa_sessions) and a score (qa_scores) are kept apart: a call may be scored without a
listen (`pbx-bridge qa score`, from a recording), listened to without a score (the supervisor
hung up), or scored by two supervisors. Both name the call by the uniqueid the `calls` table
knows it by (the caller's channel in the queue), so the monthly report can join them.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Float, Index, Integer, String, Table

from pbx_bridge.store.schema import metadata

qa_sessions = Table(
    "qa_sessions",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("session_id", String(40), primary_key=True),
    Column("call_uniqueid", String(64), nullable=False),
    Column("queue", String(80), nullable=False),
    Column("agent", String(80), nullable=False),
    Column("employee_no", String(32), nullable=False),
    Column("company", String(64), nullable=False),
    Column("supervisor", String(80), nullable=False),
    Column("supervisor_endpoint", String(160), nullable=False),
    Column("spied_channel", String(200), nullable=False),
    Column("whisper", Boolean, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("listened_s", Float),
    Index("ix_qa_sessions_started_at", "started_at"),
    Index("ix_qa_sessions_call_uniqueid", "call_uniqueid"),
)

qa_scores = Table(
    "qa_scores",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("score_id", String(40), primary_key=True),
    Column("call_uniqueid", String(64), nullable=False),
    Column("session_id", String(40)),  # NULL: scored with the CLI, not at the end of a listen
    Column("score", Integer, nullable=False),
    Column("note", String(400), nullable=False),
    Column("scored_by", String(80), nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=False),
    Column("source", String(16), nullable=False),  # phone | cli
    Column("queue", String(80), nullable=False),
    Column("agent", String(80), nullable=False),
    Column("company", String(64), nullable=False),
    Index("ix_qa_scores_scored_at", "scored_at"),
    Index("ix_qa_scores_call_uniqueid", "call_uniqueid"),
)
