"""Call monitoring's records in the store: `pbx-bridge qa score|list|show` (bad input refused, nothing
lost) and the monthly report's service-quality section (table, CSV, JSON, HTML)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner
from sqlalchemy import func, select

from pbx_bridge.cli import cli
from pbx_bridge.qa.records import ScoreRecord, SessionRecord
from pbx_bridge.qa.tables import qa_scores, qa_sessions
from pbx_bridge.store.engine import async_engine, sync_engine
from pbx_bridge.rooms import record_kinds, upgrade
from pbx_bridge.store.writer import StoreWriter
from tests.conftest import make_call

T = datetime(2026, 11, 23, 3, 1, tzinfo=timezone.utc)  # 11:01 local, during the calls


def seed(url):
    """Two answered calls (support and sales); a supervisor listened to the first and scored it 2."""
    upgrade(url)
    listen = SessionRecord("s1", "pbx1", "1700000000.1", "support", "201", "0201", "team", "王主管", "PJSIP/super601",
                           "PJSIP/agent201-00000001", False, T)
    records = [make_call("1700000000.1"), make_call("1700000000.2", queue="sales", agent="202"), listen]

    async def write():
        engine = async_engine(url)
        writer = StoreWriter(engine, batch_size=10, kinds=record_kinds())
        for record in records:
            writer.put(record)
        await writer.flush()
        listen.ended_at, listen.listened_s = T + timedelta(seconds=42), 42.0  # written again when it ends
        writer.put(listen)
        writer.put(ScoreRecord("p1", "pbx1", "1700000000.1", 2, "王主管", T + timedelta(seconds=42), "phone",
                               "support", "201", "team", session_id="s1"))
        await writer.flush()
        await engine.dispose()

    asyncio.run(write())


async def write(url, records):
    engine = async_engine(url)
    writer = StoreWriter(engine, batch_size=10, kinds=record_kinds())
    for record in records:
        writer.put(record)
    await writer.flush()
    await engine.dispose()


def config(tmp_path, url):
    path = tmp_path / "c.yaml"
    path.write_text(f"ami:\n  host: 127.0.0.1\nstore:\n  url: {url}\n"
                    "reports:\n  companies: {support: 静安, sales: 浦东}\n", encoding="utf-8")
    return str(path)


def rows_in(url, table):
    engine = sync_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(table)).scalar_one()
    engine.dispose()
    return n


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_scoring_an_unknown_uniqueid_says_so_exits_1_and_writes_nothing(sqlite_url, tmp_path):
    seed(sqlite_url)
    c = config(tmp_path, sqlite_url)
    result = run("qa", "score", "1799999999.9", "--score", "3", "--note", "x", "-c", c)
    assert result.exit_code == 1
    assert "no call '1799999999.9' in the store: nothing scored" in result.output
    assert rows_in(sqlite_url, qa_scores) == 1


def test_a_score_outside_1_to_5_is_refused(sqlite_url, tmp_path):
    seed(sqlite_url)
    c = config(tmp_path, sqlite_url)
    for bad in ("0", "6", "-1", "four"):
        result = run("qa", "score", "1700000000.2", "--score", bad, "-c", c)
        assert result.exit_code == 2 and "--score" in result.output, result.output
    assert rows_in(sqlite_url, qa_scores) == 1


def test_a_cli_score_lands_on_the_call_and_shows_in_list_and_show(sqlite_url, tmp_path):
    seed(sqlite_url)
    c = config(tmp_path, sqlite_url)
    scored = run("qa", "score", "1700000000.2", "--score", "5", "--note", "耐心, 清楚", "--by", "李经理", "-c", c)
    assert scored.exit_code == 0 and "scored 5 by 李经理 (agent 202)" in scored.output
    listed = run("qa", "list", "--from", "2026-11-20", "--to", "2099-12-31", "--format", "json", "-c", c)
    rows = json.loads(listed.output)
    assert [(r["kind"], r["uniqueid"], r["agent"], r["by"], r["score"], r["listened_s"]) for r in rows][0] == (
        "listen", "1700000000.1", "201", "王主管", 2, 42.0)
    assert rows[0]["at"] == "2026-11-23 11:01:00"
    cli_rows = [r for r in rows if r["kind"] == "score"]
    assert [(r["uniqueid"], r["agent"], r["queue"], r["score"], r["note"]) for r in cli_rows] == [
        ("1700000000.2", "202", "sales", 5, "耐心, 清楚")]
    table = run("qa", "list", "--from", "2026-11-20", "--to", "2099-12-31", "-c", c)
    assert table.exit_code == 0 and table.output.splitlines()[0].split()[:3] == ["at", "kind", "uniqueid"]
    as_csv = run("qa", "list", "--from", "2026-11-20", "--to", "2099-12-31", "--format", "csv", "-c", c)
    assert len(list(csv.DictReader(io.StringIO(as_csv.output)))) == 2
    shown = json.loads(run("qa", "show", "1700000000.1", "--format", "json", "-c", c).output)
    assert shown["call"]["agent"] == "201" and [s["score"] for s in shown["scores"]] == [2]
    assert [(s["supervisor"], s["listened_s"]) for s in shown["listens"]] == [("王主管", 42.0)]
    assert "score 2 by 王主管 (phone)" in run("qa", "show", "1700000000.1", "-c", c).output
    unknown = run("qa", "show", "1799999999.9", "-c", c)
    assert unknown.exit_code == 1 and "no call" in unknown.output


def test_a_listen_written_at_its_start_and_end_is_one_row(sqlite_url):
    seed(sqlite_url)
    assert rows_in(sqlite_url, qa_sessions) == 1
    engine = sync_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(select(qa_sessions.c.listened_s)).scalar_one() == 42.0
    engine.dispose()


def test_the_monthly_report_has_service_quality_per_company_and_per_agent(sqlite_url, tmp_path):
    seed(sqlite_url)
    c = config(tmp_path, sqlite_url)
    scores = [ScoreRecord(f"c{n}", "pbx1", "1700000000.2", n, "李经理", T + timedelta(hours=n), "cli", "sales", "202")
              for n in (5, 4)]
    asyncio.run(write(sqlite_url, scores))
    report = run("report", "monthly", "--month", "2026-11", "--format", "json", "-c", c)
    quality = json.loads(report.output)["quality"]
    companies = {line["company"]: line for line in quality["companies"]}
    assert (companies["静安"]["calls_monitored"], companies["静安"]["average_score"]) == (1, 2.0)
    assert (companies["浦东"]["calls_monitored"], companies["浦东"]["scored"], companies["浦东"]["average_score"]) == (
        1, 2, 4.5)
    assert [(s["score"], s["uniqueid"]) for s in companies["浦东"]["lowest"]] == [(4, "1700000000.2"),
                                                                                 (5, "1700000000.2")]
    assert [(a["company"], a["agent"], a["average_score"]) for a in quality["agents"]] == [
        ("浦东", "202", 4.5), ("静安", "201", 2.0)]
    table = run("report", "monthly", "--from", "2026-11-01", "--to", "2026-11-30", "-c", c).output
    assert "Service quality (call monitoring, score 1-5)" in table and "2 1700000000.1" in table
    as_csv = run("report", "monthly", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv", "-c", c)
    rows = [r for r in csv.DictReader(io.StringIO(as_csv.output)) if r["section"] == "quality"]
    assert {(r["company"], r["agent"], r["value"]) for r in rows if r["figure"] == "average_score"} == {
        ("静安", "", "2.0"), ("浦东", "", "4.5"), ("静安", "201", "2.0"), ("浦东", "202", "4.5")}
    page = run("report", "monthly", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "html", "-c", c).output
    assert 'id="quality"' in page and "1700000000.2" in page


def test_a_month_without_monitoring_says_so(sqlite_url, tmp_path):
    upgrade(sqlite_url)
    c = config(tmp_path, sqlite_url)
    report = run("report", "monthly", "--month", "2026-10", "--format", "json", "-c", c)
    assert json.loads(report.output)["quality"] == {"companies": [], "agents": []}
    assert "(no calls monitored)" in run("report", "monthly", "--month", "2026-10", "--format", "html", "-c", c).output
