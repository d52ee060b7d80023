"""Call monitoring in the lab (rules §4): a SIPp caller talks to the SIPp agent agent301 through the
queue lab-sip; the supervisor's SIPp phone super601 dials *850301, keys the PIN, listens (ChanSpy
runs on the agent's channel, seen on AMI), and presses 4 during the listen; the real daemon
records the listen and the score against the queued call's uniqueid, and the score shows in
`qa list` and in the monthly report (JSON), as the CLI prints them."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from lab.sipp import SippAgent, sipp_call, sipp_menu
from pbx_bridge.rota.values import hash_pin
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab

PIN = "246810"
CALLER = "13912345678"


def rota(path, pin_hash):
    path.write_text(yaml.safe_dump({
        "start": "2026-01-05", "calendar": "weekdays",
        "companies": [{"id": "team", "name": "Team", "mailboxes": ["8001@default"], "queues": ["lab-sip"],
                       "agents": [{"employee_no": "0301", "name": "彭建华", "endpoint": "PJSIP/agent301",
                                   "pin_hash": pin_hash}]}]}, allow_unicode=True), encoding="utf-8")
    return str(path)


def cli(daemon, *args):
    result = daemon.cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_supervisor_listens_to_a_live_call_scores_it_and_the_score_is_in_the_monthly_report(lab, tmp_path):
    pin_hash = hash_pin(PIN)
    supervisor = {"name": "王主管", "endpoint": "PJSIP/super601", "employee_no": "0601", "pin_hash": pin_hash,
                  "companies": ["team"]}
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db",
                           voicemail={"rota": rota(tmp_path / "rota.yaml", pin_hash)},
                           qa={"enabled": True, "supervisors": [supervisor]}).start()
    daemon.wait_for("fastagi_listening")
    with lab.ami() as ami, SippAgent("agent301", ring=1, log_dir=tmp_path), ThreadPoolExecutor(1) as pool:
        ami.action("QueuePause", Interface="PJSIP/agent301", Paused="false")
        caller = sipp_call(hold=25, caller_num=CALLER, wait=False, log_dir=tmp_path)
        connected = ami.wait_event(lambda e: e.get("Event") == "AgentConnect" and e.get("Queue") == "lab-sip",
                                   timeout=30)
        assert connected is not None, "the SIPp agent never answered the queued call"
        call_uid = connected["Uniqueid"]

        # The supervisor: *850301, the PIN and #, then 4 during the listen (ChanSpy's exit key: the score).
        menu = pool.submit(sipp_menu, "*850301", "1500:246810#,6000:4", from_user="super601", port=5611,
                           timeout=45, log_dir=tmp_path)
        spying = ami.wait_event(lambda e: e.get("Event") == "ChanSpyStart", timeout=20)
        assert spying is not None, "ChanSpy never started"
        assert spying["SpyerChannel"].startswith("PJSIP/super601-")
        assert spying["SpyeeChannel"].startswith("PJSIP/agent301-")
        channels = ami.action("CoreShowChannels", collect="CoreShowChannelsComplete")["__events__"]
        assert any(c["Channel"].startswith("PJSIP/super601-") and c["Application"] == "ChanSpy" for c in channels)
        assert menu.result(timeout=60) == 0, (tmp_path / "sipp-menu.err").read_text()[-2000:]
        assert ami.wait_event(lambda e: e.get("Event") == "ChanSpyStop", timeout=10) is not None
        assert caller.wait(60) == 0
    scored = daemon.wait_for("qa_call_scored")[0]
    assert (scored["uniqueid"], scored["score"], scored["supervisor"]) == (call_uid, 4, "王主管")
    daemon.wait_for("call_recorded")
    time.sleep(1)  # the store writer's last batch (flush_interval 0.2 s)
    assert daemon.stop() == 0

    [listen] = json.loads(cli(daemon, "qa", "list", "--format", "json"))
    assert (listen["kind"], listen["uniqueid"], listen["by"], listen["score"]) == ("listen", call_uid, "王主管", 4)
    assert listen["listened_s"] > 3, "the listen lasted until the key was pressed"
    calls = {c["uniqueid"]: c for c in map(json.loads, daemon.export("calls", "2000-01-01", "2100-01-01").splitlines())}
    assert calls[call_uid]["outcome"] == "answered" and calls[call_uid]["caller_num"] == CALLER
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    quality = json.loads(cli(daemon, "report", "monthly", "--month", month, "--format", "json"))["quality"]
    [company] = quality["companies"]
    assert (company["calls_monitored"], company["average_score"]) == (1, 4.0)
    assert [(s["uniqueid"], s["score"], s["by"]) for s in company["lowest"]] == [(call_uid, 4, "王主管")]
    assert [(a["agent"], a["average_score"]) for a in quality["agents"]] == [(calls[call_uid]["agent"], 4.0)]


def test_a_whispering_supervisor_is_asked_for_the_score_when_the_call_ends_first(lab, tmp_path):
    pin_hash = hash_pin(PIN)
    supervisor = {"name": "王主管", "endpoint": "PJSIP/super601", "employee_no": "0601", "pin_hash": pin_hash,
                  "companies": ["*"], "whisper": True}
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db",
                           voicemail={"rota": rota(tmp_path / "rota.yaml", pin_hash)},
                           qa={"enabled": True, "supervisors": [supervisor]}).start()
    daemon.wait_for("fastagi_listening")
    with lab.ami() as ami, SippAgent("agent301", ring=1, log_dir=tmp_path), ThreadPoolExecutor(1) as pool:
        ami.action("QueuePause", Interface="PJSIP/agent301", Paused="false")
        caller = sipp_call(hold=12, caller_num=CALLER, wait=False, log_dir=tmp_path)
        connected = ami.wait_event(lambda e: e.get("Event") == "AgentConnect" and e.get("Queue") == "lab-sip",
                                   timeout=30)
        assert connected is not None, "the SIPp agent never answered the queued call"
        # *87: whisper. The caller hangs up ~12 s after the answer; the supervisor presses 5 at the beep.
        menu = pool.submit(sipp_menu, "*870301", "1500:246810#,10000:5", from_user="super601", port=5611,
                           timeout=45, log_dir=tmp_path)
        spying = ami.wait_event(lambda e: e.get("Event") == "ChanSpyStart", timeout=20)
        assert spying is not None and spying["SpyeeChannel"].startswith("PJSIP/agent301-")
        assert menu.result(timeout=60) == 0, (tmp_path / "sipp-menu.err").read_text()[-2000:]
        assert caller.wait(30) == 0
    scored = daemon.wait_for("qa_call_scored")[0]
    assert (scored["uniqueid"], scored["score"]) == (connected["Uniqueid"], 5)
    time.sleep(1)
    assert daemon.stop() == 0
    [listen] = json.loads(cli(daemon, "qa", "list", "--format", "json"))
    assert (listen["kind"], listen["score"]) == ("whisper", 5)
