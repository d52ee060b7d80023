"""The report queries over the rollups (pbx_bridge/rollups): the same rows as the raw-row queries
of kpi.py give, from a few thousand sums instead of a month of calls.

A report reads the rollups only when `rollup_state` says they were built with its own time zone,
timely threshold and two-rings limit, for the pbx asked (or, for every pbx, for each one that has
any): otherwise it reads the raw rows, as before. Repeat callers and the partial half-hour of an
intraday report still read raw rows, bounded by an index to what they need.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Select, func, literal, select

from pbx_bridge.rollups.tables import agent_rollups, call_rollups, caller_rollups, offer_rollups, rollup_state

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def state_query() -> Select:
    return select(rollup_state)


def usable(states, tz: ZoneInfo, threshold_s: float | None, limit_s: float | None, pbx: str | None) -> bool:
    """Whether the rollups answer for `pbx` (None: every pbx that has rollups) with these settings
    (a threshold given as None is one the report does not use)."""
    states = [s for s in states if pbx is None or s.pbx == pbx]
    return bool(states) and all(s.timezone == tz.key and threshold_s in (None, s.timely_threshold_s)
                                and limit_s in (None, s.two_rings_limit_s) for s in states)


def _days(table, first: date, last: date, pbx: str | None) -> list:
    where = [table.c.day >= first, table.c.day <= last]
    return where if pbx is None else [*where, table.c.pbx == pbx]


def as_day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@dataclass
class Bucket:
    """A row like kpi.calls_by_bucket_query's: `slot` is half-hours since 1970-01-01 local time."""
    slot: int
    queue: str
    offered: int
    answered: int
    timely: int
    abandoned: int
    timeouts: int
    talk_sum: float
    talk_n: int


def _sum(column):
    return func.sum(column).label(column.name)


_CALL_SUMS = ("offered", "answered", "timely", "abandoned", "timeouts", "talk_sum", "talk_n")


def days_query(first: date, last: date, pbx: str | None = None) -> Select:
    """Per (local day, queue): the monthly report's call figures by day and company (half = 0)."""
    r = call_rollups.c
    return (select(r.day, literal(0).label("half"), r.queue, *(_sum(r[n]) for n in _CALL_SUMS))
            .where(*_days(call_rollups, first, last, pbx)).group_by(r.day, r.queue)
            .having(func.sum(r.offered) > 0))


def halves_query(first: date, last: date, pbx: str | None = None) -> Select:
    """Per (half-hour of the day, queue) over the whole period (day 1970-01-01)."""
    r = call_rollups.c
    return (select(literal(date(1970, 1, 1), Date).label("day"), r.half, r.queue, *(_sum(r[n]) for n in _CALL_SUMS))
            .where(*_days(call_rollups, first, last, pbx)).group_by(r.half, r.queue)
            .having(func.sum(r.offered) > 0))


def buckets(rows) -> list[Bucket]:
    return [Bucket((as_day(r.day).toordinal() - _EPOCH_ORDINAL) * 48 + int(r.half), r.queue, int(r.offered),
                   int(r.answered), int(r.timely), int(r.abandoned), int(r.timeouts), float(r.talk_sum),
                   int(r.talk_n)) for r in rows]


def agent_calls_query(first: date, last: date, pbx: str | None = None) -> Select:
    """Rows like kpi.agent_calls_query's (agent '' for none, as the raw rows' NULL reads '?')."""
    r = agent_rollups.c
    return (select(r.queue, r.agent, func.sum(r.answered).label("calls_answered"), _sum(r.talk_sum),
                   _sum(r.talk_n), func.sum(r.ended_by_agent).label("ended_first"))
            .where(*_days(agent_rollups, first, last, pbx)).group_by(r.queue, r.agent)
            .having(func.sum(r.answered) > 0))


def agent_offers_query(first: date, last: date, pbx: str | None = None) -> Select:
    """Rows like kpi.agent_offers_query's."""
    r = offer_rollups.c
    return (select(r.queue, r.agent, *(_sum(r[n]) for n in ("offers", "answered", "within_two_rings", "rings",
                                                             "missed")))
            .where(*_days(offer_rollups, first, last, pbx)).group_by(r.queue, r.agent)
            .having(func.sum(r.offers) > 0))


def repeat_candidates_query(first: date, last: date, calls_needed: int, pbx: str | None, pbxs: int) -> Select:
    """The numbers that may be repeat callers: a number with `calls_needed` unanswered calls in a
    day over `pbxs` PBX hosts has at least calls_needed / pbxs on one of them that day (an index
    seek on caller_rollups). Their calls are then counted from the raw rows, exactly as before."""
    r = caller_rollups.c
    at_least = -(-calls_needed // max(pbxs, 1))
    return select(r.caller_num).distinct().where(r.unanswered >= at_least, *_days(caller_rollups, first, last, pbx))


def intraday_query(day: date, halves: int, pbx: str | None = None) -> Select:
    """Per queue, the calls of the day's first `halves` half-hours."""
    r = call_rollups.c
    where = _days(call_rollups, day, day, pbx) + [r.half < halves]
    return (select(r.queue, _sum(r.offered), _sum(r.answered), _sum(r.abandoned)).where(*where)
            .group_by(r.queue))


def compliance_offers_query(first: date, last: date, pbx: str | None = None) -> Select:
    r = offer_rollups.c
    return (select(r.day, r.agent, *(_sum(r[n]) for n in ("offers", "answered", "within_two_rings", "rings",
                                                           "missed")))
            .where(*_days(offer_rollups, first, last, pbx)).group_by(r.day, r.agent)
            .having(func.sum(r.offers) > 0))


def compliance_calls_query(first: date, last: date, pbx: str | None = None) -> Select:
    r = agent_rollups.c
    return (select(r.day, r.agent, func.sum(r.answered).label("calls_answered"),
                   func.sum(r.ended_by_agent).label("ended_first"))
            .where(*_days(agent_rollups, first, last, pbx)).group_by(r.day, r.agent)
            .having(func.sum(r.answered) > 0))


def intraday_split(day: date, end: datetime, tz: ZoneInfo) -> tuple[int, datetime] | None:
    """How an intraday report up to `end` splits: the day's whole half-hours before it (from the
    rollups) and the UTC start of the partial one (raw rows from there to `end`). None on a day
    whose UTC offset changes before `end` (a repeated or skipped wall-clock hour): raw rows only."""
    start = datetime.combine(day, time.min, tz)
    local_end = end.astimezone(tz)
    if start.utcoffset() != local_end.utcoffset():
        return None
    if local_end.date() > day:
        return 48, end
    halves = (local_end.hour * 60 + local_end.minute) // 30
    partial = datetime.combine(day, time(halves // 2, 30 * (halves % 2)), tz).astimezone(timezone.utc)
    return halves, partial


def intraday_rows(rollup_rows, raw_rows, company_of) -> list:
    """Rows like kpi.intraday_query's (per company), from the rollups' queues plus the raw partial half-hour."""
    lines: dict[str, dict] = {}
    for r in rollup_rows:
        line = lines.setdefault(company_of(r.queue), dict.fromkeys(("offered", "answered", "abandoned", "other"), 0))
        line["offered"] += int(r.offered)
        line["answered"] += int(r.answered)
        line["abandoned"] += int(r.abandoned)
        line["other"] += int(r.offered) - int(r.answered) - int(r.abandoned)
    for r in raw_rows:
        line = lines.setdefault(r.company, dict.fromkeys(("offered", "answered", "abandoned", "other"), 0))
        for name in ("offered", "answered", "abandoned", "other"):
            line[name] += int(getattr(r, name) or 0)
    return [IntradayRow(company, **values) for company, values in lines.items()]


@dataclass
class IntradayRow:
    company: str
    offered: int
    answered: int
    abandoned: int
    other: int
