"""A year whose 调休 schedule is not published yet (2027 as of chinese-calendar 1.11 and holidays 0.109):
the statutory holidays stay off, and every such day is flagged in `rota show`, the daemon's log
(at start and at each reload) and `rota check` (exit 1)."""

import json
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from pbx_bridge.cli import cli
from pbx_bridge.rota import RotaHolder, duty, listenings, load_rota
from pbx_bridge.rota import calendar as cal
from pbx_bridge.rota.model import Calendar, hash_pin

HASH = hash_pin("1234")
CHINA = Calendar()


def rota_text(start="2027-01-04", extra="", shift="08:00-18:00"):
    return (f"start: {start}\nshifts:\n  day: \"{shift}\"\n{extra}companies:\n  - id: jingan\n    name: 静安\n"
            f"    mailboxes: [\"8001\"]\n    shift: day\n    agents:\n"
            f"      - {{employee_no: \"0301\", name: 王芳, endpoint: PJSIP/a301, pin_hash: \"{HASH}\"}}\n"
            f"      - {{employee_no: \"0302\", name: 李娜, endpoint: PJSIP/a302, pin_hash: \"{HASH}\"}}\n")


@pytest.fixture(autouse=True)
def published_through_2026(monkeypatch):
    """The packages as they stand at the time of writing (both end at 2026), whatever a later
    upgrade brings: the mechanism is what is tested."""
    monkeypatch.setattr(cal, "published_through", lambda: 2026)
    cal._china.cache_clear()
    yield
    cal._china.cache_clear()


@pytest.fixture
def rota_file(tmp_path):
    path = tmp_path / "rota.yaml"
    path.write_text(rota_text(), encoding="utf-8")
    return path


@pytest.mark.parametrize("day, name", [(date(2027, 1, 1), "元旦"), (date(2027, 2, 5), "除夕"),
                                       (date(2027, 2, 8), "春节")])
def test_2027_statutory_holidays_are_not_duty_days(rota_file, day, name):
    rota = load_rota(str(rota_file))
    working, why = rota.is_working_day(day)
    assert not working
    assert why.startswith(f"official holiday ({name}") and "estimated" in why and "2027" in why
    assert duty(rota, "jingan", day).agent is None
    assert listenings(rota, day) == []


def test_spring_festival_2027_is_four_days_from_chuxi_by_the_lunar_calendar():
    # 除夕 2027 is Friday 5 February (正月初一 is 6 February): by the 2025 law 除夕 and 初一 to 初三 are off,
    # and the two that fall on the weekend give two weekdays off (补假).
    days = {date(2027, 2, 5) + timedelta(n): is_off for n, is_off in enumerate([True] * 6 + [False])}
    for day, is_off in days.items():
        assert is_working_day(day) is not is_off, (day, cal.is_working_day(CHINA, day))
    assert "除夕" in cal.is_working_day(CHINA, date(2027, 2, 5))[1]
    assert "补假" in cal.is_working_day(CHINA, date(2027, 2, 9))[1]


def is_working_day(day):
    return cal.is_working_day(CHINA, day)[0]


def test_2027_keeps_every_statutory_holiday():
    # 清明 5 April, 劳动节 1-2 May (a weekend: 补假 3-4 May), 端午 9 June, 中秋 15 September, 国庆 1-3 October
    for day in (date(2027, 4, 5), date(2027, 5, 3), date(2027, 5, 4), date(2027, 6, 9), date(2027, 9, 15),
                date(2027, 10, 1), date(2027, 10, 4), date(2027, 10, 5)):
        assert not is_working_day(day), day
    assert is_working_day(date(2027, 1, 4)) and is_working_day(date(2027, 2, 11))


def test_published_years_are_not_flagged():
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert not cal.estimated(CHINA, day)
        assert "estimated" not in cal.is_working_day(CHINA, day)[1]
        day += timedelta(1)
    assert cal.coverage_warnings(CHINA, date(2025, 6, 1)) == []


def test_site_days_for_the_year_stand_for_its_schedule():
    listed = Calendar(extra_holidays=(date(2027, 2, 9), date(2027, 2, 10), date(2027, 2, 11)),
                      extra_workdays=(date(2027, 2, 20),))
    assert not cal.estimated(listed, date(2027, 3, 1))
    assert "estimated" not in cal.is_working_day(listed, date(2027, 3, 1))[1]
    assert cal.coverage_warnings(listed, date(2026, 12, 1)) == []
    assert cal.estimated_years(CHINA, date(2026, 12, 1)) == [2027]


def test_the_2024_to_2026_schedules_of_both_packages_agree_day_by_day():
    """The measurement behind the choice (docs/rota.md): chinese-calendar and holidays give every
    day of 2024-2026 the same status, which is that of the State Council's notices."""
    import chinese_calendar
    import holidays

    for year in (2024, 2025, 2026):
        table = holidays.China(years=year)
        day = date(year, 1, 1)
        while day.year == year:
            assert chinese_calendar.is_workday(day) == table.is_working_day(day), day
            day += timedelta(1)
    assert not is_working_day(date(2026, 2, 20)) and is_working_day(date(2026, 2, 28))  # a bridge, a 调休 Saturday


def test_rota_show_flags_an_estimated_day_in_table_and_json(rota_file):
    runner = CliRunner()
    table = runner.invoke(cli, ["rota", "show", "-r", str(rota_file), "--date", "2027-02-08"])
    assert table.exit_code == 0, table.output
    assert "not a working day (official holiday (春节) (estimated: no published 调休 schedule for 2027))" in table.stdout
    assert "extra_workdays / extra_holidays" in table.stderr and "2027" in table.stderr
    shown = runner.invoke(cli, ["rota", "show", "-r", str(rota_file), "--date", "2027-01-05", "--format", "json"])
    rows = json.loads(shown.stdout)
    assert [(r["company"], r["working_day"], r["estimated"]) for r in rows] == [("jingan", True, True)]
    assert "estimated" in rows[0]["calendar"] and rows[0]["on_duty"] == "0302 李娜"
    published = runner.invoke(cli, ["rota", "show", "-r", str(rota_file), "--date", "2026-10-09", "--format", "json"])
    assert json.loads(published.stdout)[0]["estimated"] is False and published.stderr == ""


def test_rota_check_exits_1_with_the_warning(rota_file, monkeypatch):
    result = CliRunner().invoke(cli, ["rota", "check", str(rota_file)])
    assert result.exit_code == 1
    assert "no published 调休 schedule for 2027" in result.stderr
    assert "extra_workdays / extra_holidays" in result.stderr and "upgrade" in result.stderr
    assert result.stdout.startswith("ok: 1 companies") and "1 warning" in result.stdout
    monkeypatch.setattr(cal, "published_through", lambda: 2100)
    assert CliRunner().invoke(cli, ["rota", "check", str(rota_file)]).exit_code == 0


def test_rota_check_warns_about_a_shift_that_holds_no_listening_time(tmp_path, monkeypatch):
    monkeypatch.setattr(cal, "published_through", lambda: 2100)
    path = tmp_path / "rota.yaml"
    path.write_text(rota_text(start="2026-01-05", shift="16:00-22:00"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["rota", "check", str(path)])
    assert result.exit_code == 1
    assert "shifts.day (16:00-22:00) holds no listening time: its agents' rounds listen at 11:00, 13:00, 15:00" \
        in result.stderr
    path.write_text(rota_text(start="2026-01-05", shift="14:00-22:00"), encoding="utf-8")
    assert CliRunner().invoke(cli, ["rota", "check", str(path)]).exit_code == 0


def test_the_daemon_logs_the_estimated_year_at_start_and_at_each_reload(rota_file):
    holder = RotaHolder(str(rota_file))  # what the daemon's rota wiring loads, and reloads on SIGHUP
    with capture_logs() as logs:
        holder.load()
    warned = [e for e in logs if e["event"] == "rota_calendar_estimated"]
    assert len(warned) == 1 and 2027 in warned[0]["years"] and warned[0]["log_level"] == "warning"
    assert "extra_workdays / extra_holidays" in warned[0]["warning"] and warned[0]["path"] == str(rota_file)
    rota_file.write_text(rota_text().replace("王芳", "张伟"), encoding="utf-8")
    with capture_logs() as logs:
        assert holder.reload()[0]
    assert [e["years"] for e in logs if e["event"] == "rota_calendar_estimated"] == [warned[0]["years"]]
    rota_file.write_text(rota_text(extra="calendar: {extra_holidays: [2027-02-09..2027-02-11]}\n"), encoding="utf-8")
    with capture_logs() as logs:
        assert holder.reload()[0]
    assert [e for e in logs if e["event"] == "rota_calendar_estimated" and 2027 in e["years"]] == []


def test_the_running_daemon_logs_the_estimated_year_at_start_and_after_a_sighup_reload(tmp_path):
    """The real `pbx-bridge run`: a rota anchored in a year no package will have published for a long
    while (2099) is warned about in the daemon's log at start and again after SIGHUP."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.support.agi_peer import AGI_SECRET
    from tests.unit.test_admin_file_exits import REPO, log_events, wait_for_event, with_rota, write_config

    config = write_config(tmp_path, **with_rota(tmp_path, rota_text(start="2099-01-05")))
    log = tmp_path / "daemon.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pbx_bridge", "run", "-c", str(config)], stdout=out,
                                stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, "PBX_BRIDGE_AMI_SECRET": "s3cret", "PBX_BRIDGE_AGI_SECRET": AGI_SECRET})
    try:
        wait_for_event(proc, log, "daemon_ready")
        [at_start] = [e for e in log_events(log) if e.get("event") == "rota_calendar_estimated"]
        assert at_start["level"] == "warning" and 2099 in at_start["years"]
        assert "extra_workdays / extra_holidays" in at_start["warning"] and "upgrade" in at_start["warning"]
        (tmp_path / "rota.yaml").write_text(rota_text(start="2099-01-05").replace("王芳", "张伟"), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        wait_for_event(proc, log, "rota_reloaded")
        for _ in range(300):  # logged just after rota_reloaded, by the same call
            warned = [e for e in log_events(log) if e.get("event") == "rota_calendar_estimated"]
            if len(warned) == 2:
                break
            time.sleep(0.1)
        assert len(warned) == 2 and 2099 in warned[1]["years"]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, log.read_text()[-3000:]
