"""The wallboard page in headless Chromium, on a real mosquitto (websockets listener), fed by the project's
own LiveState and MqttPublisher, so the payloads are exactly the daemon's. The page is served by
WallboardServer, as in the daemon.

Off CI the tests skip when chromium or playwright is missing; in CI (CI=true) they fail instead.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import shutil
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import aiomqtt
import pytest

from pbx_bridge.calls.records import CallRecord, OfferRecord
from pbx_bridge.config import load_config
from pbx_bridge.live.state import LiveState
from pbx_bridge.live.mqtt import MqttPublisher
from pbx_bridge.live.wallboard_server import WallboardServer
from tests.support import mosquitto, wallboard

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PREFIX = "pbx-bridge/pbx1"


def need(reason: str | None) -> None:
    if reason:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def broker():
    need(None if mosquitto.available() else "mosquitto not installed: apt-get install mosquitto")
    need(wallboard.available())
    server = mosquitto.Mosquitto(websockets_port=mosquitto.free_port()).start()
    yield server
    server.stop()


class FakeDaemon:
    """LiveState + MqttPublisher + WallboardServer on their own event loop in a thread, like the daemon's
    tasks; the test changes the state through `do` (on that loop, so never mid-flush)."""

    def __init__(self, broker_port: int, tmp_path, page_defaults: dict | None = None) -> None:
        path = tmp_path / "c.yaml"
        path.write_text(f"ami:\n  host: h\nmqtt:\n  enabled: true\n  port: {broker_port}\n  reconnect_min: 0.1\n"
                        f"  reconnect_max: 0.5\n  publish_interval: 0.2\n")
        self.cfg = load_config(str(path), env={}).mqtt
        self.state = LiveState(ZoneInfo("Asia/Shanghai"))
        self.server = WallboardServer("127.0.0.1", 0, page_defaults=page_defaults)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.publisher = MqttPublisher(self.cfg, "pbx1", self.state)
        self.publishing: asyncio.Task = self.call(lambda: asyncio.create_task(self.publisher.run(), name="mqtt"))
        self.tasks = [asyncio.run_coroutine_threadsafe(self.server.run(), self.loop)]
        deadline = time.monotonic() + 5
        while not (self.server.listening and self.publisher.connected):
            assert time.monotonic() < deadline, "fake daemon did not start"
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/"

    def call(self, fn, *args):
        async def run():
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)

    def do(self, fn) -> None:
        self.call(fn, self.state)

    def stop_publisher(self) -> None:
        """A clean daemon stop (the daemon cancels its tasks): publishes status offline."""
        self.call(self.publishing.cancel)
        asyncio.run_coroutine_threadsafe(asyncio.wait({self.publishing}, timeout=10), self.loop).result(15)
        assert self.publishing.cancelled(), self.publishing

    def close(self) -> None:
        if not self.publishing.done():
            self.stop_publisher()
        async def cancel_the_rest() -> None:
            """Cancelling the thread-side future only asks the loop's task to stop: wait until it has."""
            rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_the_rest(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def daemon(broker, tmp_path):
    fake = FakeDaemon(broker.port, tmp_path)
    yield fake
    fake.close()


def join(queue: str, uniqueid: str, number: str, ago: float = 0.0) -> dict:
    return {"Event": "QueueCallerJoin", "Queue": queue, "Uniqueid": uniqueid, "CallerIDNum": number,
            "Timestamp": f"{time.time() - ago:.6f}"}


def leave(queue: str, uniqueid: str) -> dict:
    return {"Event": "QueueCallerLeave", "Queue": queue, "Uniqueid": uniqueid, "Timestamp": f"{time.time():.6f}"}


def record(queue: str, uniqueid: str, number: str, outcome: str, wait_s: float) -> CallRecord:
    return CallRecord(uniqueid=uniqueid, linkedid=uniqueid, pbx="pbx1", queue=queue, caller_num=number,
                      caller_name="", joined_at=datetime.now(timezone.utc), outcome=outcome, wait_s=wait_s)


def member(name: str, interface: str, queue: str, status: str = "1", paused: str = "0", reason: str = "") -> dict:
    return {"Event": "QueueMemberStatus", "Queue": queue, "MemberName": name, "Interface": interface,
            "Status": status, "Paused": paused, "PausedReason": reason, "Timestamp": f"{time.time():.6f}"}


def test_a_waiting_call_ticks_then_goes_when_answered_and_an_abandon_counts(daemon, broker, tmp_path):
    daemon.do(lambda s: s.handle(member("王二", "PJSIP/202", "support")))
    daemon.do(lambda s: s.handle(join("support", "u1", "13800138000", ago=5)))
    with wallboard.open_wallboard(broker.websockets_port, PREFIX, url=daemon.url) as board:
        first = board.wait(lambda: (q := board.queue("support")) and q["waiting"] == "1" and q)
        assert board.banner() == "" and not board.stale()
        assert 4 <= first["longest_wait_s"] <= 15
        time.sleep(1.1)  # no new message is needed for the wait to grow: the page ticks by itself
        second = board.queue("support")
        assert second["longest_wait_s"] > first["longest_wait_s"]
        assert first["levels"]["longest_wait"] == "ok" and first["service_level"] == "—"

        # answered: gone from the queue, counted, service level 100%
        def answered(s):
            s.handle(leave("support", "u1"))
            s.handle({"Event": "AgentConnect", "Queue": "support", "Uniqueid": "u1", "HoldTime": "6",
                      "Timestamp": f"{time.time():.6f}"})
            s.on_record(record("support", "u1", "13800138000", "answered", 6.2))
        daemon.do(answered)
        q = board.wait(lambda: (q := board.queue("support")) and q["waiting"] == "0" and q)
        assert q["longest_wait"] == "—" and q["answered"] == "1" and q["service_level"] == "100%"
        assert q["abandoned"] == "0" and q["abandon_rate"] == "0%"

        # an abandon: the figure moves, both rates miss their targets and turn red
        def abandoned(s):
            s.handle(join("support", "u2", "13900139000"))
            s.handle(leave("support", "u2"))
            s.on_record(record("support", "u2", "13900139000", "abandoned", 41.0))
        daemon.do(abandoned)
        q = board.wait(lambda: (q := board.queue("support")) and q["abandoned"] == "1" and q)
        assert q["abandon_rate"] == "50%" and q["levels"]["abandon_rate"] == "red"
        assert q["service_level"] == "50%" and q["levels"]["service_level"] == "red"
        assert q["level"] == "red"

        # a long wait turns amber past 60 s, red past 600 s
        daemon.do(lambda s: s.handle(join("support", "u3", "13700137000", ago=61)))
        q = board.wait(lambda: (q := board.queue("support")) and q["waiting"] == "1" and q)
        assert q["levels"]["longest_wait"] == "amber" and q["levels"]["waiting"] == "amber"
        daemon.do(lambda s: s.handle(join("sales", "u4", "13600136000", ago=601)))
        s = board.wait(lambda: board.queue("sales"))
        assert s["levels"]["longest_wait"] == "red" and s["longest_wait_s"] >= 601
        board.wait(lambda: any("Long wait" in a and "13600136000" in a for a in board.alerts()))
        assert not [c for c in board.console if c.startswith(("error", "pageerror"))], board.console
        board.screenshot(tmp_path / "queues.png")


def test_agents_show_state_pause_reason_misses_and_the_alert_feed(broker, tmp_path):
    # served with defaults from the daemon: the URL gives nothing
    daemon = FakeDaemon(broker.port, tmp_path, page_defaults={"broker": f"ws://127.0.0.1:{broker.websockets_port}",
                                                              "prefix": PREFIX, "title": "静安 support"})
    try:
        def agents(s):
            s.handle(member("张三丰", "PJSIP/201", "support", status="1", paused="1", reason="meal"))
            s.handle(member("王二", "PJSIP/202", "support", status="2"))
            s.handle(member("Agent 203", "PJSIP/203", "support", status="5"))
        daemon.do(agents)
        with wallboard.open_wallboard(None, None, url=daemon.url) as board:
            zhang = board.wait(lambda: board.agent("张三丰"))
            assert zhang["state_key"] == "paused" and "Paused" in zhang["state"]
            assert zhang["pause_reason"].startswith("meal")
            assert zhang["time_in_state_s"] is not None and zhang["time_in_state_s"] < 10
            wang = board.agent("王二")
            assert wang["state_key"] == "in-call" and wang["pause_reason"] == "" and wang["misses"] == ""
            assert board.page.title().startswith("静安 support")
            q = board.wait(lambda: board.queue("support"))
            assert q["agents"] == "0 available · 1 on call · 1 paused · 1 offline"

            # Chinese names really render with glyphs (not tofu): measured width of a CJK font
            width = board.page.evaluate("""() => { const e = [...document.querySelectorAll('.aname')]
                .find(n => n.textContent === '张三丰'); return e.getBoundingClientRect().width; }""")
            assert width > 30

            # three unanswered calls from one number: a repeat-caller alert; then a ring-twice pause
            def repeat(s):
                for n in range(3):
                    s.on_record(record("support", f"r{n}", "13812345678", "abandoned", 30.0))
                for n in range(2):
                    s.on_record(OfferRecord(uniqueid=f"o{n}", offer_id=f"o{n}", pbx="pbx1", queue="support",
                                            agent="202", interface="PJSIP/202", offered_at=datetime.now(timezone.utc),
                                            ring_s=10.0, rings=2, result="no-answer"))
            daemon.do(repeat)
            daemon.do(lambda s: s.on_notice({"type": "ring-twice-pause", "agent": "王二", "interface": "PJSIP/202",
                                             "misses": 2, "reason": "ring-twice"}))
            daemon.do(lambda s: s.handle(member("王二", "PJSIP/202", "support", status="1", paused="1",
                                                reason="ring-twice")))
            alerts = board.wait(lambda: len(board.alerts()) >= 2 and board.alerts())
            assert "王二" in alerts[0] and "Paused" in alerts[0]  # newest first
            assert "Repeat caller" in alerts[1] and "13812345678" in alerts[1] and "3×" in alerts[1]
            wang = board.wait(lambda: (a := board.agent("王二")) and a["state_key"] == "paused" and a)
            assert "ring-twice" in wang["pause_reason"] and wang["misses_today"] == 2 and "2×" in wang["misses"]
            board.screenshot(tmp_path / "agents.png")
    finally:
        daemon.close()


def test_the_page_says_when_the_broker_is_lost_and_when_the_daemon_is_offline(daemon, broker, tmp_path):
    daemon.do(lambda s: s.handle(join("support", "u1", "13800138000", ago=3)))
    with wallboard.open_wallboard(broker.websockets_port, PREFIX, url=daemon.url) as board:
        board.wait(lambda: (q := board.queue("support")) and q["waiting"] == "1")
        assert board.banner() == ""
        broker.stop()
        text = board.wait(lambda: board.banner())
        assert "Connection to the broker lost" in text and board.stale()
        assert board.queue("support")["waiting"] == "1"  # last known figures stay, greyed
        board.screenshot(tmp_path / "lost.png")
        broker.start()
        board.wait(lambda: board.banner() == "", timeout=15)  # mqtt.js reconnects by itself
        assert not board.stale()
        board.wait(lambda: daemon.publisher.connected, timeout=10)

        daemon.stop_publisher()  # the daemon goes: status offline (its last will says the same)
        text = board.wait(lambda: "offline" in board.banner() and board.banner())
        assert "daemon offline" in text and board.stale()
        board.screenshot(tmp_path / "offline.png")


async def test_the_shipped_mosquitto_config_lets_the_wallboard_user_only_read(tmp_path):
    """wallboard/mosquitto-wallboard.conf + mosquitto.acl on a real mosquitto (ports and paths swapped)."""

    need(None if mosquitto.available() and shutil.which("mosquitto_passwd") else "mosquitto not installed")
    shipped = Path(__file__).resolve().parents[2] / "wallboard"
    port, ws_port = mosquitto.free_port(), mosquitto.free_port()
    conf = (shipped / "mosquitto-wallboard.conf").read_text()
    conf = conf.replace("listener 1883 127.0.0.1", f"listener {port} 127.0.0.1")
    conf = conf.replace("listener 9001 127.0.0.1", f"listener {ws_port} 127.0.0.1")
    conf = re.sub(r"^password_file .*$", f"password_file {tmp_path}/passwd", conf, flags=re.M)
    conf = re.sub(r"^acl_file .*$", f"acl_file {shipped}/mosquitto.acl", conf, flags=re.M)
    # as root, mosquitto would drop to the `mosquitto` user, who cannot read pytest's tmp dir
    (tmp_path / "m.conf").write_text(conf + f"persistence false\nuser {getpass.getuser()}\n")
    for n, (user, password) in enumerate((("pbx-bridge", "d-secret"), ("wallboard", "w-secret"))):
        subprocess.run(["mosquitto_passwd", *(["-c"] if n == 0 else []), "-b", str(tmp_path / "passwd"), user, password],
                       check=True, capture_output=True)
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(tmp_path / "m.conf")],
                                stdout=subprocess.DEVNULL, stderr=log)
    try:
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", ws_port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("mosquitto did not start: " + (tmp_path / "log").read_text())
        topic = "pbx-bridge/pbx1/status"
        async with aiomqtt.Client("127.0.0.1", port, username="pbx-bridge", password="d-secret") as daemon:
            await daemon.publish(topic, '{"state": "online"}', qos=1, retain=True)
        async with aiomqtt.Client("127.0.0.1", ws_port, username="wallboard", password="w-secret",
                                  transport="websockets") as board:
            await board.publish(topic, '{"state": "offline"}', qos=1, retain=True)  # dropped by the ACL
        async with aiomqtt.Client("127.0.0.1", ws_port, username="wallboard", password="w-secret",
                                  transport="websockets") as board:
            await board.subscribe(topic, qos=1)
            async with asyncio.timeout(5):
                message = await anext(aiter(board.messages))
            assert message.payload == b'{"state": "online"}'
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", ws_port, transport="websockets"):  # no login: refused
                pass
    finally:
        proc.terminate()
        proc.wait(10)


def test_incident_and_recovery_alerts_read_as_sentences_on_the_board(daemon, broker):
    daemon.do(lambda s: s.handle(join("support", "u1", "13800138000")))
    with wallboard.open_wallboard(broker.websockets_port, PREFIX, url=daemon.url) as board:
        board.wait(lambda: board.queue("support"))  # subscribed: alerts are not retained
        daemon.do(lambda s: s.on_notice({"type": "incident-opened", "title": "callers waiting, every agent paused",
                                         "queue": "support", "detail": "2 waiting, 3 members all paused"}))
        daemon.do(lambda s: s.on_notice({"type": "recovery", "agent": "彭建华", "kind": "member-missing",
                                         "queue": "support", "action": "QueueAdd"}))
        daemon.do(lambda s: s.on_notice({"type": "incident-closed", "title": "AMI lost or Asterisk restarted",
                                         "duration_s": 95, "calls_affected": 4}))
        alerts = board.wait(lambda: len(board.alerts()) >= 3 and board.alerts())
        assert "Incident over" in alerts[0] and "1:35" in alerts[0] and "4 calls affected" in alerts[0]
        assert "Recovered" in alerts[1] and "彭建华 put back in support" in alerts[1]
        assert "Incident" in alerts[2] and "every agent paused (support): 2 waiting" in alerts[2]
