"""Agent sessions against the lab: SIPp phones dial the feature codes and key digits as SIP INFO.

The phone menu is the daemon's FastAGI; the queue membership is Asterisk's own (QueueStatus).
"""

from __future__ import annotations

import sqlite3
import time

import pytest

from lab import traffic
from lab.sipp import SippAgent, sipp_menu
from pbx_bridge.rota.model import hash_pin
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab

PIN_301, PIN_302 = "739182", "528461"


def rota_yaml(with_302: bool = True) -> str:
    agents = [f'{{employee_no: "0301", name: 彭建华, endpoint: PJSIP/agent301, pin_hash: "{hash_pin(PIN_301)}"}}']
    if with_302:
        agents.append(f'{{employee_no: "0302", name: 戴玲, endpoint: PJSIP/agent302, pin_hash: "{hash_pin(PIN_302)}"}}')
    return ("start: 2026-01-05\ncalendar: weekdays\ncompanies:\n  - id: team\n    name: 上海静安有限公司\n"
            "    mailboxes: [\"8001@default\"]\n    queues: [lab-team]\n    agents:\n"
            + "".join(f"      - {a}\n" for a in agents))


def members(ami) -> dict[str, dict]:
    reply = ami.action("QueueStatus", Queue="lab-team", collect="QueueStatusComplete")
    return {e["Name"]: e for e in reply.get("__events__", []) if e.get("Event") == "QueueMember"}


def wait_members(ami, predicate, timeout: float = 15) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = members(ami)
        if predicate(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def login(pin: str, employee_no: str = "0301", phone: str = "agent301") -> int:
    return sipp_menu("*81", f"2500:{employee_no}#,2500:{pin}#", from_user=phone)


def agi_commands(ami, script: str) -> list[list[str]]:
    """The commands each AGI session of `script` ran, in order, from Asterisk's AGIExec events."""
    ami.pump(0.5)
    sessions: dict[str, list[str]] = {}
    current: dict[str, bool] = {}
    for event in ami.events:
        channel = event.get("Channel", "")
        if event.get("Event") == "AGIExecStart":
            command = event.get("Command", "")
            if command.startswith("ANSWER") and not current.get(channel):
                current[channel] = True
                sessions[channel + str(len(sessions))] = []
            key = next((k for k in reversed(sessions) if k.startswith(channel)), None)
            if key is not None:
                sessions[key].append(command.split(" 8000 ")[0])  # GET DATA prompts, without the digits typed
        elif event.get("Event") == "Hangup":
            current.pop(channel, None)
    ami.events.clear()
    return list(sessions.values())


def test_agents_log_in_pause_resume_and_leave_with_the_rota(lab, lab_ami, tmp_path):
    rota = tmp_path / "rota.yaml"
    rota.write_text(rota_yaml(), encoding="utf-8")
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db",
                           voicemail={"rota": str(rota)},
                           agents={"enabled": True, "pin_tries": 1, "lockout_after": 3},
                           logging={"level": "debug"}).start()
    lab_ami.events.clear()

    # a wrong PIN is refused, in the same words as an unknown 工号
    assert login("000000") == 0
    assert login(PIN_301, employee_no="0999") == 0
    refused = agi_commands(lab_ami, "agent_login")
    assert len(refused) == 2 and refused[0] == refused[1], refused
    assert members(lab_ami) == {}
    assert len(daemon.wait_for("agent_login_refused", count=2)) == 2

    # the right PIN: the phone the agent dialled from joins the rota's queues
    assert login(PIN_301) == 0
    found = wait_members(lab_ami, lambda m: "彭建华" in m)
    assert found["彭建华"]["Location"] == "Local/agent301@pbx-bridge-agents/n"
    assert found["彭建华"]["StateInterface"] == "PJSIP/agent301"
    daemon.wait_for("agent_logged_in")

    # a call to the queue rings the logged-in agent's phone (two-ring leg) and is answered there
    with SippAgent("agent301", ring=1, log_dir=str(tmp_path)):
        traffic.originate(lab_ami, queue="lab-team", hold=4, caller_num="13900005555")
        recorded = daemon.wait_for("call_recorded", timeout=40)
    assert recorded[0]["outcome"] == "answered" and recorded[0]["agent"] == "彭建华"

    # pause with a reason (meal), then resume
    assert sipp_menu("*832", "", from_user="agent301") == 0
    found = wait_members(lab_ami, lambda m: m.get("彭建华", {}).get("Paused") == "1")
    assert found["彭建华"]["PausedReason"] == "meal"
    daemon.wait_for("agent_paused")
    assert sipp_menu("*84", "", from_user="agent301") == 0
    wait_members(lab_ami, lambda m: m.get("彭建华", {}).get("Paused") == "0")
    daemon.wait_for("agent_resumed")

    # 戴玲 logs in, then leaves the company: the rota without her removes her from the queue at
    # reload, and she can no longer log in
    assert login(PIN_302, employee_no="0302", phone="agent302") == 0
    wait_members(lab_ami, lambda m: "戴玲" in m)
    rota.write_text(rota_yaml(with_302=False), encoding="utf-8")
    daemon.wait_for("agent_logged_out", timeout=20)
    assert "戴玲" not in wait_members(lab_ami, lambda m: "戴玲" not in m)
    assert login(PIN_302, employee_no="0302", phone="agent302") == 0
    assert len(daemon.wait_for("agent_login_refused", count=3)) == 3
    assert "戴玲" not in members(lab_ami)

    # log out from the phone
    assert sipp_menu("*82", "", from_user="agent301") == 0
    wait_members(lab_ami, lambda m: "彭建华" not in m)
    daemon.stop()

    db = sqlite3.connect(tmp_path / "store.db")
    sessions = {r[0]: r[1:] for r in db.execute(
        "SELECT agent, logout_reason, logout_at IS NOT NULL FROM agent_sessions")}
    assert sessions == {"彭建华": ("phone", 1), "戴玲": ("removed-from-rota", 1)}
    pauses = db.execute("SELECT agent, reason, ended_at IS NOT NULL FROM agent_pauses").fetchall()
    assert pauses == [("彭建华", "meal", 1)]

    # the PINs are nowhere in the daemon's log (debug level) nor in the database file
    log_text = daemon.log_path.read_text(encoding="utf-8")
    store_bytes = (tmp_path / "store.db").read_bytes()
    for pin in (PIN_301, PIN_302, "000000"):
        assert pin not in log_text
        assert pin.encode() not in store_bytes


def test_repeated_wrong_pins_lock_the_menu_even_for_the_right_pin(lab, lab_ami, tmp_path):
    rota = tmp_path / "rota.yaml"
    rota.write_text(rota_yaml(), encoding="utf-8")
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db", voicemail={"rota": str(rota)},
                           agents={"enabled": True, "pin_tries": 1, "lockout_after": 2, "lockout_for_s": 600}).start()
    assert login("111111") == 0
    assert login("222222") == 0
    login(PIN_301)  # the locked menu hangs up before the digits: SIPp reports the early BYE
    daemon.wait_for("agent_login_locked")
    assert members(lab_ami) == {}
