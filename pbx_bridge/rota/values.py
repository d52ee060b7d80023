"""Values a rota is written in (工号, HH:MM, dates and ranges) and the PIN hash, parsed and checked.

Kept apart from the models so that the phone menus (agents, voicemail) can check a PIN without
importing the whole rota.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any

from pbx_bridge.pins import hash_pin, verify_pin  # noqa: F401 - the rota's PIN hashes are checked there
from pbx_bridge.yaml_errors import At, in_years

MAX_SPAN_DAYS = 366
"""A range (leave, a block of holidays) covers at most a year: a longer one is a typo
(`2026..2062`) or belongs in two entries, and a calendar's ranges are expanded day by day."""
MAX_LISTED_DAYS = 10 * 366
"""All the days of one calendar list (extra_workdays, extra_holidays) together: ten years' worth."""

_EMPLOYEE_NO = re.compile(r"^[A-Za-z0-9-]{1,32}$")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(:[0-5]\d)?$")


def employee_sort_key(employee_no: str) -> tuple:
    """工号 sort numerically: `302` before `1001`, `0301` equal to `301`; letters sort as text."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in re.findall(r"\d+|\D+", employee_no))


def parse_hhmm(value: Any) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not _HHMM.match(value.strip()):
        raise ValueError(f"{value!r} is not a time of day HH:MM (00:00 to 23:59); quote it: \"11:00\"")
    hours, minutes, *seconds = value.strip().split(":")  # seconds allowed: tests set times just ahead
    return time(int(hours), int(minutes), int(seconds[0]) if seconds else 0)


def _as_date(value: Any) -> date:
    """A day in the years the rota may speak of (FIRST_YEAR..LAST_YEAR)."""
    if isinstance(value, datetime):
        return in_years(value.date())
    if isinstance(value, date):
        return in_years(value)
    if isinstance(value, str):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return in_years(day)
    raise ValueError(f"{value!r} is not a date YYYY-MM-DD")


def parse_span(value: Any) -> tuple[date, date]:
    """`2026-10-12`, `2026-10-14..2026-10-16` or `{from: D, to: D}`: both ends included."""
    if isinstance(value, dict):
        if set(value) != {"from", "to"}:
            raise ValueError("a range is {from: YYYY-MM-DD, to: YYYY-MM-DD}")
        first, last = _as_date(value["from"]), _as_date(value["to"])
    elif isinstance(value, str) and ".." in value:
        left, _, right = value.partition("..")
        first, last = _as_date(left), _as_date(right)
    else:
        first = last = _as_date(value)
    if last < first:
        raise ValueError(f"the range {first}..{last} ends before it starts")
    if (last - first).days + 1 > MAX_SPAN_DAYS:
        raise ValueError(f"the range {first}..{last} covers {(last - first).days + 1} days: "
                         f"at most {MAX_SPAN_DAYS}, split a longer one")
    return first, last


def _dates(values: Any) -> tuple[tuple[date, date], ...]:
    if not isinstance(values, (list, tuple)):
        values = [values]
    spans = []
    for i, value in enumerate(values):
        try:
            spans.append(parse_span(value))
        except ValueError as exc:
            raise At(str(exc), (i,)) from None
    return tuple(spans)
