"""The better account of a call wins in the store, whichever source writes it first; entries keep their seq."""

from datetime import timedelta

from sqlalchemy import select

from pbx_bridge.calls.records import CallRecord
from pbx_bridge.calls.tracker import CallTracker
from pbx_bridge.ring import RingConfig
from pbx_bridge.store.engine import async_engine, sync_engine
from pbx_bridge.rooms import record_kinds, upgrade
from pbx_bridge.calls.tables import calls, offers
from pbx_bridge.store.writer import StoreWriter
from tests.conftest import make_call, make_offer

CN = RingConfig(cadence="cn", two_rings="end_of_second_ring")


async def write_all(url, records, batch_size=200):
    engine = async_engine(url)
    writer = StoreWriter(engine, batch_size=batch_size, kinds=record_kinds())
    for record in records:
        writer.put(record)
    await writer.flush()
    await engine.dispose()
    return writer


def stored(url, table=calls):
    engine = sync_engine(url)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(table).order_by(table.c.uniqueid)).mappings()]
    engine.dispose()
    return rows


def from_queue_log(**over):
    """A call as reconciliation builds it: whole seconds, no name, no linkedid of its own."""
    fields = dict(joined_at=make_call().joined_at.replace(microsecond=0), caller_name="", linkedid="1700000000.1",
                  interface=None, hangup_cause=None, wait_s=4.0, ring_s=2.0, talk_s=30.0, source="queue_log")
    fields.update(over)
    return make_call(**fields)


async def test_queue_log_record_of_a_call_the_store_lacks_is_inserted(sqlite_url):
    upgrade(sqlite_url)
    writer = await write_all(sqlite_url, [from_queue_log()])
    (row,) = stored(sqlite_url)
    assert (row["source"], row["outcome"], row["incomplete"]) == ("queue_log", "answered", False)
    assert writer.merged["queue_log_inserted"] == 1


async def test_complete_ami_record_is_never_overwritten(sqlite_url):
    upgrade(sqlite_url)
    ami = make_call()
    writer = await write_all(sqlite_url, [ami, from_queue_log(outcome="abandoned", agent=None)])
    (row,) = stored(sqlite_url)
    assert (row["source"], row["outcome"], row["caller_name"], row["wait_s"]) == ("ami", "answered", "张三丰", 4.2)
    assert writer.merged["queue_log_kept_better"] == 1


async def test_incomplete_ami_record_is_completed_with_queue_logs_truth_keeping_what_only_ami_knew(sqlite_url):
    upgrade(sqlite_url)
    lost = make_call(outcome="unknown", agent=None, interface=None, wait_s=None, talk_s=None, ended_by="system",
                     incomplete=True, linkedid="1700000000.0")
    writer = await write_all(sqlite_url, [lost])
    writer = await write_all(sqlite_url, [from_queue_log(outcome="abandoned", agent=None, wait_s=7.0,
                                                         ended_by="caller", talk_s=None)])
    (row,) = stored(sqlite_url)
    assert (row["outcome"], row["wait_s"], row["ended_by"], row["incomplete"], row["source"]) == (
        "abandoned", 7.0, "caller", False, "queue_log")
    assert (row["caller_name"], row["linkedid"], row["joined_at"].microsecond) == ("张三丰", "1700000000.0", 500000)
    assert writer.merged["queue_log_completed"] == 1


async def test_an_incomplete_ami_record_never_spoils_a_call_queue_log_completed(sqlite_url):
    upgrade(sqlite_url)
    await write_all(sqlite_url, [from_queue_log()])
    await write_all(sqlite_url, [make_call(outcome="unknown", incomplete=True)])
    (row,) = stored(sqlite_url)
    assert (row["outcome"], row["source"]) == ("answered", "queue_log")


async def test_a_complete_ami_record_replaces_the_queue_log_row_of_the_same_call(sqlite_url):
    upgrade(sqlite_url)
    await write_all(sqlite_url, [from_queue_log(), make_call()])  # one batch, queue_log first
    (row,) = stored(sqlite_url)
    assert (row["source"], row["caller_name"]) == ("ami", "张三丰")


async def test_reading_queue_log_again_adds_nothing(sqlite_url):
    upgrade(sqlite_url)
    await write_all(sqlite_url, [from_queue_log(), from_queue_log(uniqueid="1700000000.9")])
    writer = await write_all(sqlite_url, [from_queue_log(), from_queue_log(uniqueid="1700000000.9")])
    assert len(stored(sqlite_url)) == 2
    assert writer.merged["queue_log_updated"] == 2


async def test_a_second_entry_of_a_channel_never_overwrites_the_first_whatever_its_seq(sqlite_url):
    """A restarted tracker numbers a re-entering channel from 0 again; the store moves it along."""
    upgrade(sqlite_url)
    first = make_call()
    later = make_call(queue="sales", joined_at=first.joined_at + timedelta(minutes=3))
    await write_all(sqlite_url, [first])
    writer = await write_all(sqlite_url, [later])
    rows = stored(sqlite_url)
    assert sorted((r["seq"], r["queue"]) for r in rows) == [(0, "support"), (1, "sales")]
    assert writer.merged["seq_moved"] == 1
    await write_all(sqlite_url, [later, first])  # a replay updates each in place
    assert len(stored(sqlite_url)) == 2


async def test_a_queue_log_offer_ami_saw_is_not_added_again(sqlite_url):
    upgrade(sqlite_url)
    ami_miss = make_offer(offer_id="1700000000.3", result="no-answer")
    ql_miss = make_offer(offer_id="ql-1795459902-1", result="no-answer", source="queue_log",
                         offered_at=ami_miss.offered_at.replace(microsecond=0) + timedelta(seconds=1))
    ql_new = make_offer(offer_id="ql-1795459902-2", agent="202", result="no-answer", source="queue_log")
    writer = await write_all(sqlite_url, [ami_miss])
    writer = await write_all(sqlite_url, [ql_miss, ql_new])
    assert sorted(r["offer_id"] for r in stored(sqlite_url, offers)) == ["1700000000.3", "ql-1795459902-2"]
    assert (writer.merged["queue_log_offer_kept_better"], writer.merged["queue_log_offer_written"]) == (1, 1)


async def test_queue_logs_answer_replaces_the_guess_for_an_offer_ringing_when_ami_was_lost(sqlite_url):
    upgrade(sqlite_url)
    await write_all(sqlite_url, [make_offer(result="caller-left", ring_s=9.0)])
    await write_all(sqlite_url, [make_offer(result="answered", ring_s=2.0, source="queue_log")])
    (row,) = stored(sqlite_url, offers)
    assert (row["result"], row["ring_s"], row["source"]) == ("answered", 2.0, "queue_log")


async def test_the_writer_tells_a_reader_when_its_records_are_committed(sqlite_url):
    upgrade(sqlite_url)
    engine = async_engine(sqlite_url)
    writer = StoreWriter(engine, flush_interval=30, kinds=record_kinds())
    import asyncio

    task = asyncio.create_task(writer.run())
    writer.put(make_call())
    await asyncio.wait_for(writer.wait_written(), 5)  # woken at once, not after the 30 s interval
    assert len(stored(sqlite_url)) == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await engine.dispose()


def test_seq_keeps_counting_when_a_channel_re_enters_after_its_first_entry_was_closed():
    out = []
    tracker = CallTracker("pbx1", CN, out.append, stale_after=60)

    def event(name, ts, **headers):
        tracker.handle({"Event": name, "Uniqueid": "1.1", "Timestamp": str(ts), **headers})

    event("QueueCallerJoin", 100, Queue="support", Position="1")
    assert tracker.sweep(now=200) == 1  # its end never came: closed as incomplete
    event("QueueCallerJoin", 300, Queue="sales", Position="1")  # the channel is back in a queue
    event("QueueCallerAbandon", 302, Queue="sales")
    event("Hangup", 302, Cause="16")
    calls = [r for r in out if isinstance(r, CallRecord)]
    assert [(c.queue, c.seq, c.incomplete) for c in calls] == [("support", 0, True), ("sales", 1, False)]
