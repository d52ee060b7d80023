"""Working days: China's official calendar (holidays and 调休 make-up days) or plain weekdays,
then the site's own overrides.

China's calendar comes from the `chinese-calendar` package, which carries the State Council's
yearly notice for each year it knows. For a year it does not know yet (the notice comes out each
November for the next year) the day falls back to Monday-Friday, and the reason says so;
`pbx-bridge rota check` warns when the current or the next year is not covered.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Protocol


class WorkingDays(Protocol):
    """What the day rules read of the rota's `calendar:` section (`model.Calendar`, which imports
    this module: the rules of days sit below the rota's data, not beside it in a circle)."""

    @property
    def kind(self) -> str: ...

    @property
    def extra_workdays(self) -> tuple[date, ...]: ...

    @property
    def extra_holidays(self) -> tuple[date, ...]: ...


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# chinese-calendar's English names, in the words the center uses.
HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


@lru_cache(maxsize=1)
def china_coverage() -> tuple[int, int]:
    """The first and last year chinese-calendar has the official notice for."""
    from chinese_calendar.constants import holidays

    return min(holidays).year, max(holidays).year


def china_covers(year: int) -> bool:
    first, last = china_coverage()
    return first <= year <= last


def _weekdays(day: date, note: str = "") -> tuple[bool, str]:
    if day.weekday() >= 5:
        return False, f"weekend{note}"
    return True, f"working day{note}"


@lru_cache(maxsize=4096)
def _china(day: date) -> tuple[bool, str]:
    import chinese_calendar

    if not china_covers(day.year):
        first, last = china_coverage()
        return _weekdays(day, f" (weekdays fallback: the official calendar for {day.year} is not known; "
                              f"chinese-calendar covers {first}-{last})")
    working, name = chinese_calendar.get_holiday_detail(day)
    working = not working  # get_holiday_detail answers "is it a holiday"
    label = HOLIDAY_NAMES.get(name, name) if name else None
    weekend = day.weekday() >= 5
    if working:
        if weekend:
            return True, f"调休 working {_WEEKDAYS[day.weekday()]}" + (f" ({label})" if label else "")
        return True, "working day"
    if label:
        lieu = ", 调休 day off" if not weekend and chinese_calendar.is_in_lieu(day) else ""
        return False, f"official holiday ({label}{lieu})"
    return False, "weekend"


def is_working_day(calendar: WorkingDays, day: date) -> tuple[bool, str]:
    """(working?, why): `official holiday (国庆节)`, `weekend`, `调休 working Saturday (国庆节)`,
    `site override: working day`, `site override: holiday`, or `working day`."""
    if day in calendar.extra_holidays:
        return False, "site override: holiday (extra_holidays)"
    if day in calendar.extra_workdays:
        return True, "site override: working day (extra_workdays)"
    if calendar.kind == "weekdays":
        return _weekdays(day)
    return _china(day)


def coverage_warnings(calendar: WorkingDays, today: date, start: date | None = None) -> list[str]:
    """What `rota check` warns about: years that fall back to weekdays."""
    if calendar.kind != "china":
        return []
    first, last = china_coverage()
    years = sorted({today.year, today.year + 1} | ({start.year} if start else set()))
    missing = [y for y in years if not china_covers(y)]
    if not missing:
        return []
    return [f"chinese-calendar covers {first}-{last}: days in {', '.join(map(str, missing))} fall back to "
            "Monday-Friday (no official holidays or 调休) until the package is upgraded; "
            "extra_workdays / extra_holidays can bridge the gap"]
