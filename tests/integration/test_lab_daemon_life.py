"""`systemctl stop` on a daemon connected to the lab's Asterisk: SIGTERM to the real process.

The AMI states without Asterisk (refused, silent, still connecting) are in test_daemon_life.py.
"""

import pytest

from tests.support import mosquitto
from tests.support.daemon import DaemonProcess
from tests.support.mqtt_sub import retained

pytestmark = pytest.mark.lab

HANG_S = 25  # a hang check: systemd's TimeoutStopSec is 20 s, then SIGKILL


@pytest.fixture
def broker():
    server = mosquitto.Mosquitto().start()
    yield server
    server.stop()


def test_sigterm_to_a_daemon_connected_to_asterisk_exits_0_and_leaves_the_wallboard_saying_offline(
        lab, broker, tmp_path):
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db",
                           mqtt={"enabled": True, "port": broker.port, "reconnect_min": 0.5, "reconnect_max": 2})
    daemon.start()  # AMI logged in to the lab's Asterisk
    daemon.wait_for("mqtt_connected")
    daemon.wait_for("fastagi_listening")
    assert retained(broker.port, "pbx-bridge/pbx1/status")["state"] == "online"

    assert daemon.sigterm(within=HANG_S) == 0

    status = retained(broker.port, "pbx-bridge/pbx1/status")  # a wallboard that looks after the daemon is gone
    assert status is not None and status["state"] == "offline", status
    events = [line.get("event") for line in daemon.lines()]
    assert "daemon_task_failed" not in events and events[-1] == "daemon_signalled"
