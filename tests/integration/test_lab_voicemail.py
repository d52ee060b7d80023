"""Voicemail duty in the lab: messages left by callers, the duty agents called at the listening
time, playback over the daemon's AGI, a callback, messages moved to Old, and the records."""

import json
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pbx_bridge.rota.model import hash_pin
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab

TZ = ZoneInfo("Asia/Shanghai")
PIN_HASH = hash_pin("2468")


def rota_yaml(first: str, today: date, count: int = 1, interval: int = 120) -> str:
    return f"""
start: {today}
timezone: Asia/Shanghai
calendar: {{kind: weekdays, extra_workdays: [{today}]}}
listenings: {{first: "{first}", count: {count}, interval_minutes: {interval}, round_gap_minutes: 0}}
rounds: [[jingan, baoshan]]
companies:
  - id: jingan
    name: 上海静安有限公司
    mailboxes: ["8001@default"]
    agents:
      - {{employee_no: "001", name: 王一, endpoint: Local/211@lab-duty/n, pin_hash: "{PIN_HASH}"}}
      - {{employee_no: "002", name: 王二, endpoint: Local/212@lab-duty/n, pin_hash: "{PIN_HASH}"}}
  - id: baoshan
    name: 上海宝山有限公司
    mailboxes: ["8002@default"]
    agents:
      - {{employee_no: "101", name: 李一, endpoint: Local/213@lab-duty/n, pin_hash: "{PIN_HASH}"}}
      - {{employee_no: "102", name: 李二, endpoint: Local/214@lab-duty/n, pin_hash: "{PIN_HASH}"}}
leave:
  - {{agent: "001", dates: [{today}], note: 年假}}
"""


def leave_message(ami, mailbox, number, name):
    ami.action("Originate", Channel=f"Local/{mailbox}@pbx-bridge-leave-message/n", Context="lab-leave-message",
               Exten="speak", Priority="1", CallerID=f'"{name}" <{number}>', Async="true", Timeout="10000")


def inbox(lab, box, folder="INBOX"):
    path = lab.root / f"var/spool/asterisk/voicemail/default/{box}/{folder}"
    return sorted(p.name for p in path.glob("msg*.txt")) if path.exists() else []


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_duty_agents_listen_call_back_and_every_message_is_handled_once(lab, tmp_path):
    spool = lab.root / "var/spool/asterisk/voicemail/default"
    for box in ("8001", "8002"):
        shutil.rmtree(spool / box, ignore_errors=True)
    with lab.ami() as ami:
        for ext, keys in (("211", "3/4"), ("212", "3/4,3/1"), ("213", "3/4"), ("214", "3/4")):
            for key, value in (("mode", "answer"), ("ring", "1"), ("keys", keys)):
                ami.action("DBPut", Family="lab", Key=f"{ext}/{key}", Val=value)
        leave_message(ami, "8001", "13900000011", "先来的")
        wait_until(lambda: len(inbox(lab, "8001")) == 1, 30, "the first message")
        time.sleep(1.1)  # origtime has a one-second resolution: keep the order unambiguous
        leave_message(ami, "8001", "13900000012", "后来的")
        leave_message(ami, "8002", "13800138000", "张三丰")
        wait_until(lambda: len(inbox(lab, "8001")) == 2 and len(inbox(lab, "8002")) == 1, 30, "three messages")

    now = datetime.now(TZ)
    first = (now + timedelta(seconds=12)).strftime("%H:%M:%S")
    rota = tmp_path / "rota.yaml"
    rota.write_text(rota_yaml(first, now.date()), encoding="utf-8")
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db", voicemail={
        "enabled": True, "rota": str(rota), "spool_dir": str(lab.root / "var/spool/asterisk/voicemail"),
        "asterisk_spool_dir": "/var/spool/asterisk/voicemail", "retry_minutes": 0.05})
    with lab.ami() as watcher:
        daemon.start()
        taken = daemon.wait_for("voicemail_listening_taken", count=2, timeout=60)
        assert {(line["company"], line["agent"]) for line in taken} == {("jingan", "王二"), ("baoshan", "李一")}
        daemon.wait_for("voicemail_playback_ended", count=2, timeout=90)
        wait_until(lambda: not inbox(lab, "8001") and not inbox(lab, "8002"), 20, "INBOXes emptied")
        watcher.pump(1)
        channels = [e.get("Channel", "") for e in watcher.events if e.get("Event") == "Newchannel"]
    assert inbox(lab, "8001", "Old") == ["msg0000.txt", "msg0001.txt"]
    assert inbox(lab, "8002", "Old") == ["msg0000.txt"]
    assert not any(c.startswith("Local/211@lab-duty") for c in channels), "the agent on leave was not called"
    assert any(c.startswith("Local/212@lab-duty") for c in channels)
    assert any(c.startswith("Local/13900000012@pbx-bridge-callback") for c in channels), "the customer was dialled"
    played = [line["played"] for line in daemon.lines() if line.get("event") == "voicemail_playback_ended"]
    assert sorted(played) == [1, 2], "each message played once"

    # an edit that breaks the rota is refused and the daemon carries on with the old one
    rota.write_text(rota.read_text().replace("rounds:", "roundz:"), encoding="utf-8")
    refused = daemon.wait_for("rota_reload_refused", timeout=15)
    assert "roundz" in refused[0]["error"]
    # a good edit takes effect: a second listening, a few seconds ahead, is held (no messages now)
    second = datetime.now(TZ) + timedelta(seconds=8)
    rota.write_text(rota_yaml((second - timedelta(minutes=1)).strftime("%H:%M:%S"), now.date(), count=2, interval=1),
                    encoding="utf-8")
    daemon.wait_for("voicemail_listening_no_messages", count=2, timeout=40)
    time.sleep(1)
    assert daemon.stop() == 0

    day = str(now.date())
    report = subprocess.run(
        [sys.executable, "-m", "pbx_bridge", "voicemail", "report", "-c", str(daemon.config_path), "--from", day,
         "--to", day, "--format", "json"], capture_output=True, text=True, check=True, env=daemon.env)
    rows = {r["company"]: r for r in json.loads(report.stdout)}
    assert rows["jingan"]["messages_left"] == 2 and rows["jingan"]["handled"] == 2
    assert rows["jingan"]["called_back"] == 1 and rows["jingan"]["first_callback_avg_min"] is not None
    assert rows["baoshan"]["messages_left"] == 1 and rows["baoshan"]["handled"] == 1
    assert rows["jingan"]["listenings"] == 1 and rows["jingan"]["listenings_missed"] == 0
