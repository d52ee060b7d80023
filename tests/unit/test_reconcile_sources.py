"""Reading queue_log from where we stopped: rotation, truncation, partial and malformed lines, the table."""

import asyncio
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, insert

from pbx_bridge.reconcile.file_source import QueueLogFile
from pbx_bridge.reconcile.lines import from_row
from pbx_bridge.reconcile.table_source import QueueLogTable, source_engine

TRANSCRIPTS = Path(__file__).parent.parent / "transcripts"
MIXED = (TRANSCRIPTS / "mixed.queue_log").read_text().splitlines(keepends=True)


async def read_all(source, start):
    lines, malformed, end = [], 0, start
    async for chunk in source.read(start):
        lines.extend(chunk.lines)
        malformed += chunk.malformed
        end = chunk.end
    return lines, malformed, end


def events(lines):
    return [(line.callid, line.event) for line in lines]


@pytest.fixture
def log_dir(tmp_path):
    directory = tmp_path / "asterisk"
    directory.mkdir()
    return directory


def source(log_dir, chunk_size=1 << 20):
    return QueueLogFile(log_dir / "queue_log", log_dir.parent / "state" / "queue_log.state", chunk_size)


async def test_reading_goes_on_from_the_saved_position(log_dir):
    path = log_dir / "queue_log"
    path.write_text("".join(MIXED[:10]))
    first = source(log_dir)
    lines, _, end = await read_all(first, first.load_state())
    assert len(lines) == 10
    first.save_state(end)
    with open(path, "a") as handle:
        handle.write("".join(MIXED[10:]))
    again = source(log_dir)  # a new life: from the saved state only
    lines, _, _ = await read_all(again, again.load_state())
    assert events(lines) == events([line for line in map(_parse, MIXED[10:])])


def _parse(text):
    from pbx_bridge.reconcile.lines import parse_line

    return parse_line(text)


async def test_partial_last_line_waits_for_its_end(log_dir):
    path = log_dir / "queue_log"
    path.write_text(MIXED[0] + MIXED[1][:12])  # Asterisk is in the middle of writing line 2
    reader = source(log_dir)
    lines, malformed, end = await read_all(reader, None)
    assert (len(lines), malformed, end.offset) == (1, 0, len(MIXED[0]))
    with open(path, "a") as handle:
        handle.write(MIXED[1][12:])
    lines, malformed, _ = await read_all(reader, end)
    assert events(lines) == [events([_parse(MIXED[1])])[0]] and malformed == 0


async def test_rotated_queue_log_is_read_to_its_end_before_the_new_file(log_dir):
    path = log_dir / "queue_log"
    path.write_text("".join(MIXED[:5]))
    reader = source(log_dir)
    _, _, end = await read_all(reader, None)
    reader.save_state(end)
    with open(path, "a") as handle:  # more lines, then Asterisk's `logger rotate` (sequential)
        handle.write("".join(MIXED[5:12]))
    os.rename(path, log_dir / "queue_log.0")
    path.write_text("".join(MIXED[12:]))
    (log_dir / "queue_log.1.gz").write_bytes(b"\x1f\x8b not ours")
    restarted = source(log_dir)
    lines, malformed, end = await read_all(restarted, restarted.load_state())
    assert events(lines) == events(map(_parse, MIXED[5:])) and malformed == 0
    assert end.inode == path.stat().st_ino


async def test_two_rotations_while_down_are_read_oldest_first(log_dir):
    path = log_dir / "queue_log"
    path.write_text("".join(MIXED[:4]))
    reader = source(log_dir)
    _, _, end = await read_all(reader, None)
    reader.save_state(end)
    with open(path, "a") as handle:
        handle.write("".join(MIXED[4:8]))
    os.rename(path, log_dir / "queue_log-20261122")  # logrotate dateext, then again the next day
    os.utime(log_dir / "queue_log-20261122", ns=(1, 1_000_000_000))
    path.write_text("".join(MIXED[8:16]))
    os.rename(path, log_dir / "queue_log-20261123")
    os.utime(log_dir / "queue_log-20261123", ns=(1, 2_000_000_000))
    path.write_text("".join(MIXED[16:]))
    lines, _, _ = await read_all(source(log_dir), source(log_dir).load_state())
    assert events(lines) == events(map(_parse, MIXED[4:]))


async def test_truncated_queue_log_is_read_again_from_its_start(log_dir):
    path = log_dir / "queue_log"
    path.write_text("".join(MIXED[:20]))
    reader = source(log_dir)
    _, _, end = await read_all(reader, None)
    reader.save_state(end)
    with open(path, "r+") as handle:  # emptied in place (as the lab's clear_queue_log does)
        handle.truncate(0)
    with open(path, "a") as handle:
        handle.write("".join(MIXED[20:25]))
    lines, _, _ = await read_all(source(log_dir), source(log_dir).load_state())
    assert events(lines) == events(map(_parse, MIXED[20:25]))


async def test_copytruncate_copy_is_finished_before_the_file_from_its_start(log_dir):
    path = log_dir / "queue_log"
    path.write_text("".join(MIXED[:10]))
    reader = source(log_dir)
    _, _, end = await read_all(reader, None)
    reader.save_state(end)
    with open(path, "a") as handle:
        handle.write("".join(MIXED[10:15]))
    (log_dir / "queue_log.1").write_bytes(path.read_bytes())  # logrotate copytruncate
    with open(path, "r+") as handle:
        handle.truncate(0)
    with open(path, "a") as handle:
        handle.write("".join(MIXED[15:]))
    lines, _, _ = await read_all(source(log_dir), source(log_dir).load_state())
    assert events(lines) == events(map(_parse, MIXED[10:]))


async def test_a_file_rewritten_in_place_is_not_taken_for_ours(log_dir):
    """Same inode, longer than our offset, other bytes (an inode reused, a file replaced by an editor)."""
    path = log_dir / "queue_log"
    path.write_text("".join(MIXED[:10]))
    reader = source(log_dir)
    _, _, end = await read_all(reader, None)
    reader.save_state(end)
    with open(path, "r+") as handle:
        handle.truncate(0)
        handle.write("".join(MIXED[20:]))
    lines, _, _ = await read_all(source(log_dir), source(log_dir).load_state())
    assert events(lines) == events(map(_parse, MIXED[20:]))


async def test_malformed_lines_are_skipped_and_counted(log_dir):
    junk = ["garbage\n", "1795460101|only|three\n", "\n", "notatime|1.1|q|NONE|ENTERQUEUE||1|1\n",
            "\xff\xfe|bad|bytes\n"]
    (log_dir / "queue_log").write_bytes("".join(MIXED[:3] + junk + MIXED[3:6]).encode("utf-8", "surrogateescape"))
    lines, malformed, _ = await read_all(source(log_dir), None)
    assert (len(lines), malformed) == (6, 4)


async def test_a_huge_file_is_read_in_chunks_that_yield_to_the_loop(log_dir):
    (log_dir / "queue_log").write_text("".join(MIXED) * 50)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    chunks = [chunk async for chunk in source(log_dir, chunk_size=4096).read(None)]
    task.cancel()
    assert sum(len(c.lines) for c in chunks) == len(MIXED) * 50
    assert len(chunks) > 10 and ticks >= len(chunks) - 1
    assert all(c.end.offset <= (log_dir / "queue_log").stat().st_size for c in chunks)


async def test_a_missing_queue_log_raises_for_the_reconciler_to_report(log_dir):
    with pytest.raises(FileNotFoundError):
        await read_all(source(log_dir), None)


# --- the realtime table ------------------------------------------------------------------------
def asterisk_table(metadata):
    return Table("queue_log", metadata, Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
                 Column("time", DateTime), Column("callid", String(80)), Column("queuename", String(256)),
                 Column("agent", String(80)), Column("event", String(32)),
                 *(Column(f"data{i}", String(100)) for i in range(1, 6)))


async def fill(url, lines, zone):
    engine = source_engine(url)
    metadata = MetaData()
    table = asterisk_table(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        for text in lines:
            epoch, callid, queue, agent, event, *data = text.rstrip("\n").split("|")
            local = datetime.fromtimestamp(int(epoch), timezone.utc).astimezone(zone).replace(tzinfo=None)
            row = {"time": local, "callid": callid, "queuename": queue, "agent": agent, "event": event}
            row.update({f"data{i + 1}": value for i, value in enumerate(data[:5])})
            await conn.execute(insert(table), row)
    await engine.dispose()


async def test_realtime_table_rows_after_the_last_id_are_read(tmp_path, monkeypatch):
    monkeypatch.setattr("pbx_bridge.reconcile.table_source.FIRST_START_S", 10 * 365 * 86400)
    url = f"sqlite:///{tmp_path}/asterisk.db"
    zone = ZoneInfo("Asia/Shanghai")
    await fill(url, MIXED[:30], zone)
    reader = QueueLogTable(url, "queue_log", tmp_path / "queue_log_table.state", zone, batch_rows=7)
    lines, _, end = await read_all(reader, reader.load_state())
    assert events(lines) == events(map(_parse, MIXED[:30]))
    assert [line.time for line in lines] == [_parse(text).time for text in MIXED[:30]]
    assert lines[0].data == _parse(MIXED[0]).data  # ('', callerid, position): the empty url kept
    reader.save_state(end)
    await fill(url, MIXED[30:], zone)
    again = QueueLogTable(url, "queue_log", tmp_path / "queue_log_table.state", zone)
    lines, _, _ = await read_all(again, again.load_state())
    assert events(lines) == events(map(_parse, MIXED[30:]))
    assert json.loads((tmp_path / "queue_log_table.state").read_text()) == {"table": "queue_log", "last_id": 30}
    await reader.close()
    await again.close()


async def test_realtime_first_start_reads_only_the_last_day(tmp_path):
    url = f"sqlite:///{tmp_path}/asterisk.db"
    now = datetime.now(timezone.utc).timestamp()
    old = [f"{int(now) - 3 * 86400}|1.1|support|NONE|ENTERQUEUE||138|1\n"]
    recent = [f"{int(now) - 60}|2.1|support|NONE|ENTERQUEUE||139|1\n"]
    await fill(url, old + recent, ZoneInfo("UTC"))
    reader = QueueLogTable(url, "queue_log", tmp_path / "t.state", ZoneInfo("UTC"))
    lines, _, _ = await read_all(reader, None)
    assert [line.callid for line in lines] == ["2.1"]
    await reader.close()


def test_a_table_row_with_no_time_or_event_is_malformed():
    zone = ZoneInfo("UTC")
    assert from_row({"time": None, "event": "ENTERQUEUE"}, zone) is None
    assert from_row({"time": "2026-11-23 10:00:00.123456", "event": ""}, zone) is None
    line = from_row({"time": "2026-11-23 10:00:00.500000", "event": "ABANDON", "callid": "1.1",
                     "data1": "1", "data2": "1", "data3": "7", "data4": None, "data5": ""}, zone)
    assert (line.time, line.data) == (datetime(2026, 11, 23, 10, 0, 0, 500000, timezone.utc).timestamp(),
                                      ("1", "1", "7"))
