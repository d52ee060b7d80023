"""Callbacks in the monthly report (table, CSV, JSON, HTML) and the CALL BACK list commands."""

import asyncio
import csv
import io
import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from sqlalchemy import update

from pbx_bridge.callbacks import store
from pbx_bridge.cli import cli
from pbx_bridge.reports import html, monthly
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.store.engine import async_engine, sync_engine
from pbx_bridge.rooms import upgrade
from pbx_bridge.callbacks.tables import callback_requests

SH = ZoneInfo("Asia/Shanghai")
NOV = (date(2026, 11, 1), date(2026, 11, 30))
T = datetime(2026, 11, 9, 2, 0, tzinfo=timezone.utc)  # 10:00 local


def seed(url, rows):
    """rows: (queue, number, status, minutes from request to done)"""
    upgrade(url)

    async def write():
        engine = async_engine(url)
        for i, (queue, number, _, _) in enumerate(rows):
            await store.add_request(engine, "pbx1", f"u{i}", number, "客户", queue, 1, T + timedelta(minutes=i))
        await engine.dispose()

    asyncio.run(write())
    engine = sync_engine(url)
    with engine.begin() as conn:
        for i, (_, _, status, minutes) in enumerate(rows, 1):
            done = None if minutes is None else (T + timedelta(minutes=i - 1 + minutes)).replace(tzinfo=None)
            conn.execute(update(callback_requests).where(callback_requests.c.id == i).values(status=status, done_at=done))
    engine.dispose()


ROWS = [("support", "1381", "done", 10), ("support", "1382", "done", 30), ("support", "1383", "done", 20),
        ("support", "1384", "answered-inbound", 5), ("support", "1385", "failed", 60), ("support", "1386", "pending", None),
        ("sales", "1387", "dialling", None), ("sales", "1388", "cancelled", 1)]


def test_per_queue_requested_done_closed_failed_pending_and_median_time(sqlite_url):
    seed(sqlite_url, ROWS)
    engine = sync_engine(sqlite_url)
    rep = monthly.monthly(engine, *NOV, SH, ReportsConfig(companies={"support": "静安", "sales": "静安"}), 6.0)
    engine.dispose()
    lines = {c.queue: c.as_dict() for c in rep.callbacks}
    assert lines["support"] == {"queue": "support", "company": "静安", "requested": 6, "done": 3,
                                "closed_by_inbound": 1, "failed": 1, "cancelled": 0, "pending": 1,
                                "median_minutes_to_callback": 20.0}
    assert lines["sales"]["pending"] == 1 and lines["sales"]["cancelled"] == 1
    assert lines["(all)"]["requested"] == 8 and lines["(all)"]["median_minutes_to_callback"] == 20.0
    table = monthly.as_table(rep)
    assert "Callbacks (pressed 1 to be called back)" in table and "median min to callback" in table
    data = json.loads(json.dumps(rep.as_dict(), ensure_ascii=False))
    assert data["callbacks"][0]["queue"] == "sales"
    rows = [r for r in csv.DictReader(io.StringIO(monthly.as_csv(rep))) if r["section"] == "callbacks"]
    assert {(r["period"], r["figure"]): r["count"] or r["value"] for r in rows}[("support", "closed_by_inbound")] == "1"
    page = html.render(rep)
    assert 'id="callbacks"' in page and "<td>support</td>" in page


def test_no_requests_no_section_noise(sqlite_url):
    upgrade(sqlite_url)
    engine = sync_engine(sqlite_url)
    rep = monthly.monthly(engine, *NOV, SH, ReportsConfig(), 6.0)
    engine.dispose()
    assert rep.callbacks == [] and "(no callback requests)" in html.render(rep)


def test_the_call_back_list_and_cancel(sqlite_url, tmp_path):
    seed(sqlite_url, ROWS)
    config = tmp_path / "c.yaml"
    config.write_text(f"ami:\n  host: 127.0.0.1\nstore:\n  url: {sqlite_url}\n")
    runner = CliRunner()
    listed = runner.invoke(cli, ["callbacks", "list", "-c", str(config), "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert [(r["id"], r["status"], r["requested_at"]) for r in json.loads(listed.output)] == [
        (6, "pending", "2026-11-09 10:05:00"), (7, "dialling", "2026-11-09 10:06:00")]
    table = runner.invoke(cli, ["callbacks", "list", "-c", str(config), "--date", "2026-11-09"])
    assert table.exit_code == 0 and len(table.output.splitlines()) == 1 + len(ROWS)
    failed = runner.invoke(cli, ["callbacks", "list", "-c", str(config), "--status", "failed", "--format", "csv"])
    assert failed.output.splitlines()[1].startswith("5,2026-11-09 10:04:00,1385,客户,support,1,failed")
    cancelled = runner.invoke(cli, ["callbacks", "cancel", "-c", str(config), "6"])
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
    again = runner.invoke(cli, ["callbacks", "cancel", "-c", str(config), "6"])
    assert again.exit_code == 1
    left = runner.invoke(cli, ["callbacks", "list", "-c", str(config), "--format", "json"])
    assert [r["id"] for r in json.loads(left.output)] == [7]
    assert "no callback requests on 2026-11-10" in runner.invoke(
        cli, ["callbacks", "list", "-c", str(config), "--date", "2026-11-10"]).output
