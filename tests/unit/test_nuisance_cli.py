"""`pbx-bridge nuisance`: the admins' screens and lifts, the listing, the evidence; exit codes;
and the migration that makes the tables (the same as the schema the code uses)."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from pbx_bridge.cli import cli
from pbx_bridge.nuisance.model import WarningRecord
from pbx_bridge.store.engine import async_engine, sync_engine
from pbx_bridge.rooms import record_kinds, tables, upgrade
from pbx_bridge.store.writer import StoreWriter


@pytest.fixture
def config(tmp_path, sqlite_url):
    screening = tmp_path / "screening.yaml"
    screening.write_text('screen:\n  - {number: "13800000001", reason: threats}\nnever_screen: ["110"]\n')
    path = tmp_path / "config.yaml"
    path.write_text(f"ami: {{host: 127.0.0.1}}\nstore: {{url: '{sqlite_url}'}}\n"
                    f"nuisance: {{file: '{screening}', screen_for: 2d}}\n")
    return str(path)


def run(config, *args):
    return CliRunner().invoke(cli, ["nuisance", *args, "-c", config], catch_exceptions=False)


def test_add_list_and_lift_an_admin_screen(config):
    added = run(config, "add", "139 0000 0001", "--for", "3d", "--reason", "abusive", "--by", "lead")
    assert added.exit_code == 0 and added.output.startswith("13900000001 screened until ")
    listing = run(config, "list")
    rows = {line.split()[0]: line for line in listing.output.splitlines()[1:]}
    assert set(rows) == {"13900000001", "13800000001"}
    assert "admin" in rows["13900000001"] and "abusive" in rows["13900000001"]
    assert "file" in rows["13800000001"] and "permanent" in rows["13800000001"]
    lifted = run(config, "lift", "13900000001", "--reason", "apologised")
    assert lifted.exit_code == 0 and lifted.output == "13900000001 lifted: it was screened (admin: abusive)\n"
    after = run(config, "list", "--all").output
    assert any(line.startswith("13900000001") and " lifted " in line for line in after.splitlines())
    assert any(line.startswith("110") and "never-screen" in line for line in after.splitlines())


def test_the_default_length_is_screen_for_and_permanent_lasts_until_lifted(config):
    default = run(config, "add", "13900000002", "--reason", "x")
    until = datetime.strptime(default.output.split("until ")[1][:16], "%Y-%m-%d %H:%M")
    assert until - datetime.now() == pytest.approx(timedelta(days=2) + timedelta(hours=8), abs=timedelta(minutes=2))
    assert "until lifted" in run(config, "add", "13900000003", "--permanent", "--reason", "x").output
    assert "until 2099-01-01 00:00" in run(config, "add", "13900000004", "--until", "2098-12-31", "--reason", "x").output


@pytest.mark.parametrize("args, code, message", [
    (("add", "110", "--reason", "x"), 2, "110 is in never_screen of"),
    (("add", "13900000001", "--for", "3d", "--permanent", "--reason", "x"), 2, "at most one of"),
    (("add", "not-a-number", "--reason", "x"), 2, "is not a phone number"),
    (("add", "13900000001", "--until", "2001-01-01", "--reason", "x"), 2, "already past"),
    (("add", "13900000001", "--for", "soon", "--reason", "x"), 2, "is not a duration"),
    (("add", "13900000001"), 2, "Missing option '--reason'"),
    (("lift", "13800000001", "--reason", "x"), 1, "stays screened by the screening file"),
])
def test_refusals_say_why_with_their_exit_code(config, args, code, message):
    result = CliRunner().invoke(cli, ["nuisance", *args, "-c", config])
    assert result.exit_code == code and message in result.output


def test_lifting_a_number_that_is_not_screened_is_recorded_and_says_so(config):
    result = run(config, "lift", "13900000009", "--reason", "pardon")
    assert result.exit_code == 0 and "was not screened; lift recorded (0 earlier warnings no longer count)" in result.output


async def test_warnings_are_the_evidence_by_number_and_local_day(config, sqlite_url):
    upgrade(sqlite_url)
    engine = async_engine(sqlite_url)
    writer = StoreWriter(engine, kinds=record_kinds())
    at = datetime(2026, 11, 2, 16, 30, tzinfo=timezone.utc)  # 00:30 on the 3rd in Shanghai
    for second, seq, number in ((1, 1, "13911112222"), (2, 2, "13911112222"), (3, 1, "13700000000")):
        writer.put(WarningRecord("pbx1", f"1795471128.{number[-1]}", seq, number, at + timedelta(seconds=second),
                                 "Agent 301", "PJSIP/agent301", "PJSIP/agent301-0000000a", "PJSIP/trunk-01"))
    await writer.flush()
    await engine.dispose()
    table = run(config, "warnings", "--number", "13911112222")
    assert table.output.splitlines()[1].startswith("2026-11-03 00:30:01    13911112222      Agent 301")
    assert table.output.splitlines()[-1] == "2 warnings"
    lines = run(config, "warnings", "--from", "2026-11-03", "--to", "2026-11-03", "--format", "jsonl").output
    rows = [json.loads(line) for line in lines.splitlines()]
    assert [(r["number"], r["seq"], r["warned_at"]) for r in rows][0] == ("13911112222", 1, "2026-11-02T16:30:01Z")
    assert len(rows) == 3
    assert run(config, "warnings", "--from", "2026-11-02", "--to", "2026-11-02").output.splitlines()[-1] == "0 warnings"
    listing = run(config, "list", "--all").output
    assert any(line.startswith("13911112222") for line in listing.splitlines())


def test_check_a_screening_file(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("never_screen: [110, 120]\n")
    bad.write_text("screen:\n  - number: 1\n")
    assert CliRunner().invoke(cli, ["nuisance", "check", str(good)]).output == "ok: 0 screened, 2 never screened\n"
    result = CliRunner().invoke(cli, ["nuisance", "check", str(bad)])
    assert result.exit_code == 2 and f"{bad}:2: screen[0].reason: required key is missing" in result.output


def test_the_migration_makes_the_tables_the_code_uses(sqlite_url):
    upgrade(sqlite_url)
    engine = sync_engine(sqlite_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), tables())
    engine.dispose()
    ours = [d for d in diff if "nuisance" in repr(d)]
    assert ours == []
