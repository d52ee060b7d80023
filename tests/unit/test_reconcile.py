"""The queue-log task: calls AMI did not deliver end up in the store once, and a restart loses nothing."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from pbx_bridge.ami.transcript import replay
from pbx_bridge.calls.records import CallRecord
from pbx_bridge.calls.tracker import WANTED_EVENTS, CallTracker
from pbx_bridge.reconcile.file_source import QueueLogFile
from pbx_bridge.reconcile.reconciler import Reconciler
from pbx_bridge.ring import RingConfig
from pbx_bridge.store.engine import async_engine, sync_engine
from pbx_bridge.rooms import record_kinds, upgrade
from pbx_bridge.calls.tables import calls
from pbx_bridge.store.writer import StoreWriter
from tests.support import queue_log

TRANSCRIPTS = Path(__file__).parent.parent / "transcripts"
MIXED_LOG = (TRANSCRIPTS / "mixed.queue_log").read_text()
ORACLE = queue_log.parse(MIXED_LOG.splitlines())
CN = RingConfig(cadence="cn", two_rings="end_of_second_ring")


class Store:
    """A SQLite store with its writer running, as in the daemon."""

    def __init__(self, url):
        upgrade(url)
        self.url = url
        self.engine = async_engine(url)
        self.writer = StoreWriter(self.engine, flush_interval=0.05, kinds=record_kinds())

    async def __aenter__(self):
        self.task = asyncio.create_task(self.writer.run())
        return self

    async def __aexit__(self, *exc):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.engine.dispose()

    def rows(self):
        engine = sync_engine(self.url)
        with engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(select(calls)).mappings()]
        engine.dispose()
        return rows


def reconciler(tmp_path, writer, path=None):
    source = QueueLogFile(path or tmp_path / "queue_log", tmp_path / "state" / "queue_log.state", chunk_size=512)
    return Reconciler([source], writer, "pbx1", CN, interval=3600, stale_after=4 * 3600)


def ami_records(keep):
    out = []
    replay((TRANSCRIPTS / "mixed.ami").read_bytes(), CallTracker("pbx1", CN, out.append).handle, WANTED_EVENTS)
    return [r for r in out if isinstance(r, CallRecord) and keep(r)]


def assert_every_call_once_as_queue_log_has_it(rows):
    assert sorted(r["uniqueid"] for r in rows) == sorted(ORACLE), "each call exactly once"
    for row in rows:
        truth = ORACLE[row["uniqueid"]]
        assert (row["outcome"], row["agent"], row["incomplete"]) == (truth.outcome, truth.agent, False)
        assert row["wait_s"] == pytest.approx(truth.wait_s, abs=1.0)


async def test_call_missing_from_the_store_is_filled_from_queue_log(tmp_path):
    (tmp_path / "queue_log").write_text(MIXED_LOG)
    seen_by_ami = sorted(ORACLE)[::2]
    async with Store(f"sqlite:///{tmp_path}/store.db") as store:
        for record in ami_records(lambda r: r.uniqueid in seen_by_ami):
            store.writer.put(record)
        await store.writer.wait_written()
        task = reconciler(tmp_path, store.writer)
        with capture_logs() as logs:
            assert await task.reconcile(task.runs[0])
        rows = store.rows()
    assert_every_call_once_as_queue_log_has_it(rows)
    assert {r["uniqueid"] for r in rows if r["source"] == "ami"} == set(seen_by_ami)
    assert all(r["caller_name"] for r in rows if r["source"] == "ami"), "AMI's rows untouched"
    (done,) = [line for line in logs if line["event"] == "queue_log_reconciled"]
    assert (done["calls_inserted"], done["already_recorded"], done["malformed"]) == (
        len(ORACLE) - len(seen_by_ami), len(seen_by_ami), 0)
    assert done["lines"] == len(MIXED_LOG.splitlines())


async def test_a_restart_reads_calls_still_open_again_from_their_enterqueue(tmp_path):
    """Killed after a pass that left calls open: the next life reads them whole, and adds none twice."""
    lines = MIXED_LOG.splitlines(keepends=True)
    path = tmp_path / "queue_log"
    path.write_text("".join(lines[:40]))
    async with Store(f"sqlite:///{tmp_path}/store.db") as store:
        first = reconciler(tmp_path, store.writer)
        await first.reconcile(first.runs[0])
        open_calls = set(first.runs[0].builder.open)
        assert open_calls, "the cut leaves calls in the queue"
        with open(path, "a") as handle:
            handle.write("".join(lines[40:]))
        second = reconciler(tmp_path, store.writer)  # a new life: only the saved position survives
        await second.reconcile(second.runs[0])
        rows = store.rows()
        assert open_calls <= {r["uniqueid"] for r in rows}
        assert store.writer.merged["queue_log_kept_better"] == 0
    assert_every_call_once_as_queue_log_has_it(rows)


async def test_the_position_is_saved_only_once_the_records_are_committed(tmp_path):
    (tmp_path / "queue_log").write_text(MIXED_LOG)
    url = f"sqlite:///{tmp_path}/late.db"
    engine = async_engine(url)
    writer = StoreWriter(engine, flush_interval=0.05, kinds=record_kinds())
    writer_task = asyncio.create_task(writer.run())
    task = reconciler(tmp_path, writer)
    state = tmp_path / "state" / "queue_log.state"
    pass_task = asyncio.create_task(task.reconcile(task.runs[0]))
    await asyncio.sleep(0.5)  # the store has no tables yet: every batch fails
    assert not pass_task.done() and not state.exists()
    upgrade(url)
    await asyncio.wait_for(pass_task, 30)
    assert state.exists()
    writer_task.cancel()
    await asyncio.gather(writer_task, return_exceptions=True)
    await engine.dispose()


async def test_a_missing_queue_log_is_reported_once_and_read_when_it_appears(tmp_path):
    async with Store(f"sqlite:///{tmp_path}/store.db") as store:
        task = reconciler(tmp_path, store.writer)
        run = task.runs[0]
        with capture_logs() as logs:
            assert not await task.reconcile(run)
            assert not await task.reconcile(run)
            (tmp_path / "queue_log").write_text(MIXED_LOG)
            assert await task.reconcile(run)
        assert [line["event"] for line in logs if line["event"].startswith("queue_log_")] == [
            "queue_log_unreadable", "queue_log_readable_again", "queue_log_reconciled"]
        assert task.health()["file"]["last_error"] is None
        assert len(store.rows()) == len(ORACLE)


async def test_a_wake_reads_at_once_instead_of_waiting_for_the_interval(tmp_path):
    path = tmp_path / "queue_log"
    lines = MIXED_LOG.splitlines(keepends=True)
    path.write_text("".join(lines[:8]))
    async with Store(f"sqlite:///{tmp_path}/store.db") as store:
        task = reconciler(tmp_path, store.writer)
        running = asyncio.create_task(task.run())
        for _ in range(100):
            await asyncio.sleep(0.02)
            if task.runs[0].passes:
                break
        with open(path, "a") as handle:
            handle.write("".join(lines[8:]))
        task.wake()
        for _ in range(200):
            await asyncio.sleep(0.02)
            if task.runs[0].passes >= 2:
                break
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        assert task.runs[0].passes >= 2 and task.health()["file"]["lines"] == len(lines)
        assert len(store.rows()) == len(ORACLE)
