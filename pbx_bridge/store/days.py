"""The site's calendar days as bounds on the store's UTC timestamps.

Reports, exports, the rollups and features ask for "the calls of the 3rd to the 5th" in the site's time zone;
the store holds UTC. These two helpers turn one into the other, for every reader of the store.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, case, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def utc_bounds(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in UTC: both local days included."""
    start = datetime.combine(first, time.min, tz).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=1), time.min, tz).astimezone(timezone.utc)
    return start, end


def db_bound(moment: datetime, dialect: str) -> datetime:
    """An aware moment as the dialect compares it: SQLite keeps naive UTC text, PostgreSQL compares
    aware timestamps. A moment in another zone (a local `now`) is turned to UTC first, never just
    stripped of its zone."""
    if dialect != "sqlite":
        return moment
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.replace(tzinfo=None)


# --- local day and half-hour in SQL, per dialect (the reports' GROUP BYs and the rollups') ---------

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


def local_slot(column, dialect: str, tz: ZoneInfo, start: datetime, end: datetime) -> ColumnElement:
    """The local half-hour of a UTC timestamp column as one integer: half-hours since 1970-01-01 00:00
    local time (slot // 48 is the local day, slot % 48 the half-hour of the day). One integer
    makes the GROUP BY cheap; `as_day_half` turns it back."""
    if dialect == "postgresql":
        local = func.timezone(literal(tz.key), column)
        return cast(func.floor(func.extract("epoch", local) / 1800), Integer)
    return _sqlite_local_epoch(column, dialect, tz, start, end) // 1800


def local_day(column, dialect: str, tz: ZoneInfo, start: datetime, end: datetime) -> ColumnElement:
    """The local day as days since 1970-01-01 (SQLite) or a date (PostgreSQL); see `as_date`."""
    if dialect == "postgresql":
        return cast(func.timezone(literal(tz.key), column), Date)
    return _sqlite_local_epoch(column, dialect, tz, start, end) // 86400


def _sqlite_local_epoch(column, dialect: str, tz: ZoneInfo, start: datetime, end: datetime) -> ColumnElement:
    changes = offset_changes(tz, start, end)
    if len(changes) == 1:
        off = literal(changes[0][1])
    else:
        off = case(*((column < db_bound(at, dialect), value) for (at, _), (_, value) in zip(changes[1:], changes)),
                   else_=changes[-1][1])
    return func.unixepoch(column) + off


def as_day_half(slot: int) -> tuple[date, int]:
    slot = int(slot)
    return date.fromordinal(_EPOCH_ORDINAL + slot // 48), slot % 48


def as_date(value: Any) -> date:
    """The day a `local_day()` value stands for (SQLite: days since 1970, PostgreSQL: a date)."""
    if isinstance(value, date):
        return value
    return date.fromordinal(_EPOCH_ORDINAL + int(value))
