"""The store: idempotent batched upserts on SQLite (WAL), and exports by local day."""

import asyncio
import io
import json
import time
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select, text

from pbx_bridge.reports import export
from pbx_bridge.store.latency import LatencyHistogram
from pbx_bridge.store.engine import async_engine, safe_url, sync_engine
from pbx_bridge.rooms import record_kinds, upgrade
from pbx_bridge.calls.tables import calls, offers
from pbx_bridge.store.writer import StoreWriter
from tests.conftest import make_call, make_offer
from zoneinfo import ZoneInfo


async def write_all(url, records):
    engine = async_engine(url)
    writer = StoreWriter(engine, batch_size=3, kinds=record_kinds())
    for record in records:
        writer.put(record)
    await writer.flush()
    await engine.dispose()
    return writer


def count(url, table):
    engine = sync_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(table)).scalar_one()
    engine.dispose()
    return n


async def test_replaying_the_same_records_twice_creates_no_duplicates(sqlite_url):
    upgrade(sqlite_url)
    records = [make_call(f"17.{i}") for i in range(7)] + [make_offer("17.1", f"18.{i}") for i in range(4)]
    await write_all(sqlite_url, records)
    await write_all(sqlite_url, records)
    assert count(sqlite_url, calls) == 7
    assert count(sqlite_url, offers) == 4


async def test_a_later_version_of_a_record_updates_its_row(sqlite_url):
    upgrade(sqlite_url)
    await write_all(sqlite_url, [make_call(outcome="unknown", incomplete=True), make_call(outcome="answered")])
    engine = sync_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(select(calls.c.outcome, calls.c.incomplete)).all() == [("answered", False)]
    engine.dispose()


async def test_sqlite_store_runs_in_wal_mode(sqlite_url):
    upgrade(sqlite_url)
    engine = sync_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    engine.dispose()


async def test_a_failed_batch_is_kept_and_written_later(tmp_path):
    url = f"sqlite:///{tmp_path}/later.db"
    engine = async_engine(url)
    writer = StoreWriter(engine, kinds=record_kinds())
    writer.put(make_call())
    await writer.flush()  # no tables yet: the write fails
    assert writer.health()["pending"] == 1 and writer.failures == 1
    upgrade(url)
    await writer.flush()
    await engine.dispose()
    assert writer.health()["pending"] == 0
    assert count(url, calls) == 1


def test_migrations_are_idempotent(sqlite_url):
    upgrade(sqlite_url)
    upgrade(sqlite_url)


def test_password_never_in_the_logged_url():
    assert "hunter2" not in safe_url("postgresql://pbx:hunter2@db/pbx")


async def test_export_by_local_day_in_the_site_time_zone(sqlite_url):
    upgrade(sqlite_url)
    shanghai = ZoneInfo("Asia/Shanghai")
    # 2026-11-22 23:30 UTC is already the 23rd in Shanghai
    late = make_call("a.1", joined_at=datetime(2026, 11, 22, 23, 30, tzinfo=timezone.utc))
    early = make_call("a.2", joined_at=datetime(2026, 11, 22, 15, 0, tzinfo=timezone.utc))
    await write_all(sqlite_url, [late, early])
    engine = sync_engine(sqlite_url)
    day23 = list(export.rows(engine, "calls", date(2026, 11, 23), date(2026, 11, 23), shanghai))
    day22 = list(export.rows(engine, "calls", date(2026, 11, 22), date(2026, 11, 22), shanghai))
    engine.dispose()
    assert [r["uniqueid"] for r in day23] == ["a.1"]
    assert [r["uniqueid"] for r in day22] == ["a.2"]
    assert day23[0]["joined_at"] == "2026-11-22T23:30:00.000Z"


async def test_export_formats_carry_the_published_field_names(sqlite_url):
    upgrade(sqlite_url)
    await write_all(sqlite_url, [make_call(), make_offer()])
    engine = sync_engine(sqlite_url)
    out = io.StringIO()
    export.write(export.rows(engine, "calls", date(2026, 11, 23), date(2026, 11, 23), ZoneInfo("UTC")), "calls", "csv", out)
    header = out.getvalue().splitlines()[0].split(",")
    assert header[:16] == ["uniqueid", "linkedid", "pbx", "queue", "caller_num", "caller_name", "joined_at",
                           "position", "outcome", "wait_s", "agent", "interface", "ring_s", "talk_s", "ended_by",
                           "hangup_cause"]
    assert "张三丰" in out.getvalue()
    out = io.StringIO()
    export.write(export.rows(engine, "offers", date(2026, 11, 23), date(2026, 11, 23), ZoneInfo("UTC")), "offers", "jsonl", out)
    engine.dispose()
    offer = json.loads(out.getvalue().splitlines()[0])
    assert set(offer) >= {"uniqueid", "queue", "agent", "interface", "offered_at", "ring_s", "rings", "result"}


async def test_a_calls_latency_runs_from_its_finishing_event_to_the_commit(sqlite_url):
    upgrade(sqlite_url)
    engine = async_engine(sqlite_url)
    writer = StoreWriter(engine, batch_size=10, kinds=record_kinds())
    now = time.time()
    writer.put(make_call("17.1"), event_ts=now - 2.0)
    writer.put(make_call("17.2"), event_ts=now - 0.5)
    writer.put(make_offer("17.1", "18.1"))  # no event time: not counted
    await writer.flush()
    await engine.dispose()
    latency = writer.health()["latency"]
    assert latency["count"] == 2
    assert 500 <= latency["p50_ms"] <= 500 * 1.05 + 100
    assert 2000 <= latency["p99_ms"] <= 2000 * 1.05 + 100 and latency["max_ms"] >= 2000


async def test_a_retried_batch_counts_the_wait_for_the_database_in_its_latency(tmp_path):
    url = f"sqlite:///{tmp_path}/later.db"
    engine = async_engine(url)
    writer = StoreWriter(engine, kinds=record_kinds())
    writer.put(make_call(), event_ts=time.time())
    await writer.flush()  # no tables yet: fails, nothing measured
    assert writer.health()["latency"]["count"] == 0
    upgrade(url)
    await asyncio.sleep(0.3)
    await writer.flush()
    await engine.dispose()
    assert writer.health()["latency"]["count"] == 1 and writer.health()["latency"]["max_ms"] >= 300


def test_latency_percentiles_are_exact_to_within_five_percent():
    histogram = LatencyHistogram()
    for ms in range(1, 1001):
        histogram.add(ms / 1000)
    assert histogram.percentile(0.5) * 1000 == pytest.approx(500, rel=0.05)
    assert histogram.percentile(0.99) * 1000 == pytest.approx(990, rel=0.05)
    assert histogram.percentile(1.0) == 1.0
    assert len(histogram.counts) < 160  # a few hundred counters at most, whatever the traffic
    assert LatencyHistogram().summary() == {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
