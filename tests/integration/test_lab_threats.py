"""Threatening calls in the lab (rules §6 恐吓电话): a SIPp agent presses *8 (SIP INFO DTMF) in a
queued call; the real daemon records the call (the file grows in the chroot while the call goes on),
and rings the team lead's SIPp phone, which acknowledges with a key. In a second run the lead answers
but never acknowledges, and the manager's phone rings once the (shortened) ack_timeout has passed."""

import json
import sqlite3
import time

import pytest

from lab.sipp import SippAgent
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab

CALLER = "13933334444"
RECORDINGS = "/var/spool/asterisk/monitor/pbx-bridge-evidence"


def threats_config(ack_timeout: str, ring_again_after: str) -> dict:
    return {"enabled": True, "ack_timeout": ack_timeout, "ring_again_after": ring_again_after, "manager_attempts": 1,
            "poll_interval": 0.5, "recording_dir": RECORDINGS,
            "companies": {"jingan": {"name": "上海静安有限公司", "queues": ["lab-ring1"],
                                     "lead": {"name": "组长王", "endpoint": "PJSIP/lead401"},
                                     "manager": {"name": "经理李", "endpoint": "PJSIP/manager402"}}}}


def place(lab, hold: int):
    """One call into lab-ring1 (member Local/agent301@pbx-bridge-agents/n) from a customer who talks."""
    with lab.ami() as ami:
        ami.action("QueuePause", Interface="Local/agent301@pbx-bridge-agents/n", Paused="false")
        reply = ami.action("Originate", Channel="Local/s@pbx-bridge-inbound/n", Context="lab-talking-customer",
                           Exten="talk", Priority="1", CallerID=f'"恐吓者" <{CALLER}>', Timeout="30000", Async="true",
                           Variable=["__PBXB_QUEUE=lab-ring1", f"HOLD={hold}"])
        assert reply.get("Response") == "Success", reply  # queued: an error is said here, not 60 s later


def size(path) -> int:
    return path.stat().st_size if path.exists() else -1


def test_star8_records_the_call_and_the_lead_acknowledges_with_a_key(lab, tmp_path):
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db",
                           threats=threats_config(ack_timeout="60s", ring_again_after="30s")).start()
    daemon.wait_for("fastagi_listening")
    with SippAgent("agent301", ring=1, log_dir=tmp_path, keys=[(2, "*8")]), \
            SippAgent("lead401", port=5411, ring=1, log_dir=tmp_path, keys=[(3, "1")]), \
            SippAgent("manager402", port=5421, ring=1, log_dir=tmp_path):
        place(lab, hold=16)
        [marked] = daemon.wait_for("threat_marked", timeout=60, number=CALLER)
        assert marked["desk"] == "PJSIP/agent301" and marked["company"] == "jingan"
        assert marked["recording_source"] == "threat" and marked["recording"].startswith(RECORDINGS + "/")
        recording = lab.root / marked["recording"].lstrip("/")
        deadline = time.monotonic() + 10
        while size(recording) <= 44 and time.monotonic() < deadline:  # 44: a WAV header and nothing yet
            time.sleep(0.2)
        first = size(recording)
        assert first > 0, f"{recording} was not written"
        deadline = time.monotonic() + 10  # MixMonitor writes in bursts: wait for the next one, not a fixed time
        while size(recording) <= first and time.monotonic() < deadline:
            time.sleep(0.2)
        assert size(recording) > first, "the recording grows while the call goes on"

        [rung] = daemon.wait_for("threat_person_rung", timeout=60, role="lead")
        assert rung["result"] == "answered" and rung["endpoint"] == "PJSIP/lead401"
        [acked] = daemon.wait_for("threat_acknowledged", timeout=40)
        assert acked["by"] == "组长王" and acked["via"] == "phone"
        time.sleep(1)  # the store writer's last batch (flush_interval 0.2 s)
    assert daemon.stop() == 0
    assert not [line for line in daemon.lines() if line.get("event") == "threat_manager_called"]

    [threat] = json.loads(daemon.cli("threats", "list", "--format", "json").stdout)
    assert (threat["number"], threat["caller_name"], threat["endpoint"], threat["agent"], threat["queue"],
            threat["company"]) == (CALLER, "恐吓者", "PJSIP/agent301", "Agent 301", "lab-ring1", "jingan")
    assert threat["status"] == "acknowledged" and threat["acknowledged_by"] == "组长王"
    assert threat["recording"] == marked["recording"]
    shown = json.loads(daemon.cli("threats", "show", threat["threat_id"], "--format", "json").stdout)
    assert [(c["role"], c["how"], c["result"]) for c in shown["contacts"]] == [
        ("wallboard", "alert", "sent"), ("lead", "call", "answered")]


def test_nobody_acknowledges_and_the_manager_is_rung_after_the_timeout(lab, tmp_path):
    """Here the agent warns the caller first (*7, which records the call as nuisance evidence), then
    marks the threat (*8), which links that same recording."""
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db", nuisance={"warnings_to_screen": 0},
                           threats=threats_config(ack_timeout="8s", ring_again_after="8s")).start()
    daemon.wait_for("fastagi_listening")
    with SippAgent("agent301", ring=1, log_dir=tmp_path, keys=[(2, "*7"), (2, "*8")]), \
            SippAgent("lead401", port=5411, ring=1, log_dir=tmp_path), \
            SippAgent("manager402", port=5421, ring=1, log_dir=tmp_path):
        place(lab, hold=30)
        [marked] = daemon.wait_for("threat_marked", timeout=60, number=CALLER)
        assert marked["recording_source"] == "call", "the *7 recording, not a second one"
        recording = lab.root / marked["recording"].lstrip("/")
        first = size(recording)
        deadline = time.monotonic() + 10  # MixMonitor writes in bursts: wait for the next one, not a fixed time
        while size(recording) <= first and time.monotonic() < deadline:
            time.sleep(0.2)
        assert first > 0 and size(recording) > first, "the warned call's recording grows"
        [called] = daemon.wait_for("threat_manager_called", timeout=40)
        assert called["why"] == "nobody acknowledged within 8 s"
        [rung] = daemon.wait_for("threat_person_rung", role="manager", timeout=30)
        assert rung["result"] == "answered" and rung["endpoint"] == "PJSIP/manager402"
        daemon.wait_for("threat_unacknowledged", timeout=30)
        time.sleep(1)
    assert daemon.stop() == 0
    leads = [line for line in daemon.lines() if line.get("event") == "threat_person_rung" and line["role"] == "lead"]
    assert leads and all(line["result"] == "answered" for line in leads), "the lead answered, and never pressed 1"
    with sqlite3.connect(tmp_path / "store.db") as db:
        status, why, lead_at, manager_at = db.execute(
            "SELECT status, why_manager, lead_told_at, manager_told_at FROM threats").fetchone()
        contacts = db.execute("SELECT role, result FROM threat_contacts ORDER BY seq").fetchall()
        acks = db.execute("SELECT count(*) FROM threat_acks").fetchone()[0]
    assert status == "unacknowledged" and why == "nobody acknowledged within 8 s"
    assert lead_at is not None and manager_at is not None and manager_at > lead_at
    assert contacts[0] == ("wallboard", "sent") and contacts[-1] == ("manager", "answered") and acks == 0
    with sqlite3.connect(tmp_path / "store.db") as db:
        warned = db.execute("SELECT recording FROM nuisance_warnings").fetchall()
    assert warned == [(marked["recording"],)] and "/nuisance-pbx1-" in marked["recording"], \
        "the nuisance warning links the recording of the warned call"
