"""The rollups room's tables: a month of calls and offers summed per local day, so that the
monthly, intraday and ring-twice reports read a few thousand sums instead of every row.

Two grains, each the coarsest its reports need (one table per (day, half-hour, queue, agent)
would have nearly one row per call: 40 agents x 10 queues x 48 half-hours a day):
- `call_rollups`, per (pbx, local day, half-hour, queue): the call figures by half-hour, by day, by
  company (the queue -> company map is applied on read, so it may change at any time);
- `agent_rollups` (answered calls) and `offer_rollups` (offers), per (pbx, local day, queue, agent):
  the per-agent lines of the monthly report and the ring-twice compliance;
- `caller_rollups`, per (pbx, local day, number): unanswered calls, to find repeat callers.

On the store's one `metadata` (store/schema.py: its naming convention). Changed only together with
a migration in this room's migrations/. `agent` is '' for a row without one.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, Float, Index, Integer, String, Table

from pbx_bridge.store.schema import metadata


def _key(last: str) -> list[Column]:
    return [Column("pbx", String(64), primary_key=True),
            Column("day", Date, primary_key=True),  # the local day in the site's time zone
            *([Column("half", Integer, primary_key=True)] if last == "half" else []),  # 0..47, local
            Column("queue", String(80), primary_key=True),
            *([Column("agent", String(80), primary_key=True)] if last == "agent" else [])]


# The calls that joined the queue in that local half-hour (calls.joined_at).
call_rollups = Table(
    "call_rollups",
    metadata,
    *_key("half"),
    Column("offered", Integer, nullable=False),
    Column("answered", Integer, nullable=False),  # answered or transferred
    Column("timely", Integer, nullable=False),  # answered with wait_s <= rollup_state.timely_threshold_s
    Column("abandoned", Integer, nullable=False),
    Column("timeouts", Integer, nullable=False),
    Column("talk_sum", Float, nullable=False),  # over answered calls with a talk time
    Column("talk_n", Integer, nullable=False),
)

# The answered calls of each agent that joined the queue that local day.
agent_rollups = Table(
    "agent_rollups",
    metadata,
    *_key("agent"),
    Column("answered", Integer, nullable=False),
    Column("talk_sum", Float, nullable=False),
    Column("talk_n", Integer, nullable=False),
    Column("ended_by_agent", Integer, nullable=False),  # the agent hung up first
)

# The offers the ring-twice figures count (result answered or no-answer), by offered_at.
offer_rollups = Table(
    "offer_rollups",
    metadata,
    *_key("agent"),
    Column("offers", Integer, nullable=False),
    Column("answered", Integer, nullable=False),
    Column("within_two_rings", Integer, nullable=False),  # answered, ring_s <= two_rings_limit_s
    Column("rings", Integer, nullable=False),
    Column("missed", Integer, nullable=False),  # no-answer
)

# The unanswered calls of each number that day (any queue): the monthly report's repeat callers are
# looked for only among the numbers with enough of them (an index seek), then counted from the raw rows.
caller_rollups = Table(
    "caller_rollups",
    metadata,
    Column("pbx", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("caller_num", String(80), primary_key=True),
    Column("unanswered", Integer, nullable=False),
    Index("ix_caller_rollups_unanswered", "unanswered", "day"),
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
