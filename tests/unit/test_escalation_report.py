"""Escalation in the monthly report: climbs per queue, how high, how long, members added, removals deferred."""

import csv
import io
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from pbx_bridge.escalation.records import EscalationStepRecord
from pbx_bridge.escalation.tables import escalation_steps
from pbx_bridge.reports import html, monthly
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.store.engine import sync_engine
from pbx_bridge.rooms import upgrade

SH = ZoneInfo("Asia/Shanghai")
NOV = (date(2026, 11, 1), date(2026, 11, 30))
T = datetime(2026, 11, 9, 2, 0, tzinfo=timezone.utc)


def seed(url, rows):
    upgrade(url)
    engine = sync_engine(url)
    with engine.begin() as conn:
        conn.execute(escalation_steps.insert(), [
            vars(EscalationStepRecord("pbx1", f"a{i}", queue, step, f"s{step}", action, T + timedelta(minutes=m)))
            for i, (queue, step, action, m) in enumerate(rows)])
    return engine


def test_climbs_highest_step_and_minutes_escalated_per_queue_in_every_format(sqlite_url):
    engine = seed(sqlite_url, [
        ("support", 1, "escalate", 0), ("support", 1, "add-member", 0), ("support", 2, "escalate", 5),
        ("support", 2, "de-escalate", 20), ("support", 1, "remove-deferred", 25), ("support", 1, "remove-member", 30),
        ("support", 1, "de-escalate", 30),
        ("support", 1, "escalate", 60), ("support", 1, "escalate", 62),  # a re-climb of a leaving step: one climb
        ("support", 1, "de-escalate", 70),
    ])
    rep = monthly.monthly(engine, *NOV, SH, ReportsConfig(companies={"support": "静安"}), 6.0)
    engine.dispose()
    [line] = rep.as_dict()["escalation"]
    assert line == {"queue": "support", "company": "静安", "climbs": 2, "highest_step": 2, "minutes_escalated": 40.0,
                    "members_added": 1, "removals_deferred": 1}
    assert "Escalation (when calls piled up)" in monthly.as_table(rep)
    rows = [r for r in csv.DictReader(io.StringIO(monthly.as_csv(rep))) if r["section"] == "escalation"]
    assert {r["figure"]: r["value"] for r in rows}["climbs"] == "2"
    assert '<table id="escalation">' in html.render(rep)
