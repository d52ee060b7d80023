"""Group commit: a record is written as soon as the previous commit is done, not on a timer; what
arrives during a commit goes into the next batch, up to the batch size."""

import asyncio
from collections import Counter
from contextlib import asynccontextmanager

import pytest

from pbx_bridge.rooms import record_kinds, upgrade
from pbx_bridge.store.engine import async_engine
from pbx_bridge.store.writer import StoreWriter, batch_size_buckets
from tests.conftest import make_call

NEVER = 3600.0  # a timer that never fires within a test: any write seen was not the timer's
GUARD_S = 30  # against a hang only: the behaviour under test needs no waiting at all


class Gated:
    """The real engine, but every transaction waits at its start for `gate` (a slow commit)."""

    def __init__(self, engine):
        self.engine = engine
        self.dialect = engine.dialect
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = 0
        self.entered = asyncio.Event()

    @asynccontextmanager
    async def begin(self):
        async with self.engine.begin() as conn:
            self.started += 1
            self.entered.set()
            await self.gate.wait()
            yield conn


@pytest.fixture
async def gated(sqlite_url):
    upgrade(sqlite_url)
    engine = async_engine(sqlite_url)
    yield Gated(engine)
    await engine.dispose()


async def committed(writer, n):
    """Until `n` records are committed, without waking the writer (wait_written would)."""
    async with writer._progress:
        await asyncio.wait_for(writer._progress.wait_for(lambda: writer.written >= n), GUARD_S)


async def stopped(task):
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_single_record_is_written_at_once_without_waiting_for_the_flush_timer(gated):
    writer = StoreWriter(gated, batch_size=200, flush_interval=NEVER, kinds=record_kinds())
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0)  # the writer is idle, waiting for work
    writer.put(make_call("g.1"))
    await committed(writer, 1)
    assert writer.batches == 1 and writer.health()["pending"] == 0
    writer.put(make_call("g.2"))  # and the next one, alone, goes at once too
    await committed(writer, 2)
    assert writer.batch_sizes == Counter({1: 2})
    await stopped(task)


async def test_records_put_during_a_slow_commit_go_together_in_the_next_batch(gated):
    writer = StoreWriter(gated, batch_size=200, flush_interval=NEVER, kinds=record_kinds())
    task = asyncio.create_task(writer.run())
    gated.gate.clear()
    writer.put(make_call("b.0"))
    await asyncio.wait_for(gated.entered.wait(), GUARD_S)  # its commit has started and is held
    for i in range(1, 51):
        writer.put(make_call(f"b.{i}"))
    gated.gate.set()
    await committed(writer, 51)
    assert writer.batches == 2 and writer.batch_sizes == Counter({1: 1, 50: 1})
    assert writer.health()["batch_sizes"] == {"1": 1, "33-64": 1}
    await stopped(task)


async def test_a_burst_larger_than_the_batch_size_is_split_at_the_batch_size(gated):
    writer = StoreWriter(gated, batch_size=20, flush_interval=NEVER, kinds=record_kinds())
    task = asyncio.create_task(writer.run())
    gated.gate.clear()
    writer.put(make_call("m.0"))
    await asyncio.wait_for(gated.entered.wait(), GUARD_S)
    for i in range(1, 46):
        writer.put(make_call(f"m.{i}"))
    gated.gate.set()
    await committed(writer, 46)
    assert writer.batch_sizes == Counter({1: 1, 20: 2, 5: 1}) and writer.batches == 4
    await stopped(task)


async def test_a_sigterm_during_a_held_commit_still_writes_what_waits(gated):
    writer = StoreWriter(gated, batch_size=200, flush_interval=NEVER, kinds=record_kinds())
    task = asyncio.create_task(writer.run())
    gated.gate.clear()
    writer.put(make_call("t.0"))
    await asyncio.wait_for(gated.entered.wait(), GUARD_S)
    writer.put(make_call("t.1"))
    task.cancel()  # the held transaction is cancelled; the shutdown flush writes both
    gated.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert writer.written == 2 and writer.health()["pending"] == 0


def test_batch_sizes_are_reported_in_power_of_two_ranges():
    sizes = Counter({1: 5, 2: 1, 3: 2, 4: 1, 5: 1, 200: 3})
    assert batch_size_buckets(sizes) == {"1": 5, "2": 1, "3-4": 3, "5-8": 1, "129-256": 3}
