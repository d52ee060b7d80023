"""Working days: China's official calendar (holidays, 调休), weekdays, site overrides, fallback."""

from datetime import date, timedelta

import pytest

from pbx_bridge.rota.calendar import coverage_warnings, is_working_day, published_through
from pbx_bridge.rota.model import Calendar

CHINA = Calendar()


@pytest.mark.parametrize("day", [date(2025, 10, d) for d in range(1, 9)])
def test_2025_national_day_holidays_are_off(day):
    working, why = is_working_day(CHINA, day)
    assert not working
    assert why.startswith("official holiday (")
    assert "国庆节" in why or "中秋节" in why  # 2025-10-06 is 中秋节 inside the National Day week


@pytest.mark.parametrize("day", [date(2026, 10, d) for d in range(1, 8)])
def test_2026_national_day_holidays_are_off(day):
    assert is_working_day(CHINA, day) == (False, is_working_day(CHINA, day)[1])
    assert "国庆节" in is_working_day(CHINA, day)[1]


def test_the_day_after_national_day_is_on():
    assert is_working_day(CHINA, date(2026, 10, 8)) == (True, "working day")


def test_a_tiaoxiu_saturday_is_on():
    assert is_working_day(CHINA, date(2025, 10, 11)) == (True, "调休 working Saturday (国庆节)")
    assert is_working_day(CHINA, date(2026, 10, 10)) == (True, "调休 working Saturday (国庆节)")
    assert is_working_day(CHINA, date(2025, 9, 28)) == (True, "调休 working Sunday (国庆节)")


def test_an_ordinary_weekend_is_off():
    assert is_working_day(CHINA, date(2026, 3, 7)) == (False, "weekend")


def test_spring_festival_has_its_chinese_name():
    working, why = is_working_day(CHINA, date(2026, 2, 17))
    assert not working and why.startswith("official holiday (春节")


def test_weekdays_calendar_ignores_official_holidays():
    cal = Calendar(kind="weekdays")
    assert is_working_day(cal, date(2026, 10, 1)) == (True, "working day")
    assert is_working_day(cal, date(2026, 10, 10)) == (False, "weekend")


def test_site_overrides_win():
    cal = Calendar(extra_workdays=(date(2026, 10, 3),), extra_holidays=(date(2026, 6, 1),))
    assert is_working_day(cal, date(2026, 10, 3)) == (True, "site override: working day (extra_workdays)")
    assert is_working_day(cal, date(2026, 6, 1)) == (False, "site override: holiday (extra_holidays)")


def test_site_override_ranges_expand():
    cal = Calendar.model_validate({"extra_holidays": ["2026-06-01..2026-06-03"]})
    assert cal.extra_holidays == (date(2026, 6, 1), date(2026, 6, 2), date(2026, 6, 3))


def test_a_year_without_a_published_schedule_keeps_weekdays_and_says_it_is_estimated():
    year = published_through() + 1
    monday = date(year, 3, 8) + timedelta(days=-date(year, 3, 8).weekday())  # no holiday near 8 March
    working, why = is_working_day(CHINA, monday)
    assert working and "estimated" in why and str(year) in why
    working, why = is_working_day(CHINA, monday + timedelta(days=5))
    assert not working and why.startswith("weekend (estimated")


def test_check_warns_when_this_or_next_year_is_not_covered():
    last = published_through()
    assert coverage_warnings(CHINA, date(last, 1, 10)) != []  # next year unknown yet
    assert coverage_warnings(CHINA, date(last - 1, 6, 1)) == []
    assert coverage_warnings(Calendar(kind="weekdays"), date(last + 5, 1, 1)) == []
