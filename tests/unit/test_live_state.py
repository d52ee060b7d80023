"""Live state from a recorded real-Asterisk stream, and its publication on a real mosquitto."""

import asyncio
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import aiomqtt
import pytest

from pbx_bridge.ami.transcript import replay
from pbx_bridge.calls.tracker import WANTED_EVENTS, CallTracker
from pbx_bridge.config import load_config
from pbx_bridge.live.state import LiveState
from pbx_bridge.live.mqtt import MqttPublisher
from pbx_bridge.ring import RingConfig
from tests.support import mosquitto
from tests.support.tasks import cancel_and_wait

TRANSCRIPTS = Path(__file__).parent.parent / "transcripts"
CN = RingConfig(cadence="cn", two_rings="end_of_second_ring")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def feed(name, state, clock, stop_after=None):
    """Replay a transcript; the clock follows the events' own timestamps."""
    tracker = CallTracker("pbx1", CN, state.on_record, clock=clock)
    seen = []

    def handle(event):
        if event.get("Timestamp"):
            clock.now = float(event["Timestamp"])
        tracker.handle(event)
        state.handle(event)
        seen.append((event.get("Event"), {q: state.queue_snapshot(q)["waiting"] for q in state.queues()}))

    replay((TRANSCRIPTS / name).read_bytes(), handle, WANTED_EVENTS)
    return seen


def test_waiting_calls_rise_and_fall_and_today_counts_follow():
    clock = Clock()
    state = LiveState(ZoneInfo("Asia/Shanghai"), clock=clock)
    seen = feed("mixed.ami", state, clock)
    peak = max(w.get("support", 0) for _, w in seen)
    assert peak >= 2
    assert seen[-1][1]["support"] == 0
    snap = state.queue_snapshot("support")
    assert snap["offered_today"] == 20
    assert snap["answered_today"] + snap["abandoned_today"] <= 20
    assert snap["abandon_rate_today"] == pytest.approx(snap["abandoned_today"] / 20)


def test_an_agent_removed_from_a_queue_and_added_shows_it():
    clock = Clock()
    state = LiveState(ZoneInfo("Asia/Shanghai"), clock=clock)
    feed("exit_empty.ami", state, clock)
    agent = state.agent_snapshot("Local/209@lab-agents/n")
    assert agent["agent"] == "Agent 209" and agent["queues"] == []


def test_a_ten_minute_wait_and_a_repeat_caller_raise_alerts():
    clock = Clock()
    state = LiveState(ZoneInfo("Asia/Shanghai"), long_wait_s=600, repeat_caller_count=3, clock=clock)
    clock.now = 1795459900.0
    state.handle({"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": "u1", "CallerIDNum": "139",
                  "Timestamp": "1795459900.0"})
    clock.now += 599
    state.tick()
    assert state.take_alerts() == []
    clock.now += 2
    state.tick()
    state.tick()
    (alert,) = state.take_alerts()
    assert alert["type"] == "long-wait" and alert["wait_s"] >= 600


@pytest.fixture
def broker():
    if not mosquitto.available():
        pytest.skip("mosquitto not installed: apt-get install mosquitto")
    server = mosquitto.Mosquitto().start()
    yield server
    server.stop()


def mqtt_config(tmp_path, port):
    path = tmp_path / "c.yaml"
    path.write_text(f"ami:\n  host: h\nmqtt:\n  enabled: true\n  port: {port}\n  reconnect_min: 0.1\n"
                    f"  reconnect_max: 0.5\n  publish_interval: 0.1\n")
    return load_config(str(path), env={}).mqtt


async def collect(port, topic, seconds):
    got = {}
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(topic, qos=1)
        try:
            async with asyncio.timeout(seconds):
                async for message in client.messages:
                    got.setdefault(str(message.topic), []).append(json.loads(message.payload))
        except TimeoutError:
            pass
    return got


async def test_state_is_published_retained_and_again_after_the_broker_returns(broker, tmp_path):
    clock = Clock()
    state = LiveState(ZoneInfo("Asia/Shanghai"), clock=clock)
    feed("answered.ami", state, clock)
    publisher = MqttPublisher(mqtt_config(tmp_path, broker.port), "pbx1", state)
    task = asyncio.create_task(publisher.run())
    got = await collect(broker.port, "pbx-bridge/#", 1.5)
    assert got["pbx-bridge/pbx1/status"][-1]["state"] == "online"
    assert got["pbx-bridge/pbx1/queue/support"][-1]["answered_today"] == 1

    broker.stop()
    state.handle({"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": "x1", "CallerIDNum": "1",
                  "Timestamp": str(clock.now)})
    await asyncio.sleep(1.0)
    assert not publisher.connected
    broker.start()
    got = await collect(broker.port, "pbx-bridge/#", 2.5)  # a late subscriber gets it all, retained
    assert got["pbx-bridge/pbx1/queue/support"][-1]["waiting"] == 1
    assert got["pbx-bridge/pbx1/status"][-1]["state"] == "online"
    await cancel_and_wait(task)  # how the daemon stops it: the wallboard is told, retained
    got = await collect(broker.port, "pbx-bridge/pbx1/status", 1.0)
    assert got["pbx-bridge/pbx1/status"] == [{"state": "offline", "since": got["pbx-bridge/pbx1/status"][0]["since"]}]


async def test_a_broker_that_stopped_answering_cannot_hold_the_daemons_stop(broker, tmp_path):
    import os
    import signal

    from pbx_bridge.live import mqtt as publisher_module

    state = LiveState(ZoneInfo("Asia/Shanghai"))
    publisher = MqttPublisher(mqtt_config(tmp_path, broker.port), "pbx1", state)
    task = asyncio.create_task(publisher.run())
    while not publisher.connected:
        await asyncio.sleep(0.02)
    os.kill(broker.proc.pid, signal.SIGSTOP)  # the TCP connection stays up; nothing answers
    try:
        # the offline message's own bound, plus aiomqtt's disconnect: a hang check, not a timing
        await cancel_and_wait(task, within=publisher_module.OFFLINE_TIMEOUT_S + 12)
    finally:
        os.kill(broker.proc.pid, signal.SIGCONT)


async def test_a_standing_notice_stays_retained_until_cleared_also_across_a_broker_outage(broker, tmp_path):
    state = LiveState(ZoneInfo("Asia/Shanghai"))
    publisher = MqttPublisher(mqtt_config(tmp_path, broker.port), "pbx1", state)
    state.stand("threat/7", {"type": "threat", "title": "Threat", "text": "desk 301", "severity": "critical"})
    task = asyncio.create_task(publisher.run())
    got = await collect(broker.port, "pbx-bridge/pbx1/standing/#", 1.5)
    assert got["pbx-bridge/pbx1/standing/threat_7"][-1]["text"] == "desk 301"

    broker.stop()
    await asyncio.sleep(1.0)
    state.clear("threat/7")  # cleared while the broker is away: cleared once it is back
    state.stand("incident/1", {"type": "incident", "title": "Incident", "text": "AMI lost", "severity": "warning"})
    broker.start()
    got = await collect_raw(broker.port, "pbx-bridge/pbx1/standing/#", 2.5)
    assert got.get("pbx-bridge/pbx1/standing/threat_7", [b""])[-1] == b""
    assert json.loads(got["pbx-bridge/pbx1/standing/incident_1"][-1])["text"] == "AMI lost"
    await cancel_and_wait(task)


async def collect_raw(port, topic, seconds):
    got = {}
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(topic, qos=1)
        try:
            async with asyncio.timeout(seconds):
                async for message in client.messages:
                    got.setdefault(str(message.topic), []).append(bytes(message.payload))
        except TimeoutError:
            pass
    return got


def test_a_record_of_another_room_handed_to_core_record_is_ignored_not_a_crash():
    """core.record hands every room's records to every on_record handler (an escalation step, say)."""
    from dataclasses import dataclass

    @dataclass
    class StepRecord:
        queue: str = "support"
        action: str = "escalate"

    state = LiveState(ZoneInfo("Asia/Shanghai"))
    state.on_record(StepRecord())
    assert state.today == {}
