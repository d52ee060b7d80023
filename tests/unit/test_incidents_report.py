"""Incidents in the monthly report (rules §8): count, duration and calls affected per nature."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from pbx_bridge.incidents.tables import incidents
from pbx_bridge.reports import html, monthly
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.store.engine import sync_engine
from pbx_bridge.rooms import upgrade
from tests.unit.test_incidents_cli import record

SH = ZoneInfo("Asia/Shanghai")
NOV = (date(2026, 11, 1), date(2026, 11, 30))
T = datetime(2026, 11, 9, 2, 0, tzinfo=timezone.utc)


def seeded(url):
    upgrade(url)
    engine = sync_engine(url)
    rows = [record("a", "ami", started_at=T, duration_s=120.0, calls_affected=5, abandoned=2, recorded_late=3),
            record("b", "ami", started_at=T + timedelta(days=3), duration_s=60.0, calls_affected=1, abandoned=0,
                   recorded_late=1),
            record("c", "all-paused", started_at=T, ended=False, calls_affected=2, abandoned=1, recorded_late=0),
            record("d", "ami", started_at=T + timedelta(days=40))]  # December: not in November's report
    with engine.begin() as conn:
        conn.execute(insert(incidents), [asdict(r) for r in rows])
    return engine


def test_the_monthly_report_counts_incidents_per_nature_with_their_duration_and_calls(sqlite_url):
    engine = seeded(sqlite_url)
    report = monthly.monthly(engine, *NOV, SH, ReportsConfig(), 6.0)
    engine.dispose()
    lines = {line.nature: line.as_dict() for line in report.incidents}
    assert lines["ami"] == {"nature": "ami", "count": 2, "open": 0, "duration_min": 3.0, "longest_min": 2.0,
                            "calls_affected": 6, "abandoned": 2, "recorded_late": 4}
    assert lines["all-paused"]["open"] == 1 and lines["all-paused"]["duration_min"] == 0
    assert lines["(all)"]["count"] == 3 and lines["(all)"]["calls_affected"] == 8
    assert "Incidents (rules §8)" in monthly.as_table(report)
    assert report.as_dict()["incidents"][0]["nature"] == "all-paused"
    rows = [r for r in csv.DictReader(io.StringIO(monthly.as_csv(report))) if r["section"] == "incidents"]
    assert {(r["period"], r["figure"], r["count"] or r["value"]) for r in rows} >= {
        ("ami", "count", "2"), ("ami", "duration_min", "3.0"), ("(all)", "calls_affected", "8")}
    page = html.render(report)
    assert 'id="incidents"' in page and "all-paused" in page


def test_a_month_without_incidents_says_so(sqlite_url):
    upgrade(sqlite_url)
    engine = sync_engine(sqlite_url)
    report = monthly.monthly(engine, *NOV, SH, ReportsConfig(), 6.0)
    engine.dispose()
    assert report.incidents == [] and "Incidents (rules §8)\n(none)" in monthly.as_table(report)
