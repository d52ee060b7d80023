"""How the real daemon process ends: SIGTERM in every AMI state, and a task that fails while AMI is away.

No Asterisk here (AMI is unreachable or a silent socket on purpose): the lab's own tests of a
connected daemon are in test_lab_daemon_life.py. Each daemon gets free ports of its own.
"""

from __future__ import annotations

import socket
import time
from contextlib import contextmanager

import pytest

from tests.support import mosquitto
from tests.support.daemon import DaemonProcess
from tests.support.mqtt_sub import retained

# A hang check, not a speed check: systemd's TimeoutStopSec is 20 s, then SIGKILL.
HANG_S = 25


@pytest.fixture
def broker():
    if not mosquitto.available():
        pytest.skip("mosquitto not installed")
    server = mosquitto.Mosquitto().start()
    yield server
    server.stop()


def closed_port() -> int:
    """A port nobody listens on: every connection is refused at once."""
    return mosquitto.free_port()


@contextmanager
def silent_listener():
    """Accepts AMI's connection and never says a word: the daemon waits for its login's answer."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock, sock.getsockname()[1]


@contextmanager
def full_backlog():
    """A listener whose one-slot backlog is taken: the kernel drops the daemon's SYNs, connect() waits."""
    with socket.socket() as sock, socket.socket() as filler:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        filler.connect(sock.getsockname())
        yield sock, sock.getsockname()[1]


def daemon_on(tmp_path, ami_port: int, **overrides) -> DaemonProcess:
    return DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db",
                         ami={"port": ami_port, "connect_timeout": 60, "reconnect_min": 0.05, "reconnect_max": 0.2},
                         agi={"port": mosquitto.free_port()}, **overrides)


def with_mqtt(broker) -> dict:
    return {"mqtt": {"enabled": True, "port": broker.port, "reconnect_min": 0.2, "reconnect_max": 1}}


def test_sigterm_while_ami_refuses_ends_the_daemon_with_status_0_and_says_offline(tmp_path, broker):
    daemon = daemon_on(tmp_path, closed_port(), **with_mqtt(broker)).start(wait_connected=False)
    daemon.wait_for("mqtt_connected")
    daemon.wait_for("ami_connection_failed", count=5)  # the reconnect loop is turning fast
    assert retained(broker.port, "pbx-bridge/pbx1/status")["state"] == "online"
    assert daemon.sigterm(within=HANG_S) == 0
    assert retained(broker.port, "pbx-bridge/pbx1/status")["state"] == "offline"


def test_sigterm_while_logging_in_to_a_silent_ami_ends_the_daemon_with_status_0(tmp_path, broker):
    with silent_listener() as (listener, port):
        daemon = daemon_on(tmp_path, port, **with_mqtt(broker)).start(wait_connected=False)
        listener.settimeout(30)
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(30)
            assert b"Action: Login" in conn.recv(4096)  # the daemon now waits for an answer that never comes
            daemon.wait_for("mqtt_connected")
            assert daemon.sigterm(within=HANG_S) == 0
    assert retained(broker.port, "pbx-bridge/pbx1/status")["state"] == "offline"


def test_sigterm_while_the_ami_connection_is_still_being_made_ends_the_daemon_with_status_0(tmp_path, broker):
    with full_backlog() as (_, port):
        daemon = daemon_on(tmp_path, port, **with_mqtt(broker)).start(wait_connected=False)
        daemon.wait_for("mqtt_connected")
        time.sleep(0.5)
        assert not [line for line in daemon.lines() if line.get("event") in ("ami_connected",
                                                                              "ami_connection_failed")]
        assert daemon.sigterm(within=HANG_S) == 0
    assert retained(broker.port, "pbx-bridge/pbx1/status")["state"] == "offline"


def test_a_task_that_fails_while_ami_is_down_ends_the_daemon_non_zero_and_says_which(tmp_path):
    """The issue's hang: a task fails while AMI refuses; the daemon must not live on with FastAGI
    closed, silent, and deaf to SIGTERM. The real command, its watchdog task made to raise."""
    agi_port = mosquitto.free_port()
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db",
                           ami={"port": closed_port(), "reconnect_min": 0.01, "reconnect_max": 0.05},
                           agi={"port": agi_port})
    daemon.start(wait_connected=False, module="tests.support.failing_run")
    code = daemon.exited(within=HANG_S)
    assert code == 1
    failed = [line for line in daemon.lines() if line.get("event") == "daemon_task_failed"]
    assert [line["task"] for line in failed] == ["watchdog"], daemon.log_path.read_text()[-3000:]
    assert "Traceback" in failed[0].get("exception", ""), "the failure is logged with its traceback"
    assert "WatchdogBroke" in failed[0]["exception"]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", agi_port), timeout=2).close()


def test_a_wallboard_port_taken_while_ami_is_down_ends_the_start_with_exit_2(tmp_path):
    """The issue's reproduction (the wallboard's port taken, AMI refusing): one line, exit 2, and no
    FastAGI left listening (the ports are taken before anything else starts)."""
    agi_port = mosquitto.free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        taken = squatter.getsockname()[1]
        daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db",
                               ami={"port": closed_port(), "reconnect_min": 0.01, "reconnect_max": 0.05},
                               agi={"port": agi_port}, wallboard={"enabled": True, "port": taken})
        daemon.start(wait_connected=False)
        code = daemon.exited(within=HANG_S)
    assert code == 2
    said = [line for line in daemon.lines() if line.get("event") == "<non-json>"]
    assert [line["raw"] for line in said if line["raw"].startswith("pbx-bridge: ")] == [
        f"pbx-bridge: wallboard: cannot listen on 127.0.0.1:{taken}: Address already in use"]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", agi_port), timeout=2).close()
