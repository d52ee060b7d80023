"""Ring-twice in the lab: SIPp phones answering after 1, 2 and 3 rings, the real daemon's FastAGI."""

import asyncio
import json
import subprocess
import sys
import time

import pytest

from lab import traffic
from lab.sipp import SippAgent
from tests.support.daemon import DaemonProcess
from tests.unit.test_fastagi_server import fire

pytestmark = pytest.mark.lab

TWO_RINGS = 6.0  # the China cadence (1 s on, 4 s off), to the end of the second ring
# lab-ring1's one phone (agent301) answers 2 s into its ring: the caller stays 8 s after the center
# answered (lab-ring2's calls keep 20 s: 303's two rings, then 302's 5.3 s)
RING1_HOLD = 8


def place(lab, queue, hold=20, caller_num="13900000088"):
    """One call; returns the lab's record of it and every event of the raw AMI connection."""
    with lab.ami() as ami:
        tracker = traffic.Tracker(ami)
        call = traffic.originate(ami, queue=queue, hold=hold, caller_num=caller_num, caller_name="两声")
        tracker.wait([call], timeout=90)
        return call, tracker.events


def caller_ring_seconds(events, call):
    """From the caller's leg starting to ring to the center answering it (AMI timestamps)."""
    leg = [e for e in events if e.get("Linkedid") == call["linkedid"] and e.get("Channel", "").endswith(";1")
           and e.get("Event") == "Newstate"]
    ringing = next(float(e["Timestamp"]) for e in leg if e.get("ChannelStateDesc") == "Ringing")
    up = next(float(e["Timestamp"]) for e in leg if e.get("ChannelStateDesc") == "Up")
    return up - ringing


def unpause_all(lab):
    with lab.ami() as ami:
        for agent in ("agent301", "agent302", "agent303"):
            ami.action("QueuePause", Interface=f"Local/{agent}@pbx-bridge-agents/n", Paused="false")


@pytest.fixture
def phones(tmp_path):
    """agent301 answers in the first ring, agent302 in the second, agent303 only in the third."""
    with SippAgent("agent301", ring=2.0, log_dir=tmp_path), SippAgent("agent302", ring=5.3, log_dir=tmp_path), \
            SippAgent("agent303", ring=10.5, log_dir=tmp_path):
        yield


def test_ring_twice_enforced_measured_and_the_repeat_misser_paused(lab, phones, tmp_path):
    unpause_all(lab)
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db").start()
    daemon.wait_for("fastagi_listening")

    first, events = place(lab, "lab-ring2")
    assert caller_ring_seconds(events, first) == pytest.approx(TWO_RINGS, abs=0.5)
    assert first["agent"] == "Agent 302", "the 3-ring phone lost the call to the next agent"
    second, _ = place(lab, "lab-ring2")
    assert second["agent"] == "Agent 302"
    daemon.wait_for("agent_paused_ring_no_answer", timeout=10)
    shown = lab.cli("queue show lab-ring2")
    line_303 = next(line for line in shown.splitlines() if "Agent 303" in line)
    assert "paused" in line_303.lower() and "ring-no-answer" in line_303

    # a thousand malformed FastAGI sessions, then the daemon still serves AGI and AMI
    async def flood():
        for start in range(0, 1000, 100):
            await asyncio.gather(*(fire(4573, bytes([i % 251]) * (i % 300), i % 3 == 0)
                                   for i in range(start, start + 100)))
    asyncio.run(flood())
    third, events = place(lab, "lab-ring1", hold=RING1_HOLD)
    assert third["agent"] == "Agent 301"
    assert caller_ring_seconds(events, third) == pytest.approx(TWO_RINGS, abs=0.5)
    daemon.wait_for("call_recorded", count=3)
    time.sleep(1)
    assert daemon.stop() == 0

    offers = [json.loads(line) for line in daemon.export("offers", "2000-01-01", "2100-01-01").splitlines()]
    by_agent = {}
    for offer in offers:
        by_agent.setdefault(offer["agent"], []).append(offer)
    assert [o["result"] for o in by_agent["Agent 303"]] == ["no-answer", "no-answer"]
    assert all(o["ring_s"] == pytest.approx(TWO_RINGS, abs=0.3) and o["rings"] == 2 for o in by_agent["Agent 303"])
    assert [(o["result"], o["rings"]) for o in by_agent["Agent 302"]] == [("answered", 2), ("answered", 2)]
    assert [(o["result"], o["rings"]) for o in by_agent["Agent 301"]] == [("answered", 1)]

    report = subprocess.run(
        [sys.executable, "-m", "pbx_bridge", "report", "ring-twice", "-c", str(daemon.config_path), "--from",
         "2000-01-01", "--to", "2100-01-01", "--by", "month", "--format", "json"],
        capture_output=True, text=True, check=True, env=daemon.env)
    rows = {r["agent"]: r for r in json.loads(report.stdout)}
    assert rows["Agent 301"]["share_within_two_rings"] == 1.0
    assert rows["Agent 302"]["share_within_two_rings"] == 1.0
    assert rows["Agent 303"]["share_within_two_rings"] == 0.0 and rows["Agent 303"]["missed"] == 2
    unpause_all(lab)


def test_calls_still_reach_agents_when_the_daemon_is_down(lab, phones):
    unpause_all(lab)
    lab.clear_queue_log()
    call, events = place(lab, "lab-ring1", hold=RING1_HOLD, caller_num="13900000099")
    assert call["agent"] == "Agent 301"
    # the dialplan's own default: two rings of the China cadence
    assert caller_ring_seconds(events, call) == pytest.approx(TWO_RINGS, abs=0.5)
    statuses = [e.get("Value") for e in events if e.get("Event") == "VarSet" and e.get("Variable") == "AGISTATUS"]
    assert statuses and set(statuses) == {"FAILURE"}
    assert any("|CONNECT|" in line for line in lab.queue_log_lines())
