"""The site's calendar days as bounds on the store's UTC timestamps.

Reports, exports and features ask for "the calls of the 3rd to the 5th" in the site's time zone;
the store holds UTC. These two helpers turn one into the other, for every reader of the store.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


def utc_bounds(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in UTC: both local days included."""
    start = datetime.combine(first, time.min, tz).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=1), time.min, tz).astimezone(timezone.utc)
    return start, end


def db_bound(moment: datetime, dialect: str) -> datetime:
    """An aware UTC moment as the dialect compares it."""
    # SQLite keeps naive UTC text; PostgreSQL compares aware timestamps.
    return moment.replace(tzinfo=None) if dialect == "sqlite" else moment
