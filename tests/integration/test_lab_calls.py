"""A real Asterisk 22, the project's dialplan, the real daemon: what it records is what happened."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lab import traffic
from tests.support import queue_log
from tests.support.mosquitto import free_port
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab

CALL_EVENTS = {"call_joined", "offer_closed", "call_answered", "call_left_unanswered", "call_recorded",
               "call_abandoned", "call_ended_during_ami_gap", "call_closed_stale"}


def local_days():
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return str(today - timedelta(days=1)), str(today + timedelta(days=1))


def exported(daemon, kind="calls"):
    first, last = local_days()
    return [json.loads(line) for line in daemon.export(kind, first, last).splitlines()]


def wait_recorded(daemon, count, timeout=60):
    daemon.wait_for("call_recorded", count=count, timeout=timeout)
    time.sleep(1.0)  # let the writer's batch land


def test_fifty_real_calls_match_asterisks_queue_log(lab, lab_ami, tmp_path):
    lab.clear_queue_log()
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db").start()
    # The scenarios of queues and agents of their own (lab-empty: 209; lab-busy: 205, 206, 309;
    # lab-sip: the SIPp phones) run beside those of support and lab-linear (agents 201, 202), each
    # side on its own AMI connection: the same calls, in less time.
    with ThreadPoolExecutor(1) as pool, lab.ami() as side_ami:
        side = pool.submit(lambda: [traffic.SCENARIOS[name](side_ami) for name in (
            "exit_empty", "busy_unavailable", "sip_call")])
        results = [traffic.SCENARIOS[name](lab_ami) for name in (
            "answered", "answered_agent_hangup", "abandoned", "ring_no_answer", "timeout", "chinese_caller")]
        results.append(traffic.mixed(lab_ami, n=42, seed=11, gap=1.0))
        results += side.result()
    done = [c for r in results for c in r["calls"]]
    assert len(done) >= 50
    wait_recorded(daemon, len(done))
    assert daemon.stop() == 0

    records = {r["uniqueid"]: r for r in exported(daemon)}
    oracle = queue_log.parse(lab.queue_log_lines())
    assert len(records) == len(oracle) == len(done)
    assert set(records) == set(oracle)
    outcomes = set()
    for callid, truth in oracle.items():
        record = records[callid]
        outcomes.add(record["outcome"])
        assert record["outcome"] == truth.outcome, callid
        assert record["agent"] == truth.agent, callid
        assert record["wait_s"] == pytest.approx(truth.wait_s, abs=1.0), callid
        assert record["incomplete"] is False
    assert outcomes >= {"answered", "abandoned", "timeout", "exitempty"}
    assert any(r["caller_name"] == "张三丰" for r in records.values())
    # queue_log RINGNOANSWER|ms: a ring that ran its full member timeout (4 s in the lab queues) is
    # a no-answer offer; 0 ms is a busy member
    def calls_with(test):
        return {callid for callid, truth in oracle.items() if any(test(ms) for _, ms in truth.ring_no_answer)}

    offers = exported(daemon, "offers")
    with_result = lambda result: {o["uniqueid"] for o in offers if o["result"] == result}  # noqa: E731
    # (a ring cut short by the caller's max wait is classified in the replay tests, on timeout.ami)
    ran_out, busy = calls_with(lambda ms: ms >= 3900), calls_with(lambda ms: ms == 0)
    assert ran_out and ran_out <= with_result("no-answer")
    assert busy and busy <= with_result("busy")

    lines = daemon.lines()
    assert all(line.get("uniqueid") for line in lines if line.get("event") in CALL_EVENTS)
    assert "pbx-lab-secret" not in daemon.log_path.read_text()


def test_daemon_reconnects_after_an_asterisk_restart_without_duplicates(lab, tmp_path):
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db").start()
    with lab.ami() as ami:
        traffic.set_agent(ami, 201, ring=1)
        traffic.set_agent(ami, 202, ring=1)
        for i in range(3):
            traffic.originate(ami, queue="support", hold=30, caller_num=f"1390000900{i}")
        cut = {line["uniqueid"] for line in daemon.wait_for("call_joined", count=3)}
        time.sleep(2)
    lab.restart()
    daemon.wait_for("ami_connected", count=2, timeout=60)
    gap = daemon.wait_for("ami_gap")[0]
    assert gap["gap_s"] >= 0
    with lab.ami() as ami:
        after = traffic.answered(ami)["calls"][0]
    wait_recorded(daemon, 4)
    assert daemon.stop() == 0

    rows = exported(daemon)
    keys = [r["uniqueid"] for r in rows]
    assert len(keys) == len(set(keys)), "no duplicates"
    assert cut | {after["callid"]} == set(keys)
    by_id = {r["uniqueid"]: r for r in rows}
    assert by_id[after["callid"]]["outcome"] == "answered"
    assert not by_id[after["callid"]]["incomplete"]
    for callid in cut:  # cut by the restart: recorded once, and nothing invented about them
        assert by_id[callid]["queue"] == "support"


@pytest.mark.postgres
def test_two_daemons_share_one_postgresql_without_collisions(lab, lab_ami, pg_server, tmp_path):
    first = DaemonProcess(tmp_path / "a", pg_server.url, pbx="pbx-a").start()
    # one FastAGI port per host: the second daemon stands for another PBX host's, on a free port
    # (the lab's dialplan calls 4573, the first daemon's)
    second = DaemonProcess(tmp_path / "b", pg_server.url, pbx="pbx-b", agi={"port": free_port()}).start()
    calls = traffic.answered(lab_ami)["calls"] + traffic.abandoned(lab_ami)["calls"]
    for daemon in (first, second):
        wait_recorded(daemon, len(calls))
    assert first.stop() == 0 and second.stop() == 0

    rows = exported(first)
    assert sorted((r["pbx"], r["uniqueid"]) for r in rows) == sorted(
        (pbx, c["callid"]) for pbx in ("pbx-a", "pbx-b") for c in calls)
    only_b = [r["uniqueid"] for r in exported(second) if r["pbx"] == "pbx-b"]
    assert sorted(only_b) == sorted(c["callid"] for c in calls)
