"""`pbx-bridge incidents list|show|note`: the incident log read back, people's notes, bad ids; and the
room's migration makes the tables the code writes."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import insert

from pbx_bridge.cli import cli
from pbx_bridge.incidents.records import IncidentRecord
from pbx_bridge.incidents.tables import incidents
from pbx_bridge.store.engine import sync_engine
from pbx_bridge.rooms import upgrade
from pbx_bridge.store.schema import metadata

NOW = datetime.now(UTC).replace(microsecond=0)


def record(incident_id: str, nature: str = "ami", ended: bool = True, **over) -> IncidentRecord:
    started = NOW - timedelta(hours=1)
    fields = dict(pbx="pbx1", incident_id=incident_id, nature=nature, place="pbx1", queue=None,
                  title="AMI lost or Asterisk restarted", severity="critical", started_at=started,
                  ended_at=started + timedelta(seconds=95) if ended else None, duration_s=95.0 if ended else None,
                  calls_waiting=3, calls_affected=4, abandoned=1, recorded_late=2, agents_affected=2,
                  agents=json.dumps(["彭建华", "戴玲"], ensure_ascii=False),
                  trend=json.dumps([{"at": started.isoformat(), "waiting": 3}]),
                  actions=json.dumps([{"at": started.isoformat(), "action": "QueueAdd", "queue": "support",
                                       "agent": "彭建华"}], ensure_ascii=False),
                  detail="Asterisk restarted")
    fields.update(over)
    return IncidentRecord(**fields)


@pytest.fixture
def config(tmp_path, sqlite_url):
    path = tmp_path / "config.yaml"
    path.write_text(f"ami: {{host: 127.0.0.1}}\nstore: {{url: '{sqlite_url}'}}\n")
    upgrade(sqlite_url)
    engine = sync_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(insert(incidents), [asdict(record("20261202-010000-ab12")),
                                         asdict(record("20261202-020000-cd34", "all-paused", ended=False,
                                                       queue="support", place="pbx1 queue support"))])
    engine.dispose()
    return str(path)


def run(config, *args):
    return CliRunner().invoke(cli, ["incidents", *args, "-c", config], catch_exceptions=False)


def test_list_shows_each_incident_with_its_duration_and_what_it_affected(config):
    out = run(config, "list")
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert lines[0].split()[:3] == ["incident_id", "nature", "place"]
    assert "1m35s" in lines[1] and "ami" in lines[1] and "open" in lines[2]
    assert [r["nature"] for r in json.loads(run(config, "list", "--format", "json").output)] == ["ami", "all-paused"]
    rows = list(csv.DictReader(io.StringIO(run(config, "list", "--open", "--format", "csv").output)))
    assert [r["incident_id"] for r in rows] == ["20261202-020000-cd34"] and rows[0]["ended_at"] == ""


def test_a_note_is_kept_beside_the_daemons_actions_and_shown(config):
    noted = run(config, "note", "20261202-0100", "restarted the switch, agents called back", "--by", "王班长")
    assert noted.exit_code == 0 and "20261202-010000-ab12" in noted.output
    shown = run(config, "show", "20261202-010000-ab12")
    assert "王班长: restarted the switch" in shown.output and "QueueAdd" in shown.output
    assert "4 calls (1 abandoned, 2 recorded late)" in shown.output
    full = json.loads(run(config, "show", "20261202-010000-ab12", "--format", "json").output)
    assert full["notes_added"][0]["by"] == "王班长" and full["actions_taken"][0]["action"] == "QueueAdd"
    assert full["notes"] == 1 and full["agents"] == ["彭建华", "戴玲"]
    kinds = [r["kind"] for r in csv.DictReader(io.StringIO(run(config, "show", "20261202-010000-ab12",
                                                                 "--format", "csv").output))]
    assert kinds == ["opened", "sample", "action", "note", "closed"]


@pytest.mark.parametrize("args, message", [
    (("note", "nope", "text"), "no incident 'nope'"),
    (("note", "20261202", "text"), "names more than one incident"),
    (("show", "nope"), "no incident 'nope'"),
])
def test_an_unknown_or_ambiguous_incident_is_a_clear_message_and_exit_1(config, args, message):
    result = CliRunner().invoke(cli, ["incidents", *args, "-c", config])
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output


def test_an_empty_note_is_refused(config):
    result = CliRunner().invoke(cli, ["incidents", "note", "20261202-010000-ab12", "  ", "-c", config])
    assert result.exit_code == 2 and "the note is empty" in result.output


def test_the_rooms_migration_makes_the_tables_the_code_writes(sqlite_url):
    upgrade(sqlite_url)
    engine = sync_engine(sqlite_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert [d for d in diff if "incident" in repr(d)] == []


def test_the_natures_the_cli_offers_are_the_rooms_own():
    from pbx_bridge.cli.incidents import NATURE_NAMES
    from pbx_bridge.incidents.records import NATURES

    assert set(NATURE_NAMES) == set(NATURES)
