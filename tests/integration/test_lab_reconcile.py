"""Nothing lost (issue 7): the daemon SIGKILLed for 60 s in the middle of traffic still records every call.

Calls go on being placed and finishing while the daemon is dead. After the restart it reads
Asterisk's queue_log from where it stopped, and every call queue_log knows of ends in the store
exactly once, with queue_log's outcome and agent.
"""

import itertools
import json
import random
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lab import traffic
from tests.support import queue_log
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab

DEAD_S = 60


def exported(daemon, kind="calls"):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    first, last = str(today - timedelta(days=1)), str(today + timedelta(days=1))
    return [json.loads(line) for line in daemon.export(kind, first, last).splitlines()]


def test_a_daemon_killed_for_60_s_mid_traffic_records_every_call_once(lab, lab_ami, tmp_path):
    lab.clear_queue_log()
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db", reconcile={
        "enabled": True, "queue_log": str(lab.queue_log_path), "interval": 5}).start()
    tracker = traffic.Tracker(lab_ami)
    traffic.set_agent(lab_ami, 201, ring=1)
    traffic.set_agent(lab_ami, 202, ring=2, talk=4)
    rnd = random.Random(77)
    placed: list[tuple[str, dict]] = []

    def place(phase, gap):
        call = traffic.originate(lab_ami, queue="support", hold=rnd.randint(3, 25), maxwait=8,
                                 caller_num=f"1390000{rnd.randint(1000, 1009)}", caller_name="李四")
        placed.append((phase, call))
        tracker.pump(gap)

    for _ in range(8):
        place("before", 2.0)
    daemon.kill()  # with calls waiting in the queue and calls on the line
    killed_at, killed_wall = time.monotonic(), time.time()
    while time.monotonic() - killed_at < DEAD_S:
        place("dead", 3.0)
    restarted_wall = time.time()
    daemon.restart()
    for _ in range(6):
        place("after", 2.0)
    tracker.wait([call for _, call in placed], timeout=240)

    oracle = queue_log.parse(lab.queue_log_lines())
    phase_of = {call["callid"]: phase for phase, call in placed}
    assert set(phase_of) == set(oracle), "queue_log has the calls we placed"
    deadline = time.monotonic() + 90
    while True:  # the next pass after the last call ended, and its batch committed
        rows = exported(daemon)
        if {r["uniqueid"] for r in rows} == set(oracle) and not any(r["incomplete"] for r in rows):
            break
        assert time.monotonic() < deadline, f"{len(set(oracle) - {r['uniqueid'] for r in rows})} calls missing"
        time.sleep(2)
    assert daemon.stop() == 0

    rows = exported(daemon)
    assert sorted(r["uniqueid"] for r in rows) == sorted(oracle), "every call exactly once"
    for row in rows:
        truth = oracle[row["uniqueid"]]
        assert (row["outcome"], row["agent"], row["incomplete"]) == (truth.outcome, truth.agent, False), row
        assert row["wait_s"] == pytest.approx(truth.wait_s, abs=1.0), row
    by_source = {source: {r["uniqueid"] for r in rows if r["source"] == source} for source in ("ami", "queue_log")}
    # (a call placed late in the dead time may join the queue after the restart: the inbound
    # context rings two rings first)
    dead = {callid for callid, truth in oracle.items() if killed_wall <= truth.entered_at < restarted_wall - 1}
    assert dead and dead <= by_source["queue_log"], "calls that joined while the daemon was dead came from queue_log"
    assert by_source["ami"], "calls AMI delivered kept AMI's record"
    # Offers: a ring AMI recorded before the kill is not added again from queue_log.
    offers = sorted(exported(daemon, "offers"), key=lambda o: (o["uniqueid"], o["agent"] or "", o["offered_at"]))
    for a, b in itertools.pairwise(offers):
        if (a["uniqueid"], a["agent"]) == (b["uniqueid"], b["agent"]):
            gap = (datetime.fromisoformat(b["offered_at"]) - datetime.fromisoformat(a["offered_at"])).total_seconds()
            assert gap > 2, (a, b)

    reconciled = [line for line in daemon.lines() if line.get("event") == "queue_log_reconciled"]
    assert sum(line["calls_inserted"] for line in reconciled) >= len(by_source["queue_log"])
    print(f"\n{len(rows)} calls placed ({sum(p == 'before' for p in phase_of.values())} before the kill, "
          f"{sum(p == 'dead' for p in phase_of.values())} while dead {DEAD_S} s, "
          f"{sum(p == 'after' for p in phase_of.values())} after), {len(dead)} joined while dead; "
          f"{len(by_source['ami'])} from AMI, "
          f"{len(by_source['queue_log'])} from queue_log; outcomes "
          f"{sorted({r['outcome'] for r in rows})}; {len(offers)} offers")
