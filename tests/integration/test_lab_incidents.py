"""Incidents and recovery (rules §8) against the lab: Asterisk stopped mid-traffic and started again
without the members it had (as with `persistentmembers = no`), and a queue whose every agent is paused.

The agent's session is the daemon's own, left open in the store by an earlier run (as after a
daemon restart): the daemon restores it and puts the queues back in step at each AMI login.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from lab import traffic
from pbx_bridge.rota.model import hash_pin
from pbx_bridge.store.engine import sync_engine
from pbx_bridge.rooms import upgrade
from pbx_bridge.agents.tables import agent_pauses, agent_sessions
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab

IFACE = "Local/agent301@pbx-bridge-agents/n"
FAST = {"check_interval": 0.5, "open_after_s": 2, "close_after_s": 3, "sample_interval_s": 2}


@pytest.fixture(autouse=True)
def she_leaves_as_she_came(lab):
    """The lab is shared by the tests that follow: she leaves lab-team, paused nowhere (a test that
    failed half-way left her a paused member, and later tests rang her phone in vain)."""
    yield
    with lab.ami() as ami:
        ami.action("QueuePause", Interface=IFACE, Paused="false")
        ami.action("QueueRemove", Queue="lab-team", Interface=IFACE)


def rota_yaml() -> str:
    today = datetime.now().date()
    days = ", ".join(str(today + timedelta(days=n)) for n in (-1, 0, 1))  # a working day, whatever the weekday
    return (f"start: 2026-01-05\ncalendar: {{kind: weekdays, extra_workdays: [{days}]}}\ncompanies:\n"
            "  - id: team\n    name: 上海静安有限公司\n    mailboxes: [\"8001@default\"]\n    queues: [lab-team]\n"
            f"    agents:\n      - {{employee_no: \"0301\", name: 彭建华, endpoint: PJSIP/agent301, "
            f"pin_hash: \"{hash_pin('739182')}\"}}\n")


def seeded_daemon(tmp_path, pause_reason: str | None = "meal", **incidents) -> DaemonProcess:
    """A daemon whose store holds 彭建华's open session in lab-team (paused: `pause_reason`)."""
    url = f"sqlite:///{tmp_path}/store.db"
    upgrade(url)
    engine = sync_engine(url)
    session_id, at = uuid.uuid4().hex, datetime.now(UTC) - timedelta(minutes=5)
    with engine.begin() as conn:
        conn.execute(insert(agent_sessions).values(
            pbx="pbx1", session_id=session_id, employee_no="0301", agent="彭建华", endpoint="agent301",
            interface=IFACE, queues="lab-team", login_at=at))
        if pause_reason:
            conn.execute(insert(agent_pauses).values(
                pbx="pbx1", pause_id=uuid.uuid4().hex, session_id=session_id, employee_no="0301", agent="彭建华",
                reason=pause_reason, started_at=at))
    engine.dispose()
    rota = tmp_path / "rota.yaml"
    rota.write_text(rota_yaml(), encoding="utf-8")
    return DaemonProcess(tmp_path, url, voicemail={"rota": str(rota)}, agents={"enabled": True},
                         incidents={**FAST, **incidents})


def not_a_member(lab) -> None:
    """An earlier run's member gone from lab-team: the daemon's first login must add her."""
    with lab.ami() as ami:
        ami.action("QueueRemove", Queue="lab-team", Interface=IFACE)


def member(lab, queue: str = "lab-team") -> dict | None:
    with lab.ami() as ami:
        reply = ami.action("QueueStatus", Queue=queue, collect="QueueStatusComplete")
    found = [e for e in reply.get("__events__", []) if e.get("Event") == "QueueMember"
             and IFACE in (e.get("Location"), e.get("Interface"))]
    return found[0] if found else None


def wait_member(lab, predicate, timeout: float = 15) -> dict | None:
    deadline = time.monotonic() + timeout
    while True:
        found = member(lab)
        if predicate(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def incidents_cli(daemon: DaemonProcess, *args: str) -> list[dict] | dict:
    out = subprocess.run([sys.executable, "-m", "pbx_bridge", "incidents", *args, "-c", str(daemon.config_path),
                          "--format", "json"], capture_output=True, text=True, env=daemon.env, check=True)
    return json.loads(out.stdout)


def test_asterisk_stopped_mid_traffic_is_one_incident_and_members_and_pauses_come_back(lab, tmp_path):
    not_a_member(lab)
    daemon = seeded_daemon(tmp_path).start()
    # at the first login the queue is put in step with the session: added, paused for her meal
    first = wait_member(lab, lambda m: m is not None and m.get("PausedReason") == "meal")
    assert first is not None and first.get("PausedReason") == "meal"
    with lab.ami() as ami:
        traffic.set_agent(ami, 201, ring=1)
        traffic.set_agent(ami, 202, ring=1)
        for i in range(3):
            traffic.originate(ami, queue="support", hold=60, caller_num=f"1390000910{i}")
        cut = {line["uniqueid"] for line in daemon.wait_for("call_joined", count=3)}
        time.sleep(2)
    # The lab's `persistentmembers = no` comes after the shipped `yes` in [general], and app_queue
    # takes the first: emptying the members it saved is what `no` means at the next start.
    lab.cli("database deltree Queue/PersistentMembers")
    stopped_at = time.time()
    lab.stop()
    time.sleep(30)
    lab.start()
    started_at = time.time()
    # Asterisk came back without her (nothing persisted); the daemon adds her again, paused
    back = wait_member(lab, lambda m: m is not None and m.get("PausedReason") == "meal", timeout=15)
    assert back is not None and back.get("PausedReason") == "meal"
    closed = daemon.wait_for("incident_closed", timeout=30)
    assert [line["nature"] for line in closed] == ["ami"]
    assert 30 <= closed[0]["duration_s"] <= started_at - stopped_at + 10
    time.sleep(1.5)  # the writer's batch
    assert daemon.stop() == 0

    listed = incidents_cli(daemon, "list")
    assert [i["nature"] for i in listed] == ["ami"]
    shown = incidents_cli(daemon, "show", listed[0]["incident_id"])
    # the calls Asterisk hung up as it stopped (the one still waiting: abandoned)
    assert shown["calls_affected"] >= len(cut) and shown["abandoned"] >= 1
    assert "Asterisk restarted" in shown["detail"]
    actions = shown["actions_taken"]
    assert any(a["action"] == "QueueAdd+QueuePause" and a["queue"] == "lab-team" and a["agent"] == "彭建华"
               for a in actions)
    assert shown["agents_affected"] >= 1 and shown["trend"]


def all_paused_incident(lab, daemon) -> None:
    with lab.ami() as ami:
        traffic.originate(ami, queue="lab-team", hold=30, maxwait=40, caller_num="13900009200")
        opened = daemon.wait_for("incident_opened", timeout=30)
        assert [(line["nature"], line["queue"]) for line in opened] == [("all-paused", "lab-team")]
        ami.action("QueuePause", Interface=IFACE, Paused="false")
        closed = daemon.wait_for("incident_closed", timeout=20)
    assert [(line["nature"], line["queue"]) for line in closed] == [("all-paused", "lab-team")]
    time.sleep(1.5)
    assert daemon.stop() == 0
    listed = incidents_cli(daemon, "list")
    assert [(i["nature"], i["place"]) for i in listed] == [("all-paused", "pbx1 queue lab-team")]
    assert listed[0]["calls_waiting"] == 1 and listed[0]["ended_at"]


def test_callers_waiting_with_every_agent_paused_open_an_incident_that_closes_when_one_returns(lab, tmp_path):
    not_a_member(lab)
    daemon = seeded_daemon(tmp_path, pause_reason="training").start()
    assert wait_member(lab, lambda m: m is not None and m.get("PausedReason") == "training") is not None
    all_paused_incident(lab, daemon)


def test_an_agent_already_paused_when_the_daemon_starts_makes_the_queue_all_paused(lab, tmp_path):
    """She is also a static, unpaused member of lab-ring1 and lab-ring2: her pause is lab-team's alone
    (one pause flag per agent took her lab-ring lines' word, and lab-team looked staffed)."""
    not_a_member(lab)
    daemon = seeded_daemon(tmp_path, pause_reason="training").start()
    assert wait_member(lab, lambda m: m is not None and m.get("PausedReason") == "training") is not None
    assert daemon.stop() == 0
    daemon.restart()  # she is a paused member already: no repair, no queue event, QueueStatus only
    all_paused_incident(lab, daemon)
