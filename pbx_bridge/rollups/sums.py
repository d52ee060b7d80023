"""What a call or offer row adds to its rollup groups, row by row (the running sums, as rows are
written) and as a GROUP BY (a day recomputed, a store rebuilt). Both follow the raw-row reports'
definitions (reports/kpi.py, reports/ring_twice.py), side by side here so they are read together:

- a call is answered when its outcome is answered or transferred; timely when answered with
  wait_s <= the threshold; its talk time counts only when answered and known;
- an offer counts for ring-twice when the phone could answer it (answered or no-answer), within
  two rings when answered with ring_s <= the limit;
- the local day and half-hour are the wall clock's in the site's zone (store/days.py: local_slot).

The tests hold the two ways to each other and to the raw-row reports (tests/unit/test_rollups.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table, and_, case, func, select

from pbx_bridge.calls.tables import calls, offers
from pbx_bridge.rollups.tables import agent_rollups, call_rollups, caller_rollups, offer_rollups
from pbx_bridge.store.days import as_date, as_day_half, local_day, local_slot

ANSWERED = ("answered", "transferred")
COUNTED = ("answered", "no-answer")


@dataclass(frozen=True)
class Basis:
    """What the sums depend on besides the rows; stored with them (rollup_state)."""

    tz: ZoneInfo
    timely_threshold_s: float
    two_rings_limit_s: float


def utc(moment: datetime) -> datetime:
    # SQLite hands back naive UTC; PostgreSQL and the records aware datetimes.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def local_day_half(moment: datetime, tz: ZoneInfo) -> tuple[date, int]:
    local = utc(moment).astimezone(tz)
    return local.date(), (local.hour * 60 + local.minute) // 30


# --- row by row -----------------------------------------------------------------------------------

def call_sums(row: dict, basis: Basis):
    day, half = local_day_half(row["joined_at"], basis.tz)
    outcome, wait, talk = row["outcome"], row.get("wait_s"), row.get("talk_s")
    answered = outcome in ANSWERED
    talked = answered and talk is not None
    return (row["pbx"], day, half, row["queue"]), (
        1, int(answered), int(answered and wait is not None and wait <= basis.timely_threshold_s),
        int(outcome == "abandoned"), int(outcome == "timeout"), float(talk) if talked else 0.0, int(talked))


def agent_sums(row: dict, basis: Basis):
    if row["outcome"] not in ANSWERED:
        return None
    talk = row.get("talk_s")
    day = utc(row["joined_at"]).astimezone(basis.tz).date()
    return (row["pbx"], day, row["queue"], row.get("agent") or ""), (
        1, float(talk) if talk is not None else 0.0, int(talk is not None), int(row.get("ended_by") == "agent"))


def caller_sums(row: dict, basis: Basis):
    if row["outcome"] in ANSWERED or not row.get("caller_num"):
        return None
    return (row["pbx"], utc(row["joined_at"]).astimezone(basis.tz).date(), row["caller_num"]), (1,)


def offer_sums(row: dict, basis: Basis):
    result = row["result"]
    if result not in COUNTED:
        return None
    day = utc(row["offered_at"]).astimezone(basis.tz).date()
    answered, ring_s = result == "answered", row.get("ring_s")
    return (row["pbx"], day, row["queue"], row.get("agent") or ""), (
        1, int(answered), int(answered and ring_s is not None and ring_s <= basis.two_rings_limit_s),
        int(row.get("rings") or 0), int(result == "no-answer"))


# --- as a GROUP BY, over [start, end) of the raw table (dialect: sqlite or postgresql) -------------

def _count(condition):
    return func.sum(case((condition, 1), else_=0))


def call_group(dialect: str, basis: Basis, start: datetime, end: datetime) -> Select:
    c = calls.c
    answered = c.outcome.in_(ANSWERED)
    talked = and_(answered, c.talk_s.is_not(None))
    slot = local_slot(c.joined_at, dialect, basis.tz, start, end).label("slot")
    return (select(c.pbx, slot, c.queue, func.count(), _count(answered),
                   _count(and_(answered, c.wait_s <= basis.timely_threshold_s)), _count(c.outcome == "abandoned"),
                   _count(c.outcome == "timeout"), func.sum(case((talked, c.talk_s), else_=0.0)), _count(talked))
            .group_by(c.pbx, slot, c.queue))


def agent_group(dialect: str, basis: Basis, start: datetime, end: datetime) -> Select:
    c = calls.c
    day = local_day(c.joined_at, dialect, basis.tz, start, end).label("day")
    agent = func.coalesce(c.agent, "").label("agent")
    return (select(c.pbx, day, c.queue, agent, func.count(), func.sum(func.coalesce(c.talk_s, 0.0)),
                   func.count(c.talk_s), _count(c.ended_by == "agent"))
            .where(c.outcome.in_(ANSWERED)).group_by(c.pbx, day, c.queue, agent))


def caller_group(dialect: str, basis: Basis, start: datetime, end: datetime) -> Select:
    c = calls.c
    day = local_day(c.joined_at, dialect, basis.tz, start, end).label("day")
    return (select(c.pbx, day, c.caller_num, func.count())
            .where(c.outcome.not_in(ANSWERED), c.caller_num != "").group_by(c.pbx, day, c.caller_num))


def offer_group(dialect: str, basis: Basis, start: datetime, end: datetime) -> Select:
    o = offers.c
    day = local_day(o.offered_at, dialect, basis.tz, start, end).label("day")
    agent = func.coalesce(o.agent, "").label("agent")
    answered = o.result == "answered"
    return (select(o.pbx, day, o.queue, agent, func.count(), _count(answered),
                   _count(and_(answered, o.ring_s <= basis.two_rings_limit_s)),
                   func.sum(func.coalesce(o.rings, 0)), _count(o.result == "no-answer"))
            .where(o.result.in_(COUNTED)).group_by(o.pbx, day, o.queue, agent))


def _slot_key(row) -> tuple:
    day, half = as_day_half(row[1])
    return (row[0], day, half, row[2])


def _day_key(row) -> tuple:
    return (row[0], as_date(row[1]), row[2], row[3])


def _caller_key(row) -> tuple:
    return (row[0], as_date(row[1]), row[2])


@dataclass(frozen=True)
class Target:
    """One rollup table: its key and sums, and how a raw row or a GROUP BY row feeds it."""

    table: Table
    raw: Table
    time_column: str
    key: tuple[str, ...]
    names: tuple[str, ...]
    of_row: Callable
    group: Callable
    group_key: Callable  # a GROUP BY row -> the key
    width: int = 4  # key columns in a GROUP BY row


TARGETS = (
    Target(call_rollups, calls, "joined_at", ("pbx", "day", "half", "queue"),
           ("offered", "answered", "timely", "abandoned", "timeouts", "talk_sum", "talk_n"),
           call_sums, call_group, _slot_key, width=3),
    Target(agent_rollups, calls, "joined_at", ("pbx", "day", "queue", "agent"),
           ("answered", "talk_sum", "talk_n", "ended_by_agent"), agent_sums, agent_group, _day_key),
    Target(offer_rollups, offers, "offered_at", ("pbx", "day", "queue", "agent"),
           ("offers", "answered", "within_two_rings", "rings", "missed"), offer_sums, offer_group, _day_key),
    Target(caller_rollups, calls, "joined_at", ("pbx", "day", "caller_num"), ("unanswered",), caller_sums,
           caller_group, _caller_key, width=3),
)


class Sums:
    """Sums per group of one target, with signs: a replaced row is taken away, its replacement added."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.groups: dict[tuple, list] = {}

    def add(self, item, sign: int = 1) -> None:
        if item is None:
            return
        key, values = item
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = [0] * len(values)
        for i, v in enumerate(values):
            group[i] += sign * v

    def add_grouped(self, row) -> None:
        """A row of the target's GROUP BY."""
        self.add((self.target.group_key(row), tuple(v or 0 for v in row[self.target.width:])))

    def rows(self) -> list[dict]:
        """As rows of the rollup table; a group whose sums are all zero (a row replaced by itself) is left out."""
        t = self.target
        return [dict(zip(t.key, key), **dict(zip(t.names, values))) for key, values in self.groups.items()
                if any(values)]
