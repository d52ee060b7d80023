"""The rollups room's tables: a month of calls and offers summed per (pbx, local day, half-hour,
queue, agent), so that the monthly, intraday and ring-twice reports read a few thousand sums
instead of every row of the month.

On the store's one `metadata` (store/schema.py: its naming convention). Changed only together with
a migration in this room's migrations/. `agent` is '' for a row without one (abandoned calls).
"""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, Float, Integer, String, Table

from pbx_bridge.store.schema import metadata


def _key() -> list[Column]:
    return [Column("pbx", String(64), primary_key=True),
            Column("day", Date, primary_key=True),  # the local day in the site's time zone
            Column("half", Integer, primary_key=True),  # 0..47: the local half-hour of that day
            Column("queue", String(80), primary_key=True),
            Column("agent", String(80), primary_key=True)]


# Per group: the calls that joined the queue in it (calls.joined_at).
call_rollups = Table(
    "call_rollups",
    metadata,
    *_key(),
    Column("offered", Integer, nullable=False),
    Column("answered", Integer, nullable=False),  # answered or transferred
    Column("timely", Integer, nullable=False),  # answered with wait_s <= rollup_state.timely_threshold_s
    Column("abandoned", Integer, nullable=False),
    Column("timeouts", Integer, nullable=False),
    Column("talk_sum", Float, nullable=False),  # over answered calls with a talk time
    Column("talk_n", Integer, nullable=False),
    Column("ended_by_agent", Integer, nullable=False),  # answered, and the agent hung up first
)

# Per group: the offers the ring-twice figures count (result answered or no-answer), by offered_at.
offer_rollups = Table(
    "offer_rollups",
    metadata,
    *_key(),
    Column("offers", Integer, nullable=False),
    Column("answered", Integer, nullable=False),
    Column("within_two_rings", Integer, nullable=False),  # answered, ring_s <= two_rings_limit_s
    Column("rings", Integer, nullable=False),
    Column("missed", Integer, nullable=False),  # no-answer
)

# What a pbx's rollups were built with: a report reads them only when its own settings match.
rollup_state = Table(
    "rollup_state",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("timezone", String(64), nullable=False),
    Column("timely_threshold_s", Float, nullable=False),
    Column("two_rings_limit_s", Float, nullable=False),
    Column("built_at", DateTime(timezone=True), nullable=False),
)
