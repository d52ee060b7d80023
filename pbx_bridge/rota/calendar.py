"""Working days: China's calendar (statutory holidays, the published 调休 schedule) or plain
weekdays, then the site's own overrides.

China's calendar has two layers (measured in docs/rota.md, "Working days"):
- the **statutory holidays**, fixed by law for every year (元旦 1 day; 春节 4 days from 除夕 by the
  lunar calendar; 清明; 劳动节 2 days; 端午; 中秋; 国庆 3 days; a holiday on a weekend gives a
  weekday off, 补假), computed for any year by the `holidays` package;
- the **published schedule**, the State Council's notice each November for the next year, which
  adds the bridging days off and the weekend days worked in exchange. `chinese-calendar` carries
  it year by year, and `holidays` does too (its special tables); the schedule of a year counts as
  published when either package has it.
A day of a year whose schedule neither package knows keeps the statutory holidays but is
*estimated*: `is_working_day` says so in its reason, `estimated()` answers it, and
`coverage_warnings` (the daemon's log at start and reload, `rota check`) names the year, until
the site lists that year's days in `extra_workdays` / `extra_holidays` or upgrades a package.
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

ESTIMATED = "estimated"
"""The word in a day's reason (and `rota show`'s field) when no published schedule backs it."""


@lru_cache(maxsize=1)
def china_coverage() -> tuple[int, int]:
    """The first and last year chinese-calendar has the official notice for."""
    from chinese_calendar.constants import holidays

    return min(holidays).year, max(holidays).year


def china_covers(year: int) -> bool:
    first, last = china_coverage()
    return first <= year <= last


@lru_cache(maxsize=1)
def holidays_coverage() -> int | None:
    """The last year whose State Council notice the `holidays` package carries (its special
    tables, one entry a year), or None if that cannot be read from this version."""
    try:
        from holidays.countries.china import ChinaStaticHolidays

        return max(ChinaStaticHolidays.special_public_holidays)
    except (ImportError, AttributeError, ValueError, TypeError):
        return None


def published_through() -> int:
    """The last year with a published 调休 schedule in either package."""
    return max(china_coverage()[1], holidays_coverage() or 0)


def published(year: int) -> bool:
    return china_coverage()[0] <= year <= published_through()


def sources() -> str:
    """`chinese-calendar 2004-2026, holidays 0.109 through 2026`, for the warnings."""
    from importlib.metadata import PackageNotFoundError, version

    first, last = china_coverage()
    try:
        hv = f"holidays {version('holidays')}"
    except PackageNotFoundError:
        hv = "holidays"
    h_last = holidays_coverage()
    return f"chinese-calendar {first}-{last}, {hv} through {h_last if h_last else '?'}"


def _weekdays(day: date, note: str = "") -> tuple[bool, str]:
    if day.weekday() >= 5:
        return False, f"weekend{note}"
    return True, f"working day{note}"


@lru_cache(maxsize=8)
def _holidays_year(year: int):  # noqa: ANN202 - a holidays.China
    import holidays

    return holidays.China(years=year, language="zh_CN")


def _by_holidays(day: date) -> tuple[bool, str]:
    """From `holidays`: the published schedule if it has the year, else the statutory holidays."""
    table = _holidays_year(day.year)
    weekend = day.weekday() >= 5
    if weekend and day in table.weekend_workdays:
        return True, f"调休 working {_WEEKDAYS[day.weekday()]}"
    name = table.get(day)
    if name:
        name = "调休 day off" if "调休" in name else name.replace("（补假）", ", 补假").replace("农历除夕", "除夕")
        return False, f"official holiday ({name})"
    return (False, "weekend") if weekend else (True, "working day")


@lru_cache(maxsize=4096)
def _china(day: date) -> tuple[bool, str]:
    import chinese_calendar

    if not china_covers(day.year):
        return _by_holidays(day)
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


def _site_years(calendar: WorkingDays) -> set[int]:
    return {d.year for d in (*calendar.extra_workdays, *calendar.extra_holidays)}


def estimated(calendar: WorkingDays, day: date) -> bool:
    """The day's status comes from the statutory holidays alone: no published schedule for its
    year, no site override for it, and no site days listed in its year (a site that lists a year's
    days has put in that year's schedule itself)."""
    if calendar.kind != "china" or day in calendar.extra_holidays or day in calendar.extra_workdays:
        return False
    return not published(day.year) and day.year not in _site_years(calendar)


def is_working_day(calendar: WorkingDays, day: date) -> tuple[bool, str]:
    """(working?, why): `official holiday (国庆节)`, `weekend`, `调休 working Saturday (国庆节)`,
    `site override: working day`, `site override: holiday`, or `working day`; a day without a
    published schedule ends with `(estimated: ...)`."""
    if day in calendar.extra_holidays:
        return False, "site override: holiday (extra_holidays)"
    if day in calendar.extra_workdays:
        return True, "site override: working day (extra_workdays)"
    if calendar.kind == "weekdays":
        return _weekdays(day)
    working, why = _china(day)
    if estimated(calendar, day):
        why += f" ({ESTIMATED}: no published 调休 schedule for {day.year})"
    return working, why


def estimated_years(calendar: WorkingDays, today: date, start: date | None = None) -> list[int]:
    """This year, the next and the rota's anchor year, where they would be estimated."""
    if calendar.kind != "china":
        return []
    years = sorted({today.year, today.year + 1} | ({start.year} if start else set()))
    site = _site_years(calendar)
    return [y for y in years if not published(y) and y not in site]


def coverage_warnings(calendar: WorkingDays, today: date, start: date | None = None) -> list[str]:
    """What `rota check` and the daemon (at start and each reload) warn about: estimated years."""
    return _warn(estimated_years(calendar, today, start))


def day_warnings(calendar: WorkingDays, day: date) -> list[str]:
    """What `rota show` warns about: the day's own year, if estimated."""
    return _warn([day.year] if estimated(calendar, day) else [])


def _warn(missing: list[int]) -> list[str]:
    if not missing:
        return []
    years = ", ".join(map(str, missing))
    return [f"no published 调休 schedule for {years} ({sources()}): its days keep the statutory holidays "
            f"(元旦, 春节, 清明, 劳动节, 端午, 中秋, 国庆) but no bridging days off and no weekend workdays, and "
            f"are marked '{ESTIMATED}'; add the State Council's schedule for {years} to the rota's "
            "calendar extra_workdays / extra_holidays, or upgrade chinese-calendar / holidays"]
