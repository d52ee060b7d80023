"""Live state over a real mosquitto while the lab places real calls; a broker outage loses nothing."""

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lab import traffic
from tests.support import mosquitto
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab

# Longer than the calls placed meanwhile, four keepalives (5 s, below) and ten reconnect attempts
# (reconnect_max 2 s): the daemon has long noticed the broker gone when it comes back.
OUTAGE_S = 20


@pytest.fixture
def broker():
    server = mosquitto.Mosquitto().start()
    yield server
    server.stop()


def messages(path, topic_end):
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["topic"].endswith(topic_end):
            out.append(item["payload"])
    return out


def test_wallboard_topics_follow_the_calls_and_survive_a_broker_outage(lab, lab_ami, broker, tmp_path):
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db",
                           mqtt={"enabled": True, "port": broker.port, "keepalive": 5, "reconnect_min": 0.5,
                                 "reconnect_max": 2})
    daemon.start()
    daemon.wait_for("mqtt_connected")
    feed = tmp_path / "board.jsonl"
    sub = subprocess.Popen([sys.executable, "-m", "tests.support.mqtt_sub", str(broker.port), "pbx-bridge/#",
                            str(feed)])
    try:
        time.sleep(1.5)
        answered = traffic.answered(lab_ami)["calls"][0]
        abandoned = traffic.abandoned(lab_ami)["calls"][0]
        time.sleep(2)
        board = messages(feed, "/queue/support")
        waits = [m["waiting"] for m in board]
        assert 1 in waits and waits[-1] == 0, "a waiting call appeared and went"
        assert board[-1]["answered_today"] >= 1 and board[-1]["abandoned_today"] >= 1
        assert any(m["longest_wait_s"] for m in board if m["waiting"])
        # support is rrmemory: which agent rings first depends on the calls earlier tests placed
        states = {m["state"] for agent in ("Agent 201", "Agent 202") for m in messages(feed, f"/agent/{agent}")}
        assert states & {"ringing", "in-call"}, states
        before = board[-1]

        broker.stop()
        outage_started = time.monotonic()
        during = [traffic.answered(lab_ami)["calls"][0], traffic.abandoned(lab_ami)["calls"][0],
                  traffic.timeout(lab_ami)["calls"][0]]
        time.sleep(max(0, OUTAGE_S - (time.monotonic() - outage_started)))
        broker.start()
        daemon.wait_for("mqtt_connected", count=2, timeout=30)
        time.sleep(3)
        after = messages(feed, "/queue/support")[-1]
        assert after["answered_today"] == before["answered_today"] + 1
        assert after["abandoned_today"] == before["abandoned_today"] + 1
        assert after["offered_today"] == before["offered_today"] + 3
    finally:
        sub.terminate()
    assert daemon.stop() == 0
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    rows = [json.loads(line) for line in daemon.export("calls", str(today - timedelta(days=1)),
                                                        str(today + timedelta(days=1))).splitlines()]
    recorded = {r["uniqueid"] for r in rows}
    assert {c["callid"] for c in [answered, abandoned, *during]} <= recorded, "no call record lost"
