"""Escalation in the lab (rules §3): SIPp callers pile up in lab-sip while its agents are paused;
the ladder adds the supervisor's SIPp phone (super501) through the shipped agent leg, it rings and
takes a caller; the queue calms, the supervisor is left in while on the call, then removed."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from lab.sipp import SippAgent, sipp_call
from tests.support import mosquitto
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab

QUEUE = "lab-sip"
SUPER = "Local/super501@pbx-bridge-agents/n"
AGENTS = ("PJSIP/agent301", "PJSIP/agent302")


def pause_agents(ami, paused: bool) -> None:
    for interface in AGENTS:
        ami.action("QueuePause", Queue=QUEUE, Interface=interface, Paused="true" if paused else "false",
                   Reason="escalation-test")


def cli_json(daemon, *args) -> tuple[int, object]:
    result = subprocess.run([sys.executable, "-m", "pbx_bridge", "escalation", *args, "-c", str(daemon.config_path),
                             "--format", "json"], capture_output=True, text=True, env=daemon.env)
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else None


@pytest.fixture
def broker():
    server = mosquitto.Mosquitto().start()
    yield server
    server.stop()


def feed(path, topic_end):
    if not path.exists():
        return []
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [item["payload"] for item in items if item["topic"].endswith(topic_end)]


def test_callers_piling_up_bring_the_supervisor_in_and_a_calm_queue_lets_him_go(lab, lab_ami, broker, tmp_path):
    lab_ami.action("QueueRemove", Queue=QUEUE, Interface=SUPER)  # a previous run's, if it failed half-way
    pause_agents(lab_ami, True)
    board = tmp_path / "board.jsonl"
    sub = subprocess.Popen([sys.executable, "-m", "tests.support.mqtt_sub", str(broker.port), "pbx-bridge/#",
                            str(board)])
    daemon = DaemonProcess(
        tmp_path, f"sqlite:///{tmp_path}/store.db",
        mqtt={"enabled": True, "port": broker.port, "reconnect_min": 0.5, "reconnect_max": 2},
        escalation={"enabled": True, "interval": 0.5, "retry_remove_s": 1, "state_file": str(tmp_path / "esc.json"),
                    "supervisors": {"Supervisor Wu": "super501"},
                    "queues": {QUEUE: {"calm_for": 3, "steps": [
                        {"name": "supervisors", "waiting": 2, "add": [{"member": "Supervisor Wu", "penalty": 1}]}]}}})
    callers = []
    try:
        with SippAgent("super501", ring=1, port=5511, log_dir=tmp_path):
            daemon.start()
            callers = [sipp_call(hold=14, caller_num=f"1390000050{i}", port=5071 + 10 * i, wait=False,
                                 log_dir=tmp_path) for i in range(2)]
            up = daemon.wait_for("escalation_step_up", timeout=40)[0]
            assert up["queue"] == QUEUE and up["step"] == 1 and "waiting 2 >= 2" in up["reason"]
            assert "Supervisor Wu" in lab.cli(f"queue show {QUEUE}")
            code, [status] = cli_json(daemon, "status")
            assert code == 0 and status["step"] == 1 and status["step_name"] == "supervisors"

            # the supervisor's phone rings and takes a caller; the queue is calm, but he is on the call
            daemon.wait_for("escalation_remove_deferred", timeout=30)
            assert "Supervisor Wu" in lab.cli(f"queue show {QUEUE}")
            daemon.wait_for("escalation_step_down", timeout=60)
            assert "Supervisor Wu" not in lab.cli(f"queue show {QUEUE}")
            for caller in callers:
                caller.wait(60)
        daemon.wait_for("call_recorded", count=2, timeout=30)
        time.sleep(1.5)
        code, [status] = cli_json(daemon, "status")
        assert code == 0 and status["step"] == 0
        assert daemon.stop() == 0
    finally:
        sub.terminate()
        sub.wait(5)
        for caller in callers:
            if caller.poll() is None:
                caller.kill()
        pause_agents(lab_ami, False)
        lab_ami.action("QueueRemove", Queue=QUEUE, Interface=SUPER)

    calls = [json.loads(line) for line in daemon.export("calls", "2000-01-01", "2100-01-01").splitlines()]
    assert "Supervisor Wu" in {c["agent"] for c in calls if c["outcome"] == "answered"}
    code, history = cli_json(daemon, "history", "--from", "2000-01-01", "--to", "2100-01-01")
    actions = [h["action"] for h in history]
    assert actions[:2] == ["escalate", "add-member"]
    assert actions.index("remove-deferred") < actions.index("remove-member") < actions.index("de-escalate")

    # every step an MQTT alert; the standing line while escalated, cleared (empty retained) after
    alerts = [a for a in feed(board, "/alerts") if a.get("type") == "escalation"]
    assert [(a["direction"], a["step"]) for a in alerts] == [("up", 1), ("down", 1)]
    assert alerts[0]["actions"] == ["Supervisor Wu added"] and alerts[0]["queue"] == QUEUE
    standing = feed(board, f"/standing/escalation-{QUEUE}")
    assert standing[0]["title"] == f"Queue {QUEUE} escalated" and standing[-1] is None
