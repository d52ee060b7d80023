"""Every list and show answers in `--format table|csv|json`: the JSON parses and holds the same rows
as the CSV and as the table, so an admin's script never parses a table. One test per command, on
the data the command's own tests seed."""

import asyncio
import csv
import io
import json
from dataclasses import asdict
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner
from sqlalchemy import insert

from pbx_bridge.cli import cli
from pbx_bridge.rooms import upgrade
from pbx_bridge.store.engine import async_engine, sync_engine
from pbx_bridge.store.writer import StoreWriter


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def as_csv_text(value):
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(map(str, value))
    return str(value)


def same_rows(args, key, count=None):
    """The JSON rows, after checking that the CSV has the same rows, field for field, and that the
    table shows each row's `key` in the same order."""
    as_json = invoke(*args, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.stdout)
    assert isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows)
    if count is not None:
        assert len(rows) == count
    as_csv = invoke(*args, "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    lines = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows):
        assert {f: v for f, v in line.items()} == {f: as_csv_text(row[f]) for f in line}
    table = invoke(*args)
    assert table.exit_code == 0, table.output
    at = -1
    for row in rows:
        found = table.stdout.find(str(row[key]), at + 1)
        assert found > at, (row[key], table.stdout)
        at = found
    return rows


async def put(url, records):
    from pbx_bridge.rooms import record_kinds

    upgrade(url)
    engine = async_engine(url)
    writer = StoreWriter(engine, kinds=record_kinds())
    for record in records:
        writer.put(record)
    await writer.flush()
    await engine.dispose()


def store_config(tmp_path, url, extra=""):
    path = tmp_path / "config.yaml"
    path.write_text(f"ami: {{host: 127.0.0.1}}\nstore: {{url: '{url}'}}\n{extra}", encoding="utf-8")
    return str(path)


def test_rota_show_json_holds_the_companies_of_the_table():
    rows = same_rows(["rota", "show", "-r", "rota.example.yaml", "--date", "2026-10-09"], "company", count=24)
    assert rows[0]["company"] == "jingan" and rows[0]["estimated"] is False
    assert all(r["listens"] for r in rows)


def test_callbacks_list_json_holds_the_table_rows(tmp_path, sqlite_url):
    from tests.unit.test_callbacks_report import ROWS, seed

    seed(sqlite_url, ROWS)
    rows = same_rows(["callbacks", "list", "-c", store_config(tmp_path, sqlite_url), "--status", "all"], "number",
                     count=len(ROWS))
    assert {r["status"] for r in rows} >= {"done", "pending"}


def test_nuisance_list_json_holds_the_table_rows(tmp_path, sqlite_url):
    screening = tmp_path / "screening.yaml"
    screening.write_text('screen:\n  - {number: "13800000001", reason: threats}\n')
    config = store_config(tmp_path, sqlite_url, f"nuisance: {{file: '{screening}', screen_for: 2d}}\n")
    added = invoke("nuisance", "add", "13900000002", "--reason", "abuse", "--by", "admin", "-c", config)
    assert added.exit_code == 0, added.output
    rows = same_rows(["nuisance", "list", "-c", config], "number", count=2)
    assert [(r["number"], r["state"], r["by"]) for r in rows] == [
        ("13800000001", "screened", "file"), ("13900000002", "screened", "admin")]


def test_nuisance_warnings_json_holds_the_table_rows(tmp_path, sqlite_url):
    from pbx_bridge.nuisance.model import WarningRecord

    at = datetime(2026, 11, 2, 16, 30, tzinfo=timezone.utc)
    asyncio.run(put(sqlite_url, [
        WarningRecord("pbx1", f"1795471128.{n}", 1, number, at + timedelta(seconds=n), "Agent 301", "PJSIP/agent301",
                      "PJSIP/agent301-0000000a", "PJSIP/trunk-01")
        for n, number in ((1, "13911112222"), (2, "13700000000"))]))
    rows = same_rows(["nuisance", "warnings", "-c", store_config(tmp_path, sqlite_url)], "call_uniqueid", count=2)
    assert rows[0]["warned_at"] == "2026-11-02T16:30:01Z"


def test_report_ring_twice_json_holds_the_table_rows(tmp_path):
    from tests.conftest import make_call, make_offer

    url = f"sqlite:///{tmp_path}/r.db"
    at = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
    asyncio.run(put(url, [
        make_offer("c1", "o1", agent="Agent 301", ring_s=2.0, rings=1, result="answered", offered_at=at),
        make_offer("c2", "o2", agent="Agent 302", ring_s=9.0, rings=2, result="no-answer", offered_at=at),
        make_call("c1", agent="Agent 301", joined_at=at)]))
    rows = same_rows(["report", "ring-twice", "-c", store_config(tmp_path, url), "--from", "2026-11-23",
                      "--to", "2026-11-23"], "agent", count=2)
    assert [r["agent"] for r in rows] == ["Agent 301", "Agent 302"]


def test_threats_list_json_holds_the_table_rows(tmp_path, sqlite_url):
    from tests.unit.test_threats_cli import threat

    asyncio.run(put(sqlite_url, [threat(), threat("1795471200.7", number="13822223333")]))
    rows = same_rows(["threats", "list", "-c", store_config(tmp_path, sqlite_url)], "threat_id", count=2)
    assert {r["threat_id"] for r in rows} == {"1795471128.1", "1795471200.7"}


def test_incidents_list_json_holds_the_table_rows(tmp_path, sqlite_url):
    from pbx_bridge.incidents.tables import incidents
    from tests.unit.test_incidents_cli import record

    upgrade(sqlite_url)
    engine = sync_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(insert(incidents), [asdict(record("20261202-010000-ab12")),
                                         asdict(record("20261202-020000-cd34", "all-paused", ended=False))])
    engine.dispose()
    rows = same_rows(["incidents", "list", "-c", store_config(tmp_path, sqlite_url)], "incident_id", count=2)
    assert [r["nature"] for r in rows] == ["ami", "all-paused"]


def test_qa_list_json_holds_the_table_rows(tmp_path, sqlite_url):
    from tests.unit.test_qa_cli_report import config, seed

    seed(sqlite_url)
    rows = same_rows(["qa", "list", "--from", "2026-11-20", "--to", "2099-12-31", "-c", config(tmp_path, sqlite_url)],
                     "uniqueid", count=1)
    assert rows[0]["kind"] == "listen"


def test_escalation_status_and_history_json_hold_the_table_rows(tmp_path):
    from pbx_bridge.escalation import state
    from pbx_bridge.escalation.ladder import Escalator
    from pbx_bridge.escalation.records import EscalationStepRecord
    from pbx_bridge.escalation.tables import escalation_steps
    from tests.unit.test_escalation_cli import setup
    from tests.unit.test_escalation_ladder import Pbx

    path, cfg = setup(tmp_path)
    pbx = Pbx()
    esc = Escalator("pbx1", cfg.escalation, pbx.send, lambda r: None, lambda n: None, lambda k, v: None,
                    lambda k: None, lambda: pbx.now)
    pbx.entries = {"a": pbx.now - 30, "b": pbx.now - 10}
    asyncio.run(esc.run_once())
    state.write(cfg.escalation.state_file, state.snapshot(esc))
    assert same_rows(["escalation", "status", "-c", path], "queue", count=1)[0]["step_name"] == "supervisors"
    upgrade(cfg.store.url)
    engine = sync_engine(cfg.store.url)
    at = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
    with engine.begin() as conn:
        conn.execute(escalation_steps.insert(), [
            vars(EscalationStepRecord("pbx1", "a1", "support", 1, "supervisors", "escalate", at, "", "waiting 2 >= 2")),
            vars(EscalationStepRecord("pbx1", "a2", "support", 1, "supervisors", "add-member", at, "Supervisor Wu",
                                      "waiting 2 >= 2"))])
    engine.dispose()
    rows = same_rows(["escalation", "history", "-c", path, "--from", "2026-12-01", "--to", "2026-12-01"], "action",
                     count=2)
    assert [r["action"] for r in rows] == ["escalate", "add-member"]


def test_every_list_and_show_offers_the_three_formats():
    """The inventory: a new list or show without `--format table|csv|json` fails here."""
    import click

    def commands(group, prefix=()):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from commands(command, prefix + (name,))
            else:
                yield prefix + (name,), command

    listing = {path: cmd for path, cmd in commands(cli)
               if path[-1] in ("list", "show", "warnings", "status", "history", "ring-twice", "report", "intraday",
                               "monthly")}
    assert ("rota", "show") in listing and ("nuisance", "list") in listing
    for path, command in listing.items():
        [fmt] = [p for p in command.params if p.name == "fmt"]
        assert {"table", "csv", "json"} <= set(fmt.type.choices), path
