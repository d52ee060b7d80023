"""The wallboard page in headless Chromium, on the daemon's live MQTT state, while the lab places calls."""

import os
import shutil
import time
from pathlib import Path

import pytest

from lab import traffic
from tests.support import mosquitto, wallboard
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "wallboard.png"


@pytest.fixture
def broker():
    server = mosquitto.Mosquitto(websockets_port=mosquitto.free_port()).start()
    yield server
    server.stop()


def test_the_board_shows_waits_answers_abandons_and_pauses_as_they_happen(lab, broker, tmp_path):
    reason = wallboard.available()
    if reason:
        pytest.fail(f"wallboard test cannot run: {reason}") if IN_CI else pytest.skip(reason)
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db",
                           mqtt={"enabled": True, "port": broker.port, "reconnect_min": 0.5, "reconnect_max": 2})
    daemon.start()
    daemon.wait_for("mqtt_connected")
    with lab.ami() as ami, wallboard.open_wallboard(broker.websockets_port, "pbx-bridge/pbx1") as board:
        for ext in (201, 202):
            traffic.set_agent(ami, ext, mode="noanswer")
        ami.action("QueuePause", Interface="Local/202@lab-agents/n", Paused="false")
        traffic.originate(ami, queue="support", hold=40, caller_num="13800138000", caller_name="张三丰")
        first = board.wait(lambda: (q := board.queue("support")) and q["waiting"] == "1" and q, timeout=20)
        time.sleep(2.2)
        later = board.queue("support")
        assert later["longest_wait_s"] >= first["longest_wait_s"] + 2, "the wait ticks on the board"
        answered_before = int(later["answered"])

        traffic.set_agent(ami, 201, ring=1)  # the next ring of 201 is answered
        traffic.set_agent(ami, 202, ring=1)
        board.wait(lambda: board.queue("support")["waiting"] == "0", timeout=30)
        board.wait(lambda: int(board.queue("support")["answered"]) == answered_before + 1, timeout=10)

        abandoned_before = int(board.queue("support")["abandoned"])
        for ext in (201, 202):
            traffic.set_agent(ami, ext, mode="noanswer")
        traffic.originate(ami, queue="support", hold=3, caller_num="13900000123", caller_name="王二")
        board.wait(lambda: int(board.queue("support")["abandoned"]) == abandoned_before + 1, timeout=30)

        ami.action("QueuePause", Interface="Local/201@lab-agents/n", Paused="true", Reason="meal")
        tile = board.wait(lambda: (a := board.agent("Agent 201")) and "meal" in a.get("pause_reason", "") and a,
                          timeout=15)
        assert "paused" in tile["state_key"].lower() or "pause" in tile["state"].lower()

        # under load: several callers waiting at once, for the README's picture
        for i in range(4):
            traffic.originate(ami, queue="support", hold=25, caller_num=f"1390000020{i}", caller_name=f"客户{i}")
        board.wait(lambda: int(board.queue("support")["waiting"]) >= 4, timeout=20)
        time.sleep(3)
        shot = tmp_path / "wallboard.png"
        board.screenshot(shot)
        if not IN_CI:
            SCREENSHOT.parent.mkdir(exist_ok=True)
            shutil.copy(shot, SCREENSHOT)
        ami.action("QueuePause", Interface="Local/201@lab-agents/n", Paused="false")
    assert daemon.stop() == 0
