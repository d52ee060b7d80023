"""A database outage loses nothing: bounded memory, then the spool, written in order when it is back."""

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from pbx_bridge.calls.outbound import OutboundRecord
from pbx_bridge.config import ConfigError, load_config
from pbx_bridge.store.engine import async_engine, sync_engine
from pbx_bridge.rooms import record_kinds, upgrade
from pbx_bridge.calls.tables import calls, offers
from pbx_bridge.store.spool import Spool, SpoolError, decode, encode
from pbx_bridge.store.writer import StoreWriter
from pbx_bridge.voicemail.records import CallbackRecord, ListeningRecord, VoicemailMessageRecord
from tests.conftest import make_call, make_offer

KINDS = record_kinds()


class Outage:
    """The real engine, except while `down`: then every transaction fails as with a stopped server."""

    def __init__(self, engine):
        self.engine = engine
        self.dialect = engine.dialect
        self.down = False
        self.up_for = None  # this many more transactions succeed, then the database goes down

    def begin(self):
        if self.up_for is not None:
            if self.up_for == 0:
                self.down, self.up_for = True, None
            else:
                self.up_for -= 1
        if self.down:
            raise OperationalError("BEGIN", {}, ConnectionRefusedError("connection refused"))
        return self.engine.begin()


@pytest.fixture
def store(sqlite_url):
    upgrade(sqlite_url)
    return sqlite_url


@pytest.fixture
async def outage(store):
    engine = async_engine(store)
    yield Outage(engine)
    await engine.dispose()


def outcomes(url):
    engine = sync_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(calls.c.uniqueid, calls.c.outcome)).all()
    engine.dispose()
    return dict(rows)


def versions(n, rounds, start=0):
    """n keys, each put `rounds` times; the last round's outcome (answered) must be what stays."""
    states = ["unknown", "abandoned", "timeout", "answered"][-rounds:]
    return [make_call(f"v.{start + i}", outcome=state, incomplete=state == "unknown")
            for state in states for i in range(n)]


def segment_files(path):
    return sorted(p.name for p in path.glob("*.jsonl"))


def events(logs, name):
    return [entry for entry in logs if entry["event"] == name]


def test_every_record_type_round_trips_through_the_spool():
    shanghai = timezone(timedelta(hours=8))
    at = datetime(2026, 11, 23, 3, 0, 0, 123456, tzinfo=timezone.utc)
    records = [
        make_call(caller_name="张三丰\n\"quoted\"", wait_s=0.1 + 0.2, position=None, incomplete=True),
        make_offer(offered_at=at.astimezone(shanghai), rings=None),
        OutboundRecord("c.1", "pbx1", "Agent 201", "PJSIP/agent201", "13800138000", at, "ANSWER", True),
        ListeningRecord("acme/2026-11-23T11:00", "pbx1", "acme", at, "taken", "201", 2, at + timedelta(seconds=3), 4),
        VoicemailMessageRecord("m.1", "pbx1", "acme", "1001", "13800138000", "李四", at, "handled", None, at, "201"),
        CallbackRecord("m.1/1", "pbx1", "m.1", "acme", None, "13800138000", at, "NOANSWER", False),
    ]
    for record in records:
        when, back = decode(KINDS, encode(KINDS, 1700000000.123, record))
        assert (when, back) == (1700000000.123, record)
        assert type(back) is type(record)
    offer = decode(KINDS, encode(KINDS, 0, records[1]))[1]
    assert offer.offered_at.utcoffset() == timedelta(hours=8)
    assert decode(KINDS, encode(KINDS, 0, records[0]))[1].joined_at.tzinfo is timezone.utc


# Lines as the release before the record registry wrote them (store/kinds.py): a spool left by it
# must replay, so every record keeps its name (its table's) and its fields.
OLD_LINES = {
    "CallRecord": '{"k":"calls","at":1.0,"r":{"uniqueid":"t.9","linkedid":"t.9","pbx":"pbx1","queue":"support",'
                  '"caller_num":"13800138000","caller_name":"张三丰","joined_at":{"$dt":"2026-11-23T03:00:00.500000+00:00"},'
                  '"position":1,"outcome":"answered","wait_s":4.2,"agent":"201","interface":"Local/201@agents/n",'
                  '"ring_s":2.0,"talk_s":30.0,"ended_by":"caller","hangup_cause":"16","seq":0,"incomplete":false,'
                  '"source":"ami"}}',
    "OfferRecord": '{"k":"offers","at":1.0,"r":{"uniqueid":"1700000000.1","offer_id":"1700000000.2","pbx":"pbx1",'
                   '"queue":"support","agent":"201","interface":"Local/201@agents/n",'
                   '"offered_at":{"$dt":"2026-11-23T03:00:02+00:00"},"ring_s":2.0,"rings":1,"result":"answered",'
                   '"source":"ami"}}',
    "OutboundRecord": '{"k":"outbound_calls","at":1.0,"r":{"call_id":"c.1","pbx":"pbx1","agent":"Agent 201",'
                      '"endpoint":"PJSIP/agent201","number":"13800138000",'
                      '"started_at":{"$dt":"2026-11-23T03:00:00+00:00"},"dial_status":"ANSWER","answered":true}}',
    "ListeningRecord": '{"k":"vm_listenings","at":1.0,"r":{"listening_id":"acme/2026-11-23T11:00","pbx":"pbx1",'
                       '"company":"acme","scheduled_at":{"$dt":"2026-11-23T03:00:00+00:00"},"status":"taken",'
                       '"agent":"201","attempts":2,"started_at":{"$dt":"2026-11-23T03:00:00+00:00"},'
                       '"messages_played":4}}',
    "VoicemailMessageRecord": '{"k":"vm_messages","at":1.0,"r":{"msg_id":"m.1","pbx":"pbx1","company":"acme",'
                              '"mailbox":"1001","caller_num":"13800138000","caller_name":"Li",'
                              '"left_at":{"$dt":"2026-11-23T03:00:00+00:00"},"status":"handled",'
                              '"first_callback_at":null,"handled_at":{"$dt":"2026-11-23T03:00:00+00:00"},'
                              '"handled_by":"201"}}',
    "CallbackRecord": '{"k":"vm_callbacks","at":1.0,"r":{"callback_id":"m.1/1","pbx":"pbx1","msg_id":"m.1",'
                      '"company":"acme","agent":null,"number":"13800138000",'
                      '"started_at":{"$dt":"2026-11-23T03:00:00+00:00"},"dial_status":"NOANSWER","answered":false}}',
    "WarningRecord": '{"k":"nuisance_warnings","at":1.0,"r":{"pbx":"pbx1","call_uniqueid":"u.1","seq":1,'
                     '"number":"13800138000","warned_at":{"$dt":"2026-11-23T03:00:00+00:00"},"agent":"201",'
                     '"endpoint":"PJSIP/agent201","agent_channel":"PJSIP/agent201-1","caller_channel":"PJSIP/trunk-2"}}',
}


@pytest.mark.parametrize("type_name", sorted(OLD_LINES))
def test_a_spool_line_written_before_the_record_registry_replays(type_name):
    line = OLD_LINES[type_name].encode("utf-8") + b"\n"
    at, record = decode(KINDS, line)
    assert (at, type(record).__name__) == (1.0, type_name)
    assert encode(KINDS, at, record) == line  # the same name and fields are written today


async def test_records_beyond_the_memory_bound_go_to_the_spool(outage, tmp_path):
    outage.down = True
    writer = StoreWriter(outage, batch_size=4, max_pending=5, spool_dir=tmp_path / "spool", kinds=KINDS)
    with capture_logs() as logs:
        for record in versions(12, 1):
            writer.put(record)
        await writer.flush()  # fails: memory is spilled, in front of what was spooled
    assert len(events(logs, "store_spooling_started")) == 1
    assert writer.health()["pending"] == 0 and writer.health()["spooled"] == 12
    files = segment_files(tmp_path / "spool")
    assert len(files) >= 2, "memory went to its own head segment, the rest to the tail"
    lines = [json.loads(line) for name in files for line in (tmp_path / "spool" / name).read_text("utf-8").splitlines()]
    assert [line["r"]["uniqueid"] for line in lines] == [f"v.{i}" for i in range(12)]


async def test_memory_holds_max_pending_and_no_more_during_an_outage(outage, tmp_path):
    outage.down = True
    writer = StoreWriter(outage, batch_size=2, flush_interval=0.01, max_pending=5, spool_dir=tmp_path / "spool", kinds=KINDS)
    task = asyncio.create_task(writer.run())
    for record in versions(40, 1):
        writer.put(record)
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)
    health = writer.health()
    assert health["pending"] == 5 and health["spooled"] == 35
    assert health["spool_bytes"] > 0, "the tail reached the disk without a shutdown"
    assert writer.failures >= 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    writer.close()


async def test_spool_is_written_in_order_when_the_database_returns(outage, store, tmp_path):
    outage.down = True
    writer = StoreWriter(outage, batch_size=3, flush_interval=0.01, max_pending=4, spool_dir=tmp_path / "spool", kinds=KINDS)
    writer.backoff.minimum = writer.backoff.maximum = 0.01
    task = asyncio.create_task(writer.run())
    with capture_logs() as logs:
        # four versions of ten keys: the first ones in memory, the later ones spread over segments
        for record in versions(10, 4):
            writer.put(record)
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        assert writer.health()["spooled"] == 36
        outage.down = False
        for _ in range(3):  # records keep coming while the spool drains: they go behind it
            await asyncio.sleep(0.01)
            for record in versions(2, 1, start=100):
                writer.put(record)
        for _ in range(500):
            if not writer.health()["pending"] and not writer.health()["spooled"]:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    writer.close()
    assert outcomes(store) == {**{f"v.{i}": "answered" for i in range(10)}, "v.100": "answered", "v.101": "answered"}
    assert segment_files(tmp_path / "spool") == [], "every segment deleted once committed"
    assert len(events(logs, "store_spooling_started")) == 1
    drained = events(logs, "store_spool_drained")
    assert len(drained) == 1 and drained[0]["spooled"] >= 36


async def test_shutdown_during_an_outage_spools_what_is_in_memory(outage, store, tmp_path):
    outage.down = True
    writer = StoreWriter(outage, batch_size=3, flush_interval=0.01, max_pending=6, spool_dir=tmp_path / "spool", kinds=KINDS)
    task = asyncio.create_task(writer.run())
    first, second = versions(5, 2)[:5], versions(5, 2)[5:]
    for record in first + second:  # the old versions fill memory first, the new ones end in the spool
        writer.put(record)
    await asyncio.sleep(0.05)
    assert writer.health()["pending"] == 6
    with capture_logs() as logs:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    writer.close()
    assert events(logs, "store_spooled_at_shutdown")[0]["records"] == 6
    assert writer.health()["pending"] == 0 and writer.health()["spooled"] == 10

    outage.down = False
    with capture_logs() as logs:
        again = StoreWriter(outage, batch_size=3, max_pending=6, spool_dir=tmp_path / "spool", kinds=KINDS)
        await again.flush()
    again.close()
    assert outcomes(store) == {f"v.{i}": "answered" for i in range(5)}, "memory was older than the spool"
    assert events(logs, "store_spool_replayed")[0]["records"] == 10


async def test_shutdown_while_a_segment_is_replayed_keeps_its_order(outage, store, tmp_path):
    spool = Spool(tmp_path / "spool", KINDS, segment_records=4)
    for i in range(4):
        spool.append(1.0, make_call(f"v.{i}", outcome="timeout"))
    spool.sync()
    spool.close()
    writer = StoreWriter(outage, batch_size=2, flush_interval=0.01, max_pending=4, spool_dir=tmp_path / "spool", kinds=KINDS)
    writer.backoff.minimum = writer.backoff.maximum = 60
    outage.up_for = 1  # the first two of the segment are written, then the database goes
    task = asyncio.create_task(writer.run())
    while not writer.failures:
        await asyncio.sleep(0.01)
    assert writer.health()["pending"] == 2 and writer.health()["spooled"] == 0, "the segment is in memory"
    writer.put(make_call("v.2", outcome="answered"))  # newer than the segment: it must stay the winner
    writer.put(make_call("v.9", outcome="answered"))
    assert writer.health()["pending"] == 4
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    writer.close()
    assert segment_files(tmp_path / "spool") == ["0000001000000000.jsonl"], "rewritten in its own place"
    outage.down = False
    writer = StoreWriter(outage, batch_size=2, max_pending=4, spool_dir=tmp_path / "spool", kinds=KINDS)
    await writer.flush()
    writer.close()
    assert outcomes(store) == {"v.0": "timeout", "v.1": "timeout", "v.2": "answered", "v.3": "timeout",
                               "v.9": "answered"}
    assert segment_files(tmp_path / "spool") == []


async def test_spool_left_by_a_crash_is_replayed_at_start(outage, store, tmp_path):
    spool = Spool(tmp_path / "spool", KINDS, segment_records=3)
    for record in versions(4, 2) + [make_offer("v.0", "o.1")]:
        spool.append(1.0, record)
    spool.sync()
    spool.close()  # no flush, no shutdown: the process died
    with capture_logs() as logs:
        writer = StoreWriter(outage, batch_size=2, max_pending=5, spool_dir=tmp_path / "spool", kinds=KINDS)
        assert writer.health()["spooled"] == 9
        writer.put(make_call("v.0", outcome="abandoned"))  # this run's news: written after the old spool
        await writer.flush()
    writer.close()
    assert events(logs, "store_spool_found")[0]["records"] == 9
    replayed = events(logs, "store_spool_replayed")
    assert len(replayed) == 1 and replayed[0]["records"] == 9 and replayed[0]["segments"] == 3
    assert outcomes(store) == {"v.0": "abandoned", "v.1": "answered", "v.2": "answered", "v.3": "answered"}
    engine = sync_engine(store)
    with engine.connect() as conn:
        assert conn.execute(select(offers.c.offer_id)).scalars().all() == ["o.1"]
    engine.dispose()
    assert segment_files(tmp_path / "spool") == []


async def test_torn_last_spool_line_is_skipped(outage, store, tmp_path):
    directory = tmp_path / "spool"
    directory.mkdir()
    whole = encode(KINDS, 1.0, make_call("t.1")) + encode(KINDS, 1.0, make_call("t.2"))
    torn = encode(KINDS, 1.0, make_call("t.3"))[:40]
    (directory / "0000001000000000.jsonl").write_bytes(whole + torn)
    with capture_logs() as logs:
        writer = StoreWriter(outage, spool_dir=directory, kinds=KINDS)
        assert writer.health()["spooled"] == 2
        await writer.flush()
    writer.close()
    assert set(outcomes(store)) == {"t.1", "t.2"}
    warning = events(logs, "store_spool_torn_line_skipped")
    assert len(warning) == 1 and warning[0]["line"] == 3 and warning[0]["log_level"] == "warning"
    assert events(logs, "store_spool_replayed")[0]["skipped_lines"] == 1


async def test_health_tells_how_long_the_oldest_record_has_waited(outage, tmp_path):
    now = [1000.0]
    outage.down = True
    writer = StoreWriter(outage, max_pending=2, spool_dir=tmp_path / "spool", clock=lambda: now[0], kinds=KINDS)
    assert writer.health()["oldest_pending_age_s"] == 0.0
    writer.put(make_call("h.1"))
    now[0] += 30
    for i in range(3):
        writer.put(make_call(f"h.{i + 2}"))
    now[0] += 12.5
    health = writer.health()
    assert (health["pending"], health["spooled"], health["oldest_pending_age_s"]) == (2, 2, 42.5)
    writer.close()


def test_a_second_daemon_cannot_take_the_same_spool(tmp_path):
    first = Spool(tmp_path / "spool", KINDS)
    with pytest.raises(SpoolError, match="in use"):
        Spool(tmp_path / "spool", KINDS)
    first.close()
    Spool(tmp_path / "spool", KINDS).close()


@pytest.mark.parametrize("value", [0, -5, "many"])
def test_max_pending_must_be_a_positive_count(tmp_path, value):
    path = tmp_path / "config.yaml"
    path.write_text(f"ami:\n  host: h\nstore:\n  max_pending: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r":4: store.max_pending: "):
        load_config(str(path), env={})


async def test_a_stop_that_arrives_as_a_batch_fills_still_spools_it(outage, tmp_path):
    outage.down = True
    writer = StoreWriter(outage, batch_size=2, flush_interval=10, max_pending=10, spool_dir=tmp_path / "spool", kinds=KINDS)
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0.01)  # the writer waits for a batch
    writer.put(make_call("s.1"))
    writer.put(make_call("s.2"))  # the batch is full: the writer is woken...
    task.cancel()  # ...and stopped in the same instant (SIGTERM)
    done, _ = await asyncio.wait([task], timeout=5)
    assert done, "the cancellation was not swallowed"
    writer.close()
    assert writer.health()["spooled"] == 2


async def test_a_spool_disk_that_refuses_writes_keeps_the_records_in_memory(outage, store, tmp_path):
    outage.down = True
    writer = StoreWriter(outage, batch_size=2, max_pending=2, spool_dir=tmp_path / "spool", kinds=KINDS)
    (tmp_path / "spool").rename(tmp_path / "away")
    (tmp_path / "spool").write_text("not a directory")  # every append fails
    with capture_logs() as logs:
        for record in versions(6, 1):
            writer.put(record)
        assert not writer.spool.sync() and not writer.spool.sync()
        assert writer.health()["spooled"] == 4, "still held, in memory"
        (tmp_path / "spool").unlink()
        (tmp_path / "away").rename(tmp_path / "spool")
        outage.down = False
        await writer.flush()
    writer.close()
    assert len(events(logs, "store_spool_write_failed")) == 1, "logged once, not at every tick"
    assert len(events(logs, "store_spool_write_recovered")) == 1
    assert set(outcomes(store)) == {f"v.{i}" for i in range(6)}


class _NeverAnswers:
    async def __aenter__(self):
        await asyncio.sleep(3600)  # a server that took the connection and went silent

    async def __aexit__(self, *exc):
        return False


async def test_shutdown_with_a_database_that_never_answers_spools_memory_within_its_bound(outage, store, tmp_path,
                                                                                          monkeypatch):
    """The daemon's stop is bounded (life.STOP_LIMIT_S): the writer may not wait on the database for ever."""
    from pbx_bridge.store import writer as writer_module

    monkeypatch.setattr(writer_module, "SHUTDOWN_WRITE_S", 0.2)
    monkeypatch.setattr(outage, "begin", _NeverAnswers)
    writer = StoreWriter(outage, batch_size=3, flush_interval=0.01, max_pending=100, spool_dir=tmp_path / "spool", kinds=KINDS)
    task = asyncio.create_task(writer.run())
    for record in versions(5, 1):
        writer.put(record)
    await asyncio.sleep(0.05)  # the first write now hangs
    with capture_logs() as logs:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=10)
    assert task in done and task.cancelled()
    writer.close()
    assert events(logs, "store_spooled_at_shutdown")[0]["records"] == 5
    assert writer.health()["pending"] == 0 and writer.health()["spooled"] == 5
