"""Threatening calls in the monthly report: per company, how each was handled, in the table,
CSV, JSON and HTML forms, each threat listed with its recording."""

import asyncio
import csv
import io
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from pbx_bridge.reports import html, monthly
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.store.engine import sync_engine
from pbx_bridge.threats.model import AckRecord
from tests.unit.test_threats_cli import threat, write

SH = ZoneInfo("Asia/Shanghai")
NOV = (date(2026, 11, 1), date(2026, 11, 30))
T = datetime(2026, 11, 9, 2, 0, tzinfo=timezone.utc)


def test_the_monthly_report_lists_threats_per_company(sqlite_url):
    asyncio.run(write(sqlite_url, [
        threat("1.1", marked_at=T, company="jingan"),
        AckRecord("pbx1", "1.1", T + timedelta(minutes=4), "组长王", "phone"),
        threat("1.2", marked_at=T + timedelta(hours=1), company="jingan", status="unacknowledged",
               manager_told_at=T + timedelta(hours=1, minutes=15)),
        threat("1.3", marked_at=T, company="", queue="sales", number=""),
        threat("1.4", marked_at=datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)),  # next month
    ]))
    engine = sync_engine(sqlite_url)
    rep = monthly.monthly(engine, *NOV, SH, ReportsConfig(companies={"sales": "宝山"}), 6.0)
    engine.dispose()
    lines = {line.company: line.as_dict() for line in rep.threats}
    assert set(lines) == {"jingan", "宝山", "(all)"}
    jingan = lines["jingan"]
    assert (jingan["threats"], jingan["acknowledged"], jingan["manager_called"], jingan["unacknowledged"],
            jingan["median_minutes_to_acknowledge"]) == (2, 1, 1, 1, 4.0)
    assert [x["acknowledged_by"] for x in jingan["threats_listed"]] == ["组长王", ""]
    assert jingan["threats_listed"][0]["time"] == "2026-11-09 10:00" and jingan["threats_listed"][0]["recording"]
    assert lines["(all)"]["threats"] == 3
    table = monthly.as_table(rep)
    assert "Threatening calls 恐吓电话 (*8)" in table and "median min to acknowledge" in table
    rows = [r for r in csv.DictReader(io.StringIO(monthly.as_csv(rep))) if r["section"] == "threats"]
    assert {(r["company"], r["figure"], r["count"]) for r in rows} >= {("jingan", "threats", "2"),
                                                                        ("(all)", "unacknowledged", "2")}
    assert rep.as_dict()["threats"][0]["company"] == "jingan"
    page = html.render(rep, "November")
    assert '<table id="threats">' in page and "NOT acknowledged" in page and "组长王" in page
