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
  with ring_s <= `ring_twice.within_two_rings_limit_s`), as a GROUP BY;
- repeat caller: a number with at least `repeat_caller_calls` unanswered calls in one local day
  to one company.

Local days and half-hours: PostgreSQL converts with `timezone(zone, ts)` (time zone rules
included). SQLite has no zone database, so the UTC offset is a CASE over the offsets in force
during the period (one branch per DST change), added to `unixepoch(ts)`.

Every query is a SQLAlchemy statement built here and run by a sync connection (CLI) or an async
one (the daemon's scheduler), so both give the same figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, case, func, select, text
from sqlalchemy.sql.elements import ColumnElement

from pbx_bridge.reports.ring_twice import COUNTED, within_two_rings_limit_s
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.store.days import as_date, as_day_half, db_bound, local_day, local_slot, offset_changes  # noqa: F401
from pbx_bridge.calls.tables import calls, offers, outbound_calls

ANSWERED = ("answered", "transferred")
# Spelled as the partial index ix_calls_unanswered's WHERE (rollups migration), so that the
# planners (SQLite's matches terms as written) read the month's unanswered calls from it alone.
UNANSWERED = text("calls.outcome NOT IN ('answered', 'transferred')")
OUTBOUND_NOTE = ("outbound calls per agent per day (日呼出量): the calls the agent's own phone placed (table "
                 "outbound_calls), averaged over the days on which the agent placed any; an agent with none shows "
                 "'not measured' (no outbound call seen, or a phone the daemon does not know)")


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
    """One row per (local half-hour slot, queue) with every count the call figures need. Grouped by
    queue, not company: the map is applied to these few rows in Python (cheaper than a CASE per row)."""
    answered = calls.c.outcome.in_(ANSWERED)
    talked = and_(answered, calls.c.talk_s.is_not(None))
    slot = local_slot(calls.c.joined_at, dialect, tz, start, end).label("slot")
    query = (
        select(slot, calls.c.queue,
               func.count().label("offered"),
               _count(answered).label("answered"),
               _count(and_(answered, calls.c.wait_s <= settings.timely_threshold_s)).label("timely"),
               _count(calls.c.outcome == "abandoned").label("abandoned"),
               _count(calls.c.outcome == "timeout").label("timeouts"),
               func.sum(case((talked, calls.c.talk_s), else_=0.0)).label("talk_sum"),
               _count(talked).label("talk_n"))
        .where(_range(calls.c.joined_at, start, end, dialect))
        .group_by(slot, calls.c.queue)
    )
    return query if pbx is None else query.where(calls.c.pbx == pbx)


def agent_calls_query(dialect: str, start: datetime, end: datetime, pbx: str | None = None) -> Select:
    """Per (queue, agent): answered calls, talk time, calls the agent ended first."""
    talked = calls.c.talk_s.is_not(None)
    query = (
        select(calls.c.queue, calls.c.agent, func.count().label("calls_answered"),
               func.sum(case((talked, calls.c.talk_s), else_=0.0)).label("talk_sum"), _count(talked).label("talk_n"),
               _count(calls.c.ended_by == "agent").label("ended_first"))
        .where(_range(calls.c.joined_at, start, end, dialect), calls.c.outcome.in_(ANSWERED))
        .group_by(calls.c.queue, calls.c.agent)
    )
    return query if pbx is None else query.where(calls.c.pbx == pbx)


def agent_offers_query(dialect: str, start: datetime, end: datetime, two_rings: float,
                       pbx: str | None = None) -> Select:
    """Per (queue, agent): ring-twice compliance as `reports/ring_twice.py` defines it."""
    limit = within_two_rings_limit_s(two_rings)  # the one limit, here fed to the SQL
    answered = offers.c.result == "answered"
    query = (
        select(offers.c.queue, offers.c.agent, func.count().label("offers"), _count(answered).label("answered"),
               _count(and_(answered, offers.c.ring_s <= limit)).label("within_two_rings"),
               func.sum(func.coalesce(offers.c.rings, 0)).label("rings"),
               _count(offers.c.result == "no-answer").label("missed"))
        .where(_range(offers.c.offered_at, start, end, dialect), offers.c.result.in_(COUNTED))
        .group_by(offers.c.queue, offers.c.agent)
    )
    return query if pbx is None else query.where(offers.c.pbx == pbx)


def repeat_callers_query(dialect: str, tz: ZoneInfo, start: datetime, end: datetime, settings: ReportsConfig,
                         pbx: str | None = None, numbers: list[str] | None = None) -> Select:
    """(local day, company, number) with at least `repeat_caller_calls` unanswered calls. Only the
    unanswered calls are read (a tenth of a month's rows, from ix_calls_unanswered alone), and of
    them only those of `numbers` when given (the candidates the rollups name)."""
    day = local_day(calls.c.joined_at, dialect, tz, start, end).label("day")
    company = company_of(calls.c.queue, settings).label("company")
    query = (
        select(day, company, calls.c.caller_num, func.count().label("unanswered"))
        .where(_range(calls.c.joined_at, start, end, dialect), calls.c.caller_num != "", UNANSWERED)
        .group_by(day, company, calls.c.caller_num)
        .having(func.count() >= settings.repeat_caller_calls)
    )
    if numbers is not None:
        query = query.where(calls.c.caller_num.in_(numbers))
    return query if pbx is None else query.where(calls.c.pbx == pbx)


def outbound_query(dialect: str, tz: ZoneInfo, start: datetime, end: datetime, pbx: str | None = None) -> Select:
    """Per (agent, local day): calls placed from the agent's own phone, and how many were answered."""
    day = local_day(outbound_calls.c.started_at, dialect, tz, start, end).label("day")
    query = (
        select(outbound_calls.c.agent, day, func.count().label("placed"),
               _count(outbound_calls.c.answered.is_(True)).label("answered"))
        .where(_range(outbound_calls.c.started_at, start, end, dialect))
        .group_by(outbound_calls.c.agent, day)
    )
    return query if pbx is None else query.where(outbound_calls.c.pbx == pbx)


def repeat_answered_query(dialect: str, tz: ZoneInfo, start: datetime, end: datetime, settings: ReportsConfig,
                          numbers: list[str], pbx: str | None = None) -> Select:
    """The answered calls of those numbers, per (local day, company, number)."""
    day = local_day(calls.c.joined_at, dialect, tz, start, end).label("day")
    company = company_of(calls.c.queue, settings).label("company")
    query = (
        select(day, company, calls.c.caller_num, func.count().label("answered"))
        .where(_range(calls.c.joined_at, start, end, dialect), calls.c.caller_num.in_(numbers),
               calls.c.outcome.in_(ANSWERED))
        .group_by(day, company, calls.c.caller_num)
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

    def merge(self, other: Counts) -> None:
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


def outbound_figure(settings: ReportsConfig, per_day: float | None = None) -> Figure:
    return Figure("outbound_per_day", "outbound calls per day 日呼出量", per_day, settings.targets.outbound_per_day,
                  "higher", "calls", note=None if per_day is not None else "not measured")


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
