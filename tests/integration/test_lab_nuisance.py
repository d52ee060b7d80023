"""Nuisance calls in the lab (rules §6): a SIPp agent phone presses *7 twice (SIP INFO DTMF) in a
queued call; the real daemon records the evidence and ends the call with the notice; the number is
then screened at the inbound entry, and released when its screen ends. An admin's screen and lift
with the CLI take effect on the running daemon."""

import json
import sqlite3
import time

import pytest

from lab import traffic
from lab.sipp import SippAgent
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab

WARNED = "13911112222"
ADMIN = "13922223333"
SCREEN_FOR = 30  # s: long enough to place the next call while screened, short enough to wait out


def place(lab, caller_num, hold):
    """One call into lab-ring1 (member Local/agent301@pbx-bridge-agents/n); every raw AMI event."""
    with lab.ami() as ami:
        tracker = traffic.Tracker(ami)
        call = traffic.originate(ami, queue="lab-ring1", hold=hold, caller_num=caller_num, caller_name="骚扰")
        tracker.wait([call], timeout=120)
        return call, [e for e in tracker.events if e.get("Linkedid") == call["linkedid"]]


def heard_notice(events) -> bool:
    """The caller's channel (;2 of the originate, the one in [pbx-bridge-inbound]) played the notice."""
    return any(e.get("Event") == "Newexten" and e.get("Context") == "pbx-bridge-nuisance-notice"
               and e.get("Application") == "Playback" and e.get("Channel", "").startswith("Local/s@pbx-bridge-inbound")
               for e in events)


def queued(events) -> bool:
    return any(e.get("Event") == "QueueCallerJoin" for e in events)


def test_a_warned_number_is_screened_and_then_released(lab, tmp_path):
    with lab.ami() as ami:
        ami.action("QueuePause", Interface="Local/agent301@pbx-bridge-agents/n", Paused="false")
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db",
                           nuisance={"screen_for": f"{SCREEN_FOR}s", "refresh_interval": 0.5}).start()
    daemon.wait_for("fastagi_listening")

    # The agent warns, then warns again: the caller hears the notice and the call ends.
    with SippAgent("agent301", ring=1, log_dir=tmp_path, keys=[(2, "*7"), (2, "*7")]):
        first, events = place(lab, WARNED, hold=120)
    assert first["agent"] == "Agent 301"
    assert heard_notice(events)
    ended = daemon.wait_for("nuisance_call_ended", timeout=60, number=WARNED)
    assert ended[0]["warnings"] == 2 and ended[0]["agent"] == "Agent 301"

    # The same number again, while screened: the notice, and never a queue.
    with SippAgent("agent301", ring=1, log_dir=tmp_path):
        _, events = place(lab, WARNED, hold=20)
        assert heard_notice(events) and not queued(events)
        screened = daemon.wait_for("inbound_screened", timeout=60, number=WARNED)
        assert screened[0]["source"] == "warnings"

        # Released when screen_for has passed since the last warning: queued again.
        daemon.wait_for("nuisance_screen_ended", timeout=SCREEN_FOR + 30, number=WARNED)
        third, events = place(lab, WARNED, hold=3)
        assert queued(events) and not heard_notice(events) and third["agent"] == "Agent 301"

        # An admin screens another number with the CLI; the running daemon applies it, then the lift.
        added = daemon.cli("nuisance", "add", ADMIN, "--for", "1h", "--reason", "threatened the agent", "--by", "lead")
        assert added.returncode == 0, added.stderr
        daemon.wait_for("nuisance_screen_started", timeout=60, number=ADMIN)
        assert ADMIN in daemon.cli("nuisance", "list").stdout
        _, events = place(lab, ADMIN, hold=20)
        assert heard_notice(events) and not queued(events)
        lifted = daemon.cli("nuisance", "lift", ADMIN, "--reason", "apologised in writing")
        assert lifted.returncode == 0 and "lifted" in lifted.stdout, lifted.stderr
        daemon.wait_for("nuisance_screen_ended", timeout=60, number=ADMIN)
        fifth, events = place(lab, ADMIN, hold=3)
        assert queued(events) and not heard_notice(events)
        daemon.wait_for("call_recorded", count=3)
        time.sleep(1)  # the store writer's last batch (flush_interval 0.2 s)

        # With the daemon down the entry fails open: even a screened number reaches the queue.
        assert daemon.cli("nuisance", "add", ADMIN, "--permanent", "--reason", "again").returncode == 0
        daemon.wait_for("nuisance_screen_started", timeout=60, number=ADMIN, source="admin", until="permanent")
    assert daemon.stop() == 0
    # ...and the agent's *7 gets an error tone (nothing was recorded), and the call goes on.
    with SippAgent("agent301", ring=1, log_dir=tmp_path, keys=[(2, "*7")]):
        sixth, events = place(lab, ADMIN, hold=8)
    assert queued(events) and not heard_notice(events) and sixth["agent"] == "Agent 301"
    statuses = {e.get("Value") for e in events if e.get("Event") == "VarSet" and e.get("Variable") == "AGISTATUS"}
    assert statuses == {"FAILURE"}
    assert any(e.get("Event") == "Newexten" and e.get("Context") == "pbx-bridge-nuisance-warn"
               and e.get("AppData") == "1?Playback(beeperr)" and e.get("Channel", "").startswith("PJSIP/agent301")
               for e in events), "the error tone, on the agent's channel"

    # The evidence: both warnings, with the number, the agent and the call they were given in.
    evidence = [json.loads(line) for line in daemon.cli("nuisance", "warnings", "--number", WARNED, "--format", "jsonl")
                .stdout.splitlines()]
    assert [(w["seq"], w["agent"], w["call_uniqueid"]) for w in evidence] == [
        (1, "Agent 301", first["callid"]), (2, "Agent 301", first["callid"])]
    calls = {c["uniqueid"]: c for c in map(json.loads, daemon.export("calls", "2000-01-01", "2100-01-01").splitlines())}
    assert calls[first["callid"]]["outcome"] == "answered"
    assert calls[first["callid"]]["ended_by"] == "caller", "ending a nuisance call is not the agent hanging up"
    assert {third["callid"], fifth["callid"]} <= set(calls) and len(calls) == 3, "screened calls never joined a queue"
    with sqlite3.connect(tmp_path / "store.db") as db:
        rows = db.execute("SELECT number, source FROM nuisance_screened_calls ORDER BY screened_at").fetchall()
    assert rows == [(WARNED, "warnings"), (ADMIN, "admin")]
