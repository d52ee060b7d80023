"""`pbx-bridge escalation status|history`: the daemon's state file and the step records, as table, csv, json."""

import asyncio
import csv
import io
import json
import time
from datetime import UTC, datetime

from click.testing import CliRunner

from pbx_bridge.cli import cli
from pbx_bridge.config import load_config
from pbx_bridge.escalation import state
from pbx_bridge.escalation.ladder import Escalator
from pbx_bridge.escalation.records import EscalationStepRecord
from pbx_bridge.escalation.tables import escalation_steps
from pbx_bridge.store.engine import sync_engine
from pbx_bridge.rooms import upgrade
from tests.unit.test_escalation_ladder import Pbx

CONFIG = """\
ami: {{host: h}}
store: {{url: "sqlite:///{db}"}}
escalation:
  enabled: true
  state_file: {state}
  supervisors: {{Supervisor Wu: super501}}
  queues:
    support:
      calm_for: 60
      steps:
        - {{name: supervisors, waiting: 2, add: [{{member: Supervisor Wu}}]}}
        - {{name: early-callback, waiting: 4, longest_wait: 90, callback_offer_after: 15}}
"""


def setup(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "store.db", state=tmp_path / "escalation.json"))
    return str(path), load_config(str(path), env={})


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_status_shows_each_queues_step_figures_and_next_thresholds_in_three_formats(tmp_path):
    path, cfg = setup(tmp_path)
    pbx = Pbx()
    esc = Escalator("pbx1", cfg.escalation, pbx.send, lambda r: None, lambda n: None, lambda k, v: None,
                    lambda k: None, lambda: pbx.now)
    pbx.entries = {"a": pbx.now - 30, "b": pbx.now - 10}
    asyncio.run(esc.run_once())
    state.write(cfg.escalation.state_file, state.snapshot(esc))

    table = run("escalation", "status", "-c", path)
    assert table.exit_code == 0, table.output
    header, row = table.output.splitlines()
    assert header.split()[:4] == ["queue", "step", "step_name", "of"]
    assert row.split()[:6] == ["support", "1", "supervisors", "2", "2", "30.0"]
    [rec] = json.loads(run("escalation", "status", "-c", path, "--format", "json").output)
    assert rec["step"] == 1 and rec["waiting"] == 2 and rec["next_step"] == "early-callback"
    assert rec["next_thresholds"] == "waiting>=4 or longest>=90s" and rec["reason"] == "waiting 2 >= 2"
    [line] = list(csv.DictReader(io.StringIO(run("escalation", "status", "-c", path, "--format", "csv").output)))
    assert line["queue"] == "support" and line["step_name"] == "supervisors"


def test_status_says_when_the_daemon_stopped_writing(tmp_path):
    path, cfg = setup(tmp_path)
    esc = Escalator("pbx1", cfg.escalation, None, None, None, None, None, time.monotonic)
    state.write(cfg.escalation.state_file, state.snapshot(esc, now_wall=time.time() - 3600))
    result = CliRunner().invoke(cli, ["escalation", "status", "-c", path])
    assert result.exit_code == 1
    assert "(stale)" in result.output


def test_status_without_a_state_file_is_an_error_not_a_blank(tmp_path):
    path, _ = setup(tmp_path)
    result = CliRunner().invoke(cli, ["escalation", "status", "-c", path])
    assert result.exit_code == 1 and "no state yet" in result.output


def test_history_lists_the_recorded_steps(tmp_path):
    path, cfg = setup(tmp_path)
    upgrade(cfg.store.url)
    engine = sync_engine(cfg.store.url)
    at = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(escalation_steps.insert(), [
            vars(EscalationStepRecord("pbx1", "a1", "support", 1, "supervisors", "escalate", at, "", "waiting 2 >= 2")),
            vars(EscalationStepRecord("pbx1", "a2", "support", 1, "supervisors", "add-member", at, "Supervisor Wu",
                                      "waiting 2 >= 2"))])
    engine.dispose()
    rows = json.loads(run("escalation", "history", "-c", path, "--from", "2026-12-01", "--to", "2026-12-01",
                          "--format", "json").output)
    assert [(r["action"], r["at"]) for r in rows] == [("escalate", "2026-12-01 10:00:00"),
                                                     ("add-member", "2026-12-01 10:00:00")]
