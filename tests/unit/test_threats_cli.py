"""`pbx-bridge threats list|show|ack|note` over a real SQLite store; a CLI acknowledgement stops the
running daemon's escalation; the room's migration makes exactly the tables the code uses."""

import asyncio
import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from structlog.testing import capture_logs

from pbx_bridge.cli import cli
from pbx_bridge.rooms import record_kinds, tables, upgrade
from pbx_bridge.store.engine import async_engine, sync_engine
from pbx_bridge.store.writer import StoreWriter
from pbx_bridge.threats.model import AckRecord, ContactRecord, ThreatRecord
from tests.unit.test_threats import Ami, Live, threats_cfg
from pbx_bridge.threats.desk import ThreatDesk

AT = datetime(2026, 12, 1, 3, 4, 5, tzinfo=timezone.utc)


def threat(threat_id="1795471128.1", **over):
    fields = dict(pbx="pbx1", threat_id=threat_id, number="13911112222", caller_name="恐吓者", marked_at=AT,
                  endpoint="PJSIP/agent301", agent="王五", agent_channel="PJSIP/agent301-0000000a",
                  caller_channel="Local/s@pbx-bridge-inbound-00000007;2", queue="support", company="jingan",
                  recording="/var/spool/asterisk/monitor/pbx-bridge-evidence/threat-pbx1-1795471128.1.wav",
                  recording_source="threat", lead="组长王", manager="经理李")
    fields.update(over)
    return ThreatRecord(**fields)


async def write(url, records):
    upgrade(url)
    engine = async_engine(url)
    writer = StoreWriter(engine, kinds=record_kinds())
    for record in records:
        writer.put(record)
    await writer.flush()
    await engine.dispose()


@pytest.fixture
def config(tmp_path, sqlite_url):
    path = tmp_path / "config.yaml"
    path.write_text(f"ami: {{host: 127.0.0.1}}\nstore: {{url: '{sqlite_url}'}}\n")
    return str(path)


def run(config, *args):
    return CliRunner().invoke(cli, ["threats", *args, "-c", config], catch_exceptions=False)


async def test_list_and_show_in_every_format(config, sqlite_url):
    await write(sqlite_url, [threat(), ContactRecord("pbx1", "1795471128.1", 1, AT, "wallboard", "", "", "alert", "sent"),
                             ContactRecord("pbx1", "1795471128.1", 2, AT, "lead", "组长王", "PJSIP/lead401", "call",
                                           "answered")])
    table = run(config, "list")
    assert table.exit_code == 0 and "1795471128.1" in table.output and "2026-12-01 11:04:05" in table.output
    assert table.output.rstrip().endswith("1 threat")
    [row] = json.loads(run(config, "list", "--format", "json").output)
    assert (row["number"], row["caller_name"], row["endpoint"], row["agent"], row["company"], row["status"]) == (
        "13911112222", "恐吓者", "PJSIP/agent301", "王五", "jingan", "telling-lead")
    assert row["recording"].endswith("threat-pbx1-1795471128.1.wav")
    [as_csv] = list(csv.DictReader(io.StringIO(run(config, "list", "--format", "csv").output)))
    assert as_csv["threat_id"] == "1795471128.1" and as_csv["marked_at"] == "2026-12-01 11:04:05"
    shown = json.loads(run(config, "show", "1795471128.1", "--format", "json").output)
    assert [(c["role"], c["result"]) for c in shown["contacts"]] == [("wallboard", "sent"), ("lead", "answered")]
    text = run(config, "show", "1795471128.1").output
    assert "recording" in text and "组长王" in text and "notes: none" in text
    lines = list(csv.reader(io.StringIO(run(config, "show", "1795471128.1", "--format", "csv").output)))
    assert [line[2] for line in lines[1:]] == ["marked", "alert wallboard", "call lead"]


async def test_ack_and_note_are_kept_and_a_second_ack_is_refused(config, sqlite_url):
    await write(sqlite_url, [threat()])
    acked = run(config, "ack", "1795471128.1", "--by", "值班经理")
    assert acked.exit_code == 0 and acked.output == "1795471128.1: acknowledged by 值班经理\n"
    again = run(config, "ack", "1795471128.1", "--by", "someone")
    assert again.exit_code == 1 and "acknowledged already by 值班经理 (cli)" in again.output
    noted = run(config, "note", "1795471128.1", "caller named the agent; police called 11:20", "--by", "组长王")
    assert noted.exit_code == 0
    shown = json.loads(run(config, "show", "1795471128.1", "--format", "json").output)
    assert shown["status"] == "acknowledged" and shown["acknowledged_by"] == "值班经理"
    assert shown["acknowledged_via"] == "cli"
    assert [(n["by"], n["text"]) for n in shown["notes"]] == [("组长王", "caller named the agent; police called 11:20")]


@pytest.mark.parametrize("args", [("show", "9.9"), ("ack", "9.9"), ("note", "9.9", "text")])
def test_an_unknown_threat_is_a_clear_error(config, args):
    result = CliRunner().invoke(cli, ["threats", *args, "-c", config])
    assert result.exit_code == 2 and "no threat '9.9'" in result.output


async def test_an_acknowledgement_made_with_the_cli_stops_the_daemons_calls(config, sqlite_url):
    upgrade(sqlite_url)
    ami = Ami()
    engine = async_engine(sqlite_url)
    desk = ThreatDesk(threats_cfg(ack_timeout="15m", ring_again_after="2m"), "pbx1", [].append, ami, Live(), 6.0,
                      engine=engine)
    desk.mark("1795471128.1", number="13911112222", caller_name="", queue="support", agent="王五",
              endpoint="PJSIP/agent301", agent_channel="PJSIP/agent301-0000000a",
              caller_channel="Local/s@pbx-bridge-inbound-00000007;2", recording="", recording_source="none")
    await write(sqlite_url, [threat()])
    assert run(config, "ack", "1795471128.1", "--by", "值班经理").exit_code == 0
    runner = asyncio.create_task(desk.run())
    await asyncio.wait_for(desk.open["1795471128.1"].acked.wait(), 5)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert not desk.tasks and desk.health()["acknowledged"] == 1
    assert f"threat-1795471128.1" not in desk.live.standing and ami.rung() == ["PJSIP/lead401"]
    await engine.dispose()


def test_the_migration_makes_the_tables_the_code_uses(sqlite_url):
    upgrade(sqlite_url)
    engine = sync_engine(sqlite_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), tables())
    engine.dispose()
    assert [d for d in diff if "threat" in repr(d) or "recording" in repr(d)] == []


async def test_a_restarted_daemon_takes_up_the_threats_still_being_told_about(sqlite_url):
    now = datetime.now(timezone.utc)
    await write(sqlite_url, [
        threat("1.1", marked_at=now - timedelta(minutes=20), status="telling-manager",
               why_manager="nobody acknowledged within 15 min"),
        ContactRecord("pbx1", "1.1", 3, now, "lead", "组长王", "PJSIP/lead401", "call", "answered"),
        threat("1.2", marked_at=now - timedelta(minutes=1)),
        threat("1.3", marked_at=now - timedelta(minutes=2)), AckRecord("pbx1", "1.3", now, "组长王", "phone"),
        threat("1.4", marked_at=now - timedelta(days=2)),
        threat("1.5", marked_at=now, pbx="pbx2"),
    ])
    ami, records = Ami(), []
    engine = async_engine(sqlite_url)
    desk = ThreatDesk(threats_cfg(ack_timeout="15m", ring_again_after="2m"), "pbx1", records.append, ami, Live(), 6.0,
                      engine=engine)
    with capture_logs() as logs:
        assert await desk.resume() == 2
        await asyncio.sleep(0.05)
    assert sorted(desk.open) == ["1.1", "1.2"], "not the acknowledged one, nor another PBX's, nor one days old"
    assert sorted(ami.rung()) == ["Local/13900000402@pbx-bridge-callback/n", "PJSIP/lead401"], \
        "each from where it was: 1.1 the manager, 1.2 the lead"
    assert {"threat-1.1", "threat-1.2"} == set(desk.live.standing)
    assert "manager 经理李 called" in desk.live.standing["threat-1.1"]["text"]
    assert [c.seq for c in records if isinstance(c, ContactRecord) and c.threat_id == "1.1"] == [4], "numbering goes on"
    assert sum(e["event"] == "threat_resumed" for e in logs) == 2
    for task in list(desk.tasks):
        task.cancel()
    await asyncio.gather(*desk.tasks, return_exceptions=True)
    await engine.dispose()
