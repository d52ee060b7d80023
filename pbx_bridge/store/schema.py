"""Tables. Keys make writes idempotent: the same call replayed updates its row, never adds one.

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
    Index("ix_offers_offered_at", "offered_at"),
    Index("ix_offers_agent", "agent"),
)

KEYS = {"calls": ("pbx", "uniqueid", "seq"), "offers": ("pbx", "uniqueid", "offer_id")}
