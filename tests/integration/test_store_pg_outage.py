"""The writer on a real PostgreSQL that is stopped for 60 s mid-traffic: every record lands once,
in its latest version, after passing through memory and the spool."""

import asyncio
import itertools
import time

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from pbx_bridge.store.engine import async_engine, sync_engine
from pbx_bridge.rooms import record_kinds, upgrade
from pbx_bridge.calls.tables import calls, offers
from pbx_bridge.store.writer import StoreWriter
from tests.conftest import make_call, make_offer

pytestmark = pytest.mark.postgres

OUTAGE_S = 60
PBX = "pg-outage"
FINAL = ("answered", "abandoned", "timeout")


class Traffic:
    """Calls as the tracker hands them over: a first version, and the final one a little later."""

    def __init__(self, writer: StoreWriter) -> None:
        self.writer = writer
        self.ids = itertools.count()
        self.latest: dict[str, str] = {}
        self.offers: set[str] = set()
        self.put = 0

    def _put(self, record) -> None:
        self.writer.put(record)
        self.put += 1

    async def run(self, seconds: float, per_second: int = 20) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            i = next(self.ids)
            uid = f"{1700000000 + i}.{i}"
            self._put(make_call(uid, pbx=PBX, outcome="unknown", incomplete=True))
            self.latest[uid] = "unknown"
            if i >= 5:  # the call of five steps ago ends: its final version must win over the first
                done = f"{1700000000 + i - 5}.{i - 5}"
                self._put(make_call(done, pbx=PBX, outcome=FINAL[i % 3]))
                self.latest[done] = FINAL[i % 3]
                self._put(make_offer(done, f"{done}-o", pbx=PBX))
                self.offers.add(done)
            await asyncio.sleep(1 / per_second)


def stored(url):
    engine = sync_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(calls.c.uniqueid, calls.c.outcome).where(calls.c.pbx == PBX)).all()
        offered = conn.execute(select(offers.c.uniqueid).where(offers.c.pbx == PBX)).scalars().all()
    engine.dispose()
    return rows, offered


async def test_a_60_s_postgresql_outage_loses_nothing_and_writes_nothing_twice(pg_server, tmp_path):
    await asyncio.to_thread(upgrade, pg_server.url)
    engine = async_engine(pg_server.url)
    writer = StoreWriter(engine, batch_size=20, flush_interval=0.1, max_pending=50, spool_dir=tmp_path / "spool", kinds=record_kinds())
    task = asyncio.create_task(writer.run())
    traffic = Traffic(writer)
    try:
        with capture_logs() as logs:
            await traffic.run(3)
            await asyncio.to_thread(pg_server.pause)
            stopped = time.monotonic()
            await traffic.run(OUTAGE_S)
            during = writer.health()
            await asyncio.to_thread(pg_server.resume)
            outage_s = time.monotonic() - stopped
            await traffic.run(3)
            deadline = time.monotonic() + 120
            while writer.health()["pending"] or writer.health()["spooled"]:
                assert time.monotonic() < deadline, writer.health()
                await asyncio.sleep(0.2)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        writer.close()
        await engine.dispose()

    assert outage_s >= OUTAGE_S
    assert during["pending"] == 50 and during["spooled"] > 1000, during
    assert during["oldest_pending_age_s"] >= OUTAGE_S - 5
    rows, offered = await asyncio.to_thread(stored, pg_server.url)
    uniqueids = [uid for uid, _ in rows]
    assert len(uniqueids) == len(set(uniqueids)) == len(traffic.latest)
    assert dict(rows) == traffic.latest, "every call in its latest version"
    assert sorted(offered) == sorted(traffic.offers)
    names = [entry["event"] for entry in logs]
    assert names.count("store_spooling_started") == 1 and names.count("store_spool_drained") == 1
    assert not list((tmp_path / "spool").glob("*.jsonl"))
    print(f"put {traffic.put} records, {during['spooled']} spooled at the end of a {outage_s:.0f} s outage")
