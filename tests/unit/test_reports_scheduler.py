"""The handover file and the scheduler: set times, catch-up after downtime, one run per slot,
retries, and the event loop kept free."""

from __future__ import annotations

import asyncio
import io
import json
import os
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from pbx_bridge.reports import export, handover
from pbx_bridge.reports.scheduler import ReportScheduler, report_runs
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.store.engine import async_engine, sync_engine
from tests.unit.test_reports_kpi import call, local, seed
from tests.support.tasks import cancel_and_wait

SH = ZoneInfo("Asia/Shanghai")


def export_csv(url: str, day: date) -> str:
    engine = sync_engine(url)
    out = io.StringIO()
    export.write(export.rows(engine, "calls", day, day, SH), "calls", "csv", out)
    engine.dispose()
    return out.getvalue()


def test_handover_is_the_calls_export_of_that_day_written_atomically(sqlite_url, tmp_path):
    seed(sqlite_url, [call(local(20, 0, 0, 0.5)), call(local(20, 23, 59, 59), "abandoned", caller_name='a "quoted", 名'),
                      call(local(21, 0, 0)), call(local(19, 23, 59, 59))])
    engine = sync_engine(sqlite_url)
    path, count = handover.write(engine, tmp_path / "out", date(2026, 11, 20), SH)
    assert path == tmp_path / "out" / "calls-2026-11-20.csv" and count == 2
    assert path.read_text("utf-8") == export_csv(sqlite_url, date(2026, 11, 20))
    first = path.read_bytes()
    handover.write(engine, tmp_path / "out", date(2026, 11, 20), SH)  # again: same file, nothing beside it
    assert path.read_bytes() == first
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["calls-2026-11-20.csv"]
    empty, n = handover.write(engine, tmp_path / "out", date(2026, 11, 1), SH)
    assert n == 0 and empty.read_text() == export_csv(sqlite_url, date(2026, 11, 1))
    engine.dispose()


def test_a_failed_handover_leaves_no_file_and_no_temporary(sqlite_url, tmp_path):
    engine = sync_engine(sqlite_url)  # no tables: the query fails
    with pytest.raises(OperationalError):
        handover.write(engine, tmp_path / "out", date(2026, 11, 20), SH)
    assert list((tmp_path / "out").iterdir()) == []
    engine.dispose()


async def test_handover_on_the_async_engine_equals_the_sync_one(sqlite_url, tmp_path):
    await asyncio.to_thread(seed, sqlite_url, [call(local(20, 9, 0) + timedelta(seconds=i)) for i in range(2500)])
    engine = async_engine(sqlite_url)
    path, count = await handover.write_async(engine, tmp_path / "a", date(2026, 11, 20), SH)
    await engine.dispose()
    assert count == 2500
    assert path.read_text() == export_csv(sqlite_url, date(2026, 11, 20))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def settings(tmp_path: Path, **over) -> ReportsConfig:
    return ReportsConfig(output_dir=tmp_path / "reports", handover_dir=tmp_path / "handover", **over)


def test_slots_are_local_times_each_day():
    s = ReportScheduler.__new__(ReportScheduler)
    s.tz = SH
    s.jobs = [("intraday", time(11, 30)), ("intraday", time(16, 30)), ("handover", time(8, 10))]
    slots = s.slots(datetime(2026, 11, 20, 0, 0, tzinfo=SH), datetime(2026, 11, 21, 12, 0, tzinfo=SH))
    assert [(x.job, x.key) for x in slots] == [
        ("handover", "2026-11-20T08:10"), ("intraday", "2026-11-20T11:30"), ("intraday", "2026-11-20T16:30"),
        ("handover", "2026-11-21T08:10"), ("intraday", "2026-11-21T11:30")]
    assert s.next_slot(datetime(2026, 11, 21, 12, 0, tzinfo=SH)) == datetime(2026, 11, 21, 16, 30, tzinfo=SH)


async def test_missed_runs_are_made_up_at_start_and_each_slot_runs_once(sqlite_url, tmp_path):
    await asyncio.to_thread(seed, sqlite_url, [
        call(local(17, 9, 0)), call(local(18, 10, 0)), call(local(18, 11, 0), "abandoned"), call(local(18, 12, 0)),
        call(local(20, 9, 0))])
    engine = async_engine(sqlite_url)
    clock = Clock(datetime(2026, 11, 20, 17, 0, tzinfo=SH))  # down since the 18th 12:00
    cfg = settings(tmp_path, catch_up_days=3)
    s = ReportScheduler(engine, cfg, SH, "pbx1", clock=clock)
    ran = await s.tick()
    assert [(x.job, x.key) for x in ran] == [
        ("handover", "2026-11-18T08:10"), ("intraday", "2026-11-18T11:30"),
        ("intraday", "2026-11-18T16:30"), ("handover", "2026-11-19T08:10"), ("intraday", "2026-11-19T11:30"),
        ("intraday", "2026-11-19T16:30"), ("handover", "2026-11-20T08:10"), ("intraday", "2026-11-20T11:30"),
        ("intraday", "2026-11-20T16:30")]
    late = json.loads((tmp_path / "reports" / "intraday-2026-11-18-1630.json").read_text())
    assert late["total"]["offered"] == 3 and late["total"]["abandoned"] == 1, "the figures of 16:30 that day"
    morning = json.loads((tmp_path / "reports" / "intraday-2026-11-20-1130.json").read_text())
    assert morning["total"]["offered"] == 1
    assert (tmp_path / "reports" / "intraday-2026-11-20-1130.txt").read_text().startswith("Inbound calls 2026-11-20")
    assert sorted(p.name for p in (tmp_path / "handover").iterdir()) == [
        "calls-2026-11-15.csv", "calls-2026-11-16.csv", "calls-2026-11-17.csv"]
    assert "2026-11-17T01:00:00.000Z" in (tmp_path / "handover" / "calls-2026-11-17.csv").read_text()
    assert await s.tick() == []
    # A restart (new scheduler, same store) runs nothing again; a second daemon neither.
    again = ReportScheduler(engine, cfg, SH, "pbx2", clock=clock)
    assert await again.tick() == []
    clock.now = datetime(2026, 11, 21, 8, 10, 30, tzinfo=SH)
    assert [(x.job, x.key) for x in await again.tick()] == [("handover", "2026-11-21T08:10")]
    assert await s.tick() == []
    async with engine.connect() as conn:
        rows = (await conn.execute(select(report_runs.c.job, report_runs.c.finished_at))).all()
    assert len(rows) == 10 and all(r.finished_at is not None for r in rows)
    assert s.health()["runs"] == 9 and s.health()["last_run"] == {"intraday": "2026-11-20T16:30",
                                                                   "handover": "2026-11-20T08:10"}
    await engine.dispose()


async def test_two_daemons_at_once_run_a_slot_once(sqlite_url, tmp_path):
    await asyncio.to_thread(seed, sqlite_url, [call(local(20, 9, 0))])
    engine = async_engine(sqlite_url)
    clock = Clock(datetime(2026, 11, 20, 11, 31, tzinfo=SH))
    cfg = settings(tmp_path, catch_up_days=0)
    a, b = ReportScheduler(engine, cfg, SH, "a", clock=clock), ReportScheduler(engine, cfg, SH, "b", clock=clock)
    ran_a, ran_b = await asyncio.gather(a.tick(), b.tick())
    assert len(ran_a) + len(ran_b) == 1
    await engine.dispose()


async def test_a_failed_run_is_retried_with_backoff_and_does_not_stop_the_others(sqlite_url, tmp_path):
    await asyncio.to_thread(seed, sqlite_url, [call(local(20, 9, 0))])
    (tmp_path / "handover").write_text("a file where the directory should be")
    engine = async_engine(sqlite_url)
    clock = Clock(datetime(2026, 11, 20, 11, 31, tzinfo=SH))
    s = ReportScheduler(engine, settings(tmp_path, catch_up_days=1), SH, "pbx1", clock=clock)
    ran = await s.tick()
    assert [x.key for x in ran] == ["2026-11-19T16:30", "2026-11-20T11:30"], "the intraday reports ran"
    assert s.health()["failures"] == 1 and s.health()["retrying"] == 1
    assert await s.tick() == [], "not before the backoff"
    (tmp_path / "handover").unlink()
    clock.now += timedelta(seconds=61)
    assert [x.job for x in await s.tick()] == ["handover"]
    assert s.health()["retrying"] == 0
    await engine.dispose()


async def test_a_claim_left_by_a_dead_host_is_taken_over(sqlite_url, tmp_path):
    await asyncio.to_thread(seed, sqlite_url, [])
    engine = async_engine(sqlite_url)
    async with engine.begin() as conn:
        await conn.execute(report_runs.insert().values(job="intraday", slot="2026-11-20T11:30", pbx="dead",
                                                       started_at=datetime(2026, 11, 20, 3, 30)))
    clock = Clock(datetime(2026, 11, 20, 11, 40, tzinfo=SH))
    s = ReportScheduler(engine, settings(tmp_path, catch_up_days=0), SH, "pbx1", clock=clock)
    assert await s.tick() == [], "10 minutes: the other host may still be at it"
    clock.now = datetime(2026, 11, 20, 11, 46, tzinfo=SH)
    assert [x.key for x in await s.tick()] == ["2026-11-20T11:30"]
    await engine.dispose()


async def test_run_wakes_at_the_set_time_stops_at_once_and_keeps_the_loop_free(sqlite_url, tmp_path):
    await asyncio.to_thread(seed, sqlite_url, [call(local(20, 9, 0))])
    engine = async_engine(sqlite_url)
    start = datetime(2026, 11, 20, 11, 29, 59, 800000, tzinfo=SH)
    t0 = asyncio.get_running_loop().time()
    clock = Clock(start)

    def now() -> datetime:  # time passes 1:1 from start
        return start + timedelta(seconds=asyncio.get_running_loop().time() - t0)

    reports: list[tuple[str, dict]] = []
    s = ReportScheduler(engine, settings(tmp_path, catch_up_days=0), SH, "pbx1", clock=now,
                        on_report=lambda kind, payload: reports.append((kind, payload)))
    task = asyncio.create_task(s.run())
    ticks = 0
    deadline = asyncio.get_running_loop().time() + 5
    while not reports and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
        ticks += 1
    assert reports and reports[0][0] == "intraday" and reports[0][1]["until"] == "11:30"
    assert ticks > 10, "the loop kept running while the scheduler waited and worked"
    await asyncio.sleep(0.05)
    assert s.health()["next"] == "2026-11-20T16:30:00+08:00"
    await cancel_and_wait(task)
    await engine.dispose()
    assert clock.now == start
    assert os.path.exists(tmp_path / "reports" / "intraday-2026-11-20-1130.json")


async def test_a_database_outage_at_a_set_time_does_not_stop_the_scheduler(tmp_path):
    engine = async_engine(f"sqlite:///{tmp_path}/no-tables.db")  # every claim fails, as with the server away
    clock = Clock(datetime(2026, 11, 20, 11, 31, tzinfo=SH))
    s = ReportScheduler(engine, settings(tmp_path, catch_up_days=0), SH, "pbx1", clock=clock)
    task = asyncio.create_task(s.run())
    while not s.health()["failures"]:
        assert not task.done(), task.exception()
        await asyncio.sleep(0.01)
    assert not task.done()
    await cancel_and_wait(task)
    await engine.dispose()
