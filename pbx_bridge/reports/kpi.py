"""The KPIs the center is run by (rules §3–§5), computed in the database.

A month is a million call rows, so nothing here reads rows one by one: each figure comes from a
GROUP BY over the site's local day and half-hour, by company, that returns at most
days × 48 × companies rows. The rest (rates, targets, charts) is arithmetic on those few rows.

Definitions (the same for every report and for the test against Asterisk's queue_log):
- offered: every call record (a queue entry) that joined in the period;
- answered: `answered` or `transferred` (a transfer is an answered call handed on);
- abandoned: the caller hung up while waiting (`abandoned` only; timeouts and an emptied queue are
  the system's, counted apart);
- answer rate (接通率) = answered / offered;
- timely-answer rate (及时应答率), also the service level = answered with wait_s <= threshold / offered;
- AHT (平均处理时长) = mean talk_s of the answered calls that have one;
- abandon rate = abandoned / offered;
- ring-twice compliance: `reports/ring_twice.py`'s definition (offers answered or rung out; answered
  with ring_s <= two rings + 0.25 s), as a GROUP BY;
- repeat caller: a number with at least `repeat_caller_calls` unanswered calls in one local day
  to one company.

Local days and half-hours: PostgreSQL converts with `timezone(zone, ts)` (time zone rules
included). SQLite has no zone database, so the UTC offset is a CASE over the offsets in force
during the period (one branch per DST change), added to `unixepoch(ts)`.

Every query is a SQLAlchemy statement built here and run by a sync connection (CLI) or an async
one (the daemon's scheduler), so both give the same figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, Select, and_, case, cast, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from pbx_bridge.reports.export import db_bound, utc_bounds
from pbx_bridge.reports.ring_twice import COUNTED
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.store.schema import calls, offers

ANSWERED = ("answered", "transferred")
RING_JITTER_S = 0.25  # as in reports/ring_twice.py: the Dial timeout's own jitter is not the agent's fault
OUTBOUND_NOTE = ("outbound calls per agent per day (日呼出量): not measured yet — the daemon records queued calls "
                 "only; counting the calls agents' own phones place needs an outbound record (issue 5)")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


# --- local day and half-hour, per dialect ---------------------------------------------------------

def offset_changes(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """[(from_utc, offset_s)]: the zone's UTC offset from each moment on, over [start, end)."""
    def offset(moment: datetime) -> int:
        return int(moment.astimezone(tz).utcoffset().total_seconds())

    changes = [(start, offset(start))]
    step = start
    while step < end:
        nxt = min(step + timedelta(hours=1), end)
        if offset(nxt) != changes[-1][1] and nxt < end:
            lo, hi = step, nxt  # the change lies in (lo, hi]: bisect to the second
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if offset(mid) == changes[-1][1] else (lo, mid)
            changes.append((hi, offset(hi)))
        step = nxt
    return changes


@dataclass(frozen=True)
class Buckets:
    day: ColumnElement
    half_hour: ColumnElement


def buckets(column, dialect: str, tz: ZoneInfo, start: datetime, end: datetime) -> Buckets:
    """The local day and half-hour (0..47) of a UTC timestamp column, computed by the database."""
    if dialect == "postgresql":
        local = func.timezone(literal(tz.key), column)
        half = cast(func.extract("hour", local) * 2 + func.floor(func.extract("minute", local) / 30), Integer)
        return Buckets(cast(local, Date), half)
    changes = offset_changes(tz, start, end)
    if len(changes) == 1:
        off = literal(changes[0][1])
    else:
        off = case(*((column < db_bound(at, dialect), value) for (at, _), (_, value) in zip(changes[1:], changes)),
                   else_=changes[-1][1])
    local = func.unixepoch(column) + off
    return Buckets(local // 86400, (local % 86400) // 1800)


def as_date(value: Any) -> date:
    """The day a `buckets().day` value stands for (SQLite: days since 1970, PostgreSQL: a date)."""
    if isinstance(value, date):
        return value
    return date.fromordinal(_EPOCH_ORDINAL + int(value))


def company_of(queue_column, settings: ReportsConfig) -> ColumnElement:
    """The company of a row, from the configured queue → company map (a queue not listed is its own)."""
    if not settings.companies:
        return queue_column
    return case(settings.companies, value=queue_column, else_=queue_column)


def _count(condition) -> ColumnElement:
    return func.sum(case((condition, 1), else_=0))


def _range(column, start: datetime, end: datetime, dialect: str):
    return and_(column >= db_bound(start, dialect), column < db_bound(end, dialect))


# --- the queries ----------------------------------------------------------------------------------

def calls_by_bucket_query(dialect: str, tz: ZoneInfo, start: datetime, end: datetime, settings: ReportsConfig,
                          pbx: str | None = None) -> Select:
    """One row per (local day, half-hour, company) with every count the call figures need."""
    b = buckets(calls.c.joined_at, dialect, tz, start, end)
    answered = calls.c.outcome.in_(ANSWERED)
    talked = and_(answered, calls.c.talk_s.is_not(None))
    day, half, company = b.day.label("day"), b.half_hour.label("half_hour"), company_of(calls.c.queue, settings).label(
        "company")
    query = (
        select(day, half, company,
               func.count().label("offered"),
               _count(answered).label("answered"),
               _count(and_(answered, calls.c.wait_s <= settings.timely_threshold_s)).label("timely"),
               _count(calls.c.outcome == "abandoned").label("abandoned"),
               _count(calls.c.outcome == "timeout").label("timeouts"),
               func.sum(case((talked, calls.c.talk_s), else_=0.0)).label("talk_sum"),
               _count(talked).label("talk_n"))
        .where(_range(calls.c.joined_at, start, end, dialect))
        .group_by(day, half, company)
    )
    return query if pbx is None else query.where(calls.c.pbx == pbx)


def agent_calls_query(dialect: str, start: datetime, end: datetime, settings: ReportsConfig,
                      pbx: str | None = None) -> Select:
    talked = calls.c.talk_s.is_not(None)
    company = company_of(calls.c.queue, settings).label("company")
    agent = func.coalesce(calls.c.agent, "?").label("agent")
    query = (
        select(company, agent, func.count().label("calls_answered"),
               func.sum(case((talked, calls.c.talk_s), else_=0.0)).label("talk_sum"), _count(talked).label("talk_n"),
               _count(calls.c.ended_by == "agent").label("ended_first"))
        .where(_range(calls.c.joined_at, start, end, dialect), calls.c.outcome.in_(ANSWERED))
        .group_by(company, agent)
    )
    return query if pbx is None else query.where(calls.c.pbx == pbx)


def agent_offers_query(dialect: str, start: datetime, end: datetime, settings: ReportsConfig, two_rings: float,
                       pbx: str | None = None) -> Select:
    limit = two_rings + RING_JITTER_S
    answered = offers.c.result == "answered"
    company = company_of(offers.c.queue, settings).label("company")
    agent = func.coalesce(offers.c.agent, "?").label("agent")
    query = (
        select(company, agent, func.count().label("offers"), _count(answered).label("answered"),
               _count(and_(answered, offers.c.ring_s <= limit)).label("within_two_rings"),
               func.sum(func.coalesce(offers.c.rings, 0)).label("rings"),
               _count(offers.c.result == "no-answer").label("missed"))
        .where(_range(offers.c.offered_at, start, end, dialect), offers.c.result.in_(COUNTED))
        .group_by(company, agent)
    )
    return query if pbx is None else query.where(offers.c.pbx == pbx)


def repeat_callers_query(dialect: str, tz: ZoneInfo, start: datetime, end: datetime, settings: ReportsConfig,
                         pbx: str | None = None) -> Select:
    b = buckets(calls.c.joined_at, dialect, tz, start, end)
    unanswered = _count(calls.c.outcome.not_in(ANSWERED))
    day, company = b.day.label("day"), company_of(calls.c.queue, settings).label("company")
    query = (
        select(day, company, calls.c.caller_num, unanswered.label("unanswered"),
               _count(calls.c.outcome.in_(ANSWERED)).label("answered"))
        .where(_range(calls.c.joined_at, start, end, dialect), calls.c.caller_num != "")
        .group_by(day, company, calls.c.caller_num)
        .having(unanswered >= settings.repeat_caller_calls)
    )
    return query if pbx is None else query.where(calls.c.pbx == pbx)


# --- figures and their targets --------------------------------------------------------------------

@dataclass
class Counts:
    offered: int = 0
    answered: int = 0
    timely: int = 0
    abandoned: int = 0
    timeouts: int = 0
    talk_sum: float = 0.0
    talk_n: int = 0

    def add(self, row) -> None:
        self.offered += row.offered
        self.answered += int(row.answered or 0)
        self.timely += int(row.timely or 0)
        self.abandoned += int(row.abandoned or 0)
        self.timeouts += int(row.timeouts or 0)
        self.talk_sum += float(row.talk_sum or 0)
        self.talk_n += int(row.talk_n or 0)

    def merge(self, other: "Counts") -> None:
        for name in ("offered", "answered", "timely", "abandoned", "timeouts", "talk_sum", "talk_n"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def answer_rate(self) -> float | None:
        return share(self.answered, self.offered)

    @property
    def timely_rate(self) -> float | None:
        return share(self.timely, self.offered)

    @property
    def abandon_rate(self) -> float | None:
        return share(self.abandoned, self.offered)

    @property
    def aht_s(self) -> float | None:
        return None if not self.talk_n else self.talk_sum / self.talk_n

    def as_dict(self) -> dict:
        return {"offered": self.offered, "answered": self.answered, "abandoned": self.abandoned,
                "timeouts": self.timeouts, "answered_within_threshold": self.timely,
                "answer_rate": rnd(self.answer_rate), "timely_rate": rnd(self.timely_rate),
                "abandon_rate": rnd(self.abandon_rate), "aht_s": rnd(self.aht_s, 1)}


def share(part: int, whole: int) -> float | None:
    return None if not whole else part / whole


def rnd(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class Figure:
    """One figure against its standard. `met` is None when there is nothing to judge (no calls, or
    the figure is not measured yet)."""

    key: str
    label: str
    value: float | None
    target: float | None
    better: str  # "higher" or "lower"
    unit: str = "share"  # share | s | calls
    note: str | None = None

    @property
    def met(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        return self.value >= self.target if self.better == "higher" else self.value <= self.target

    @property
    def missed(self) -> bool:
        return self.met is False

    def as_dict(self) -> dict:
        return {"key": self.key, "label": self.label, "value": rnd(self.value), "target": self.target,
                "better": self.better, "unit": self.unit, "met": self.met, "note": self.note}


def call_figures(c: Counts, settings: ReportsConfig, ring_twice: float | None) -> list[Figure]:
    t = settings.targets
    return [
        Figure("answer_rate", "answer rate 接通率", c.answer_rate, t.answer_rate, "higher"),
        Figure("timely_rate", f"timely-answer rate 及时应答率 (≤{settings.timely_threshold_s:g} s)", c.timely_rate,
               t.timely_rate, "higher"),
        Figure("aht_s", "average handling time 平均处理时长", c.aht_s, t.aht_s, "lower", "s"),
        Figure("ring_twice", "answered within two rings", ring_twice, t.ring_twice, "higher"),
        Figure("abandon_rate", "abandon rate", c.abandon_rate, t.abandon_rate, "lower"),
    ]


def outbound_figure(settings: ReportsConfig) -> Figure:
    return Figure("outbound_per_day", "outbound calls per day 日呼出量", None, settings.targets.outbound_per_day,
                  "higher", "calls", note="not measured yet")


# --- intraday (rules §5: inbound so far today) ----------------------------------------------------

def intraday_query(dialect: str, start: datetime, until: datetime, settings: ReportsConfig,
                   pbx: str | None = None) -> Select:
    company = company_of(calls.c.queue, settings).label("company")
    query = (
        select(company, func.count().label("offered"), _count(calls.c.outcome.in_(ANSWERED)).label("answered"),
               _count(calls.c.outcome == "abandoned").label("abandoned"),
               _count(calls.c.outcome.not_in((*ANSWERED, "abandoned"))).label("other"))
        .where(_range(calls.c.joined_at, start, until, dialect))
        .group_by(company)
    )
    return query if pbx is None else query.where(calls.c.pbx == pbx)


def plain(value: Any) -> Any:
    """JSON-friendly copy of a report (dates to ISO)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return plain(asdict(value))
    return value
