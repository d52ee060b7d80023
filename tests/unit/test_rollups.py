"""Issue 15 part 1: the reports read the rollups, and the rollups give exactly the raw rows' figures.

The same month is built both ways (rollups vs raw rows) and must give equal reports: on the
recorded lab transcripts (AMI, then Asterisk's queue_log reconciled over it) and on a synthetic
month written day by day as the daemon would (running sums on the open day; late records,
replayed records and records that replace earlier ones landing on closed days), in a time zone
whose day boundaries move (America/New_York ends DST on 2026-11-01).
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from pbx_bridge.ami.transcript import replay
from pbx_bridge.calls.records import CallRecord
from pbx_bridge.calls.tracker import WANTED_EVENTS, CallTracker
from pbx_bridge.reconcile.builder import CallBuilder
from pbx_bridge.reconcile.lines import parse_line
from pbx_bridge.reports import intraday, monthly, ring_twice
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.ring import RingConfig, two_rings_s, within_two_rings_limit_s
from pbx_bridge.rollups.keeper import RollupKeeper
from pbx_bridge.rollups.sums import Basis
from pbx_bridge.rollups.tables import call_rollups, rollup_state
from pbx_bridge.rooms import record_kinds, upgrade
from pbx_bridge.store.engine import async_engine, sync_engine
from pbx_bridge.store.writer import StoreWriter
from tests.conftest import make_call, make_offer
from tests.support import postgres

CN = RingConfig(cadence="cn", two_rings="end_of_second_ring")
TWO = two_rings_s(CN)
NY = ZoneInfo("America/New_York")
SH = ZoneInfo("Asia/Shanghai")
SETTINGS = ReportsConfig(companies={"support": "acme", "billing": "acme"}, repeat_caller_calls=2)
TRANSCRIPTS = Path(__file__).parent.parent / "transcripts"


def basis(tz: ZoneInfo) -> Basis:
    return Basis(tz, float(SETTINGS.timely_threshold_s), within_two_rings_limit_s(TWO))


class Store:
    """A store written through the writer with the rollup hook, one flush per step, `today` set per step."""

    def __init__(self, url: str, tz: ZoneInfo) -> None:
        upgrade(url)
        self.url, self.tz, self.today = url, tz, date(2026, 11, 1)
        self.keeper = RollupKeeper(basis(tz), today=lambda: self.today)

    def write(self, records, today: date | None = None, batch_size: int = 50) -> None:
        if today is not None:
            self.today = today

        async def run() -> None:
            engine = async_engine(self.url)
            writer = StoreWriter(engine, batch_size=batch_size, kinds=record_kinds())
            writer.add_batch_hook(self.keeper.hook)
            for record in records:
                writer.put(record)
            await writer.flush()
            assert not writer.pending, writer.last_error
            await engine.dispose()

        asyncio.run(run())


def assert_same_reports(url: str, tz: ZoneInfo, first: date, last: date, pbxs: tuple = ()) -> dict:
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(rollup_state)).scalar_one() >= 1
        for pbx in pbxs:
            assert monthly.monthly(engine, first, last, tz, SETTINGS, TWO, pbx, source="rollups").as_dict() == \
                monthly.monthly(engine, first, last, tz, SETTINGS, TWO, pbx, source="raw").as_dict()
        raw = monthly.monthly(engine, first, last, tz, SETTINGS, TWO, source="raw").as_dict()
        rolled = monthly.monthly(engine, first, last, tz, SETTINGS, TWO, source="rollups").as_dict()
        auto = monthly.monthly(engine, first, last, tz, SETTINGS, TWO).as_dict()
        assert rolled == raw
        assert auto == raw
        for by in ("day", "month"):
            assert ring_twice.compliance(engine, first, last, tz, CN, by, source="rollups") == \
                ring_twice.compliance(engine, first, last, tz, CN, by, source="raw")
        day = first
        while day <= last:
            for until in (time(11, 30), time(16, 47), None):
                now = datetime.combine(day + timedelta(days=1), time.min, tz).astimezone(timezone.utc)
                assert intraday.report(engine, day, tz, SETTINGS, until, now=now, source="rollups") == \
                    intraday.report(engine, day, tz, SETTINGS, until, now=now, source="raw"), (day, until)
            day += timedelta(days=1)
        return raw
    finally:
        engine.dispose()


# --- the recorded transcripts ---------------------------------------------------------------------

def transcript_records(name: str) -> tuple[list, list]:
    ami: list = []
    tracker = CallTracker("pbx1", CN, ami.append)
    replay((TRANSCRIPTS / f"{name}.ami").read_bytes(), tracker.handle, WANTED_EVENTS, chunk=4096)
    builder = CallBuilder("pbx1", CN)
    from_log: list = []
    for text in (TRANSCRIPTS / f"{name}.queue_log").read_text().splitlines():
        line = parse_line(text)
        if line is not None:
            from_log.extend(builder.feed(line))
    return ami, from_log


def test_the_recorded_transcripts_give_the_same_reports_from_rollups_and_from_raw_rows(tmp_path):
    names = sorted(p.name[: -len(".queue_log")] for p in TRANSCRIPTS.glob("*.queue_log"))
    store = Store(f"sqlite:///{tmp_path}/store.db", SH)
    days = set()
    for name in names:
        ami, from_log = transcript_records(name)
        calls = [r for r in ami if isinstance(r, CallRecord)]
        assert calls, name
        days |= {c.joined_at.astimezone(SH).date() for c in calls}
        today = max(c.joined_at.astimezone(SH).date() for c in calls)
        store.write(ami, today=today, batch_size=3)  # running sums on the open day
        store.write(from_log, today=today, batch_size=3)  # reconciliation over the same calls: nothing doubles
        store.write(from_log + ami, today=today + timedelta(days=1), batch_size=4)  # again, the day closed
    first, last = min(days), max(days)
    raw = assert_same_reports(store.url, SH, first, last)
    assert raw["total"]["offered"] == len({c.uniqueid for n in names for c in transcript_records(n)[0]
                                           if isinstance(c, CallRecord)})


# --- a synthetic month ----------------------------------------------------------------------------

def synthetic_month(tz: ZoneInfo, seed: int = 7, n: int = 1500) -> dict[date, list]:
    """Records per the local day they are written on: most on their own day, some late (a spool
    replayed, queue_log reconciled), some replaced (a retried key with newer state, an incomplete
    AMI call completed by queue_log, a queue_log call superseded by AMI), several at local midnight."""
    rnd = random.Random(seed)
    first = date(2026, 11, 1)
    written: dict[date, list] = {}
    for i in range(n):
        day = first + timedelta(days=rnd.randrange(30))
        if i % 17 == 0:  # at the day boundary
            local = datetime.combine(day, time.min, tz) + timedelta(seconds=rnd.choice((-0.4, 0.0, 0.3, 1799.9)))
        else:
            local = datetime.combine(day, time(rnd.randrange(24), rnd.randrange(60)), tz) + timedelta(
                seconds=rnd.random() * 60)
        at = local.astimezone(timezone.utc)
        on = local.astimezone(tz).date()
        queue = rnd.choice(("support", "sales", "billing"))
        outcome = rnd.choice(("answered", "answered", "answered", "transferred", "abandoned", "timeout",
                              "exitempty"))
        answered = outcome in ("answered", "transferred")
        agent = rnd.choice(("201", "202", "203", "204")) if answered else None
        uid = f"1790000000.{i}"
        rec = make_call(uid, pbx="pbx2" if i % 5 == 0 else "pbx1", joined_at=at, queue=queue, outcome=outcome, agent=agent,
                        caller_num=f"1390000{rnd.randrange(40):04d}", wait_s=round(rnd.uniform(0, 45), 3),
                        talk_s=round(rnd.uniform(5, 600), 3) if answered else None,
                        ended_by=rnd.choice(("agent", "caller")) if answered else "caller")
        offer = make_offer(uid, f"{uid}-0", pbx=rec.pbx, queue=queue, agent=agent or rnd.choice(("201", "202")),
                           offered_at=at + timedelta(seconds=1), ring_s=round(rnd.uniform(0, 9), 2),
                           rings=rnd.randrange(1, 3), result="answered" if answered else rnd.choice(
                               ("no-answer", "caller-left", "busy")))
        kind = rnd.random()
        if kind < 0.70:  # on time
            written.setdefault(on, []).extend([rec, offer])
        elif kind < 0.80:  # late: written one to three days after
            written.setdefault(on + timedelta(days=rnd.randrange(1, 4)), []).extend([rec, offer])
        elif kind < 0.88:  # an incomplete AMI record, completed by queue_log (on time or late)
            half = replace(rec, outcome="unknown", incomplete=True, agent=None, talk_s=None, wait_s=None)
            ql = replace(rec, source="queue_log", caller_name="", joined_at=(at - timedelta(seconds=0.7)).replace(
                microsecond=0))
            written.setdefault(on, []).extend([half, offer])
            written.setdefault(on + timedelta(days=rnd.randrange(0, 2)), []).append(ql)
        elif kind < 0.94:  # queue_log first, then the full AMI account supersedes it
            ql = replace(rec, source="queue_log", outcome="abandoned", agent=None, talk_s=None)
            written.setdefault(on, []).append(ql)
            written.setdefault(on + timedelta(days=rnd.randrange(0, 2)), []).extend([rec, offer])
        else:  # the same key put twice with newer state, the offer's result changed too
            older = replace(rec, outcome="abandoned", agent=None, talk_s=None, ended_by="caller")
            written.setdefault(on, []).extend([older, replace(offer, result="no-answer")])
            written.setdefault(on + timedelta(days=rnd.randrange(0, 2)), []).extend([rec, offer, rec])
    return dict(sorted(written.items()))


def build_month(url: str, tz: ZoneInfo) -> Store:
    store = Store(url, tz)
    for today, records in synthetic_month(tz).items():
        store.write(records, today=today, batch_size=37)
    return store


def test_a_synthetic_month_gives_the_same_reports_from_rollups_and_from_raw_rows(tmp_path):
    store = build_month(f"sqlite:///{tmp_path}/store.db", NY)
    assert store.keeper.recomputed > 0 and store.keeper.added > 0  # both paths were taken
    raw = assert_same_reports(store.url, NY, date(2026, 11, 1), date(2026, 11, 30), ("pbx1", "pbx2"))
    assert raw["total"]["offered"] > 1000
    assert len(raw["repeat_callers"]) > 10 and raw["by_day"][0]["offered"]
    assert sorted(store.keeper.health()["ready"]) == ["pbx1", "pbx2"]


def test_a_record_landing_in_a_closed_day_changes_the_report_as_the_raw_rows_do(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/store.db", SH)
    at = datetime(2026, 11, 10, 2, 0, tzinfo=timezone.utc)
    store.write([make_call("1.1", joined_at=at, outcome="answered", wait_s=3.0),
                 make_call("1.2", joined_at=at, outcome="abandoned", agent=None, talk_s=None)],
                today=date(2026, 11, 10))
    first, last = date(2026, 11, 1), date(2026, 11, 30)
    before = assert_same_reports(store.url, SH, first, last)
    # still the open day: a retried batch, and newer state of a key, move the running sums, never add twice
    store.write([make_call("1.1", joined_at=at, outcome="answered", wait_s=3.0),
                 make_call("1.2", joined_at=at, outcome="abandoned", agent=None, talk_s=None, wait_s=50.0)])
    assert assert_same_reports(store.url, SH, first, last) == before
    # the next week: a late call of the 10th, and queue_log saying the abandoned one was answered
    store.write([make_call("1.3", joined_at=at + timedelta(hours=1), outcome="timeout", agent=None, talk_s=None),
                 make_call("1.2", joined_at=at, outcome="answered", wait_s=30.0, source="queue_log")],
                today=date(2026, 11, 17))
    after = assert_same_reports(store.url, SH, first, last)
    assert (before["total"]["offered"], after["total"]["offered"]) == (2, 3)
    assert (before["total"]["answered"], after["total"]["answered"]) == (1, 1)  # queue_log never beats full AMI
    store.write([make_call("1.4", joined_at=at, outcome="unknown", incomplete=True, agent=None)],
                today=date(2026, 11, 17))
    store.write([make_call("1.4", joined_at=at, outcome="answered", source="queue_log")], today=date(2026, 11, 20))
    after = assert_same_reports(store.url, SH, first, last)
    assert (after["total"]["offered"], after["total"]["answered"]) == (4, 2)
    assert store.keeper.recomputed >= 3


def test_an_existing_store_gets_its_rollups_before_the_first_write_and_again_when_the_settings_change(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    upgrade(url)
    plain = Store(url, SH)

    async def without_hook() -> None:  # rows an older daemon wrote
        engine = async_engine(url)
        writer = StoreWriter(engine, kinds=record_kinds())
        for day in range(1, 6):
            writer.put(make_call(f"2.{day}", joined_at=datetime(2026, 11, day, 4, tzinfo=timezone.utc)))
        await writer.flush()
        await engine.dispose()

    asyncio.run(without_hook())
    engine = sync_engine(url)
    assert not monthly.rollups_usable(engine.connect(), SH, SETTINGS, TWO, None)  # raw rows meanwhile
    plain.write([make_call("2.9", joined_at=datetime(2026, 11, 9, 4, tzinfo=timezone.utc))], today=date(2026, 11, 9))
    assert plain.keeper.rebuilt == ["pbx1"]
    with engine.connect() as conn:
        assert conn.execute(select(func.sum(call_rollups.c.offered))).scalar_one() == 6
        assert monthly.rollups_usable(conn, SH, SETTINGS, TWO, None)
        assert not monthly.rollups_usable(conn, NY, SETTINGS, TWO, None)  # another zone reads raw rows
    engine.dispose()
    assert_same_reports(url, SH, date(2026, 11, 1), date(2026, 11, 30))
    moved = Store(url, NY)  # the site's zone changed: rebuilt in the new zone at the first write
    moved.write([make_call("2.10", joined_at=datetime(2026, 11, 10, 4, tzinfo=timezone.utc))],
                today=date(2026, 11, 10))
    assert moved.keeper.rebuilt == ["pbx1"]
    assert_same_reports(url, NY, date(2026, 11, 1), date(2026, 11, 30))


@pytest.fixture(scope="module")
def pg_url():
    if not postgres.available():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("PostgreSQL server not installed in CI", pytrace=False)
        pytest.skip("PostgreSQL not installed (or not root): apt-get install postgresql")
    server = postgres.PostgresServer().start()
    yield server.url
    server.stop()


@pytest.mark.postgres
def test_postgresql_keeps_the_same_rollups_and_reports_as_sqlite(tmp_path, pg_url):
    lite = build_month(f"sqlite:///{tmp_path}/store.db", NY)
    pg = build_month(pg_url, NY)
    first, last = date(2026, 11, 1), date(2026, 11, 30)
    assert assert_same_reports(pg.url, NY, first, last) == assert_same_reports(lite.url, NY, first, last)


def test_the_rollups_migration_makes_the_tables_the_code_writes(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from pbx_bridge.rooms import tables

    url = f"sqlite:///{tmp_path}/store.db"
    upgrade(url)
    engine = sync_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), tables())
    engine.dispose()
    assert [d for d in diff if "rollup" in repr(d)] == []


def test_a_batch_whose_rollups_fail_is_not_written_and_is_retried_whole(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    store = Store(url, SH)
    failing = {"left": 1}

    async def fail_once(conn, table, rows, write) -> None:
        await write()
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("rollups down")

    async def run() -> None:
        engine = async_engine(url)
        writer = StoreWriter(engine, kinds=record_kinds())
        writer.add_batch_hook(store.keeper.hook)
        writer.add_batch_hook(fail_once)
        writer.put(make_call("3.1", joined_at=datetime(2026, 11, 1, 4, tzinfo=timezone.utc)))
        assert not await writer._write_next()  # the batch failed: neither the row nor its sums
        assert writer.pending and writer.failures == 1
        async with engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(call_rollups))).scalar_one() == 0
        assert await writer._write_next()
        await engine.dispose()

    asyncio.run(run())
    assert_same_reports(url, SH, date(2026, 11, 1), date(2026, 11, 30))
    engine = sync_engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(func.sum(call_rollups.c.offered))).scalar_one() == 1
    engine.dispose()


def test_the_daemons_intraday_report_reads_the_rollups_and_gives_the_raw_figures(tmp_path):
    store = build_month(f"sqlite:///{tmp_path}/store.db", SH)

    async def both(day, until):
        engine = async_engine(store.url)
        try:
            return [await intraday.report_async(engine, day, SH, SETTINGS, until, source=s) for s in ("rollups", "raw")]
        finally:
            await engine.dispose()

    for day in (date(2026, 11, 3), date(2026, 11, 28)):
        for until in (time(11, 30), time(16, 30), time(9, 5)):
            rolled, raw = asyncio.run(both(day, until))
            assert rolled == raw and raw["total"]["offered"]


def test_rebuild_rollups_from_the_command_line_fills_an_existing_store(tmp_path):
    from click.testing import CliRunner

    from pbx_bridge.cli import cli

    url = f"sqlite:///{tmp_path}/store.db"
    upgrade(url)

    async def without_hook() -> None:
        engine = async_engine(url)
        writer = StoreWriter(engine, kinds=record_kinds())
        for i in range(4):
            writer.put(make_call(f"4.{i}", joined_at=datetime(2026, 11, 2 + i, 4, tzinfo=timezone.utc)))
        await writer.flush()
        await engine.dispose()

    asyncio.run(without_hook())
    config = tmp_path / "config.yaml"
    config.write_text(f"ami:\n  host: h\nstore:\n  url: {url}\n")
    result = CliRunner().invoke(cli, ["report", "rebuild-rollups", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "pbx1:" in result.output
    engine = sync_engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(func.sum(call_rollups.c.offered))).scalar_one() == 4
        assert monthly.rollups_usable(conn, SH, ReportsConfig(), TWO, "pbx1")
    engine.dispose()
