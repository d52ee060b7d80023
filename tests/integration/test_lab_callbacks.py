"""Callback requests in the lab: callers press 1 in queue lab-callback (the shipped offer template,
agent 207), the daemon keeps the request and places it once the queue is quiet and 207 idle: the
agent first, then the customer, once. A daemon killed mid-callback and restarted dials nobody twice.

Every wait is for an outcome (an event, a log line, a row) within a deadline; nothing is timed.
"""

import json
import time

import pytest
from sqlalchemy import select

from lab.traffic import set_agent
from pbx_bridge.store.engine import sync_engine
from pbx_bridge.callbacks.tables import callback_requests
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab

QUEUE = "lab-callback"
AGENT = "Local/207@lab-agents/n"
CALLBACKS = {"offer_after": 4, "idle_after": 1, "retry_after": 2, "max_attempts": 2, "dial_timeout": 5,
             "poll_interval": 0.5, "max_parallel": 1}


class Watch:
    """Every event of the lab's unfiltered AMI connection, kept for the test's questions."""

    def __init__(self, ami):
        self.ami, self.events = ami, []

    def until(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            self.events += self.ami.events
            self.ami.events.clear()
            found = [e for e in self.events if predicate(e)]
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            message = self.ami.read_message(0.2)
            if message is not None and "Event" in message:
                self.events.append(message)

    def settle(self, seconds=0.5):
        self.ami.pump(seconds)
        self.events += self.ami.events
        self.ami.events.clear()

    def dials_of(self, number):
        """Calls placed to the customer's number: the ;1 leg of each Local/<number>@pbx-bridge-callback."""
        return [e for e in self.events if e.get("Event") == "Newchannel"
                and e.get("Channel", "").startswith(f"Local/{number}@pbx-bridge-callback-") and e["Channel"].endswith(";1")]

    def joins(self, number):
        return [e for e in self.events if e.get("Event") == "QueueCallerJoin" and e.get("CallerIDNum") == number]

    def callback_events(self, status):
        return [e for e in self.events if e.get("Event") == "UserEvent" and e.get("Status") == status]


def caller(ami, number, keys="", hold=60, name="客户"):
    """A queued caller in lab-callback; KEYS as in [lab-callback-customer] ("wait/key+...")."""
    ami.send("Originate", Channel="Local/s@pbx-bridge-inbound/n", Context="lab-callback-customer", Exten="press",
             Priority="1", CallerID=f'"{name}" <{number}>', Timeout="30000", Async="true",
             Variable=[f"__PBXB_QUEUE={QUEUE}", "__PBXB_MAXWAIT=120", f"KEYS={keys}", f"HOLD={hold}"])


def pause(ami, paused: bool):
    reply = ami.action("QueuePause", Queue=QUEUE, Interface=AGENT, Paused="true" if paused else "false",
                       Reason="lab")
    assert reply.get("Response") == "Success", reply


def rows(url):
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            return {r["number"]: dict(r) for r in conn.execute(select(callback_requests)).mappings()}
    finally:
        engine.dispose()


def wait_row(url, number, status, timeout):
    deadline = time.monotonic() + timeout
    while True:
        row = rows(url).get(number)
        if row is not None and row["status"] == status:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"request of {number} is {row and row['status']}, not {status}")
        time.sleep(0.2)


@pytest.fixture
def setup(lab, tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    daemon = DaemonProcess(tmp_path, url, callbacks=CALLBACKS)
    with lab.ami() as ami:
        set_agent(ami, 207, ring=1)
        pause(ami, True)
        watch = Watch(ami)
        try:
            yield watch, daemon, url
        finally:
            pause(ami, False)
            watch.settle(0.2)  # what the lab saw, for a failure's post-mortem
            (tmp_path / "ami-events.jsonl").write_text(
                "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in watch.events), encoding="utf-8")


def test_press_1_then_agent_first_then_the_customer_once(setup):
    watch, daemon, url = setup
    ami = watch.ami
    daemon.start()
    # B waits (never presses); A joins behind B, presses 1 too early (back at position 2), then again
    caller(ami, "13900000102", hold=25)
    watch.until(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("CallerIDNum") == "13900000102", 20, "B")
    caller(ami, "13900000101", keys="2/1+4/1")
    row = wait_row(url, "13900000101", "pending", 40)
    assert (row["queue"], row["position"], row["attempts"]) == (QUEUE, 2, 0)
    watch.settle()
    joins = watch.joins("13900000101")
    assert [j["Position"] for j in joins] == ["2", "2"], "the early press put A back at the same position"
    refused = daemon.wait_for("callback_request_refused")
    assert refused[0]["reason"] == "early"
    left = watch.until(lambda e: e.get("Event") == "Hangup" and e.get("Uniqueid") == joins[0]["Uniqueid"], 20,
                       "A's call to end after the confirmation")
    assert not any(e.get("Event") == "QueueCallerJoin" and e.get("CallerIDNum") == "13900000101"
                   and float(e["Timestamp"]) > float(joins[-1]["Timestamp"]) for e in watch.events)

    # 207 comes back: B (still waiting) is answered first; only once B's call is over and 207 is
    # idle again is A called back: the agent first, then the customer
    pause(ami, False)
    answered = watch.until(lambda e: e.get("Event") == "UserEvent" and e.get("Status") == "answered", 60,
                           "the callback's customer to answer")[0]
    b_id = watch.joins("13900000102")[0]["Uniqueid"]
    b_end = watch.until(lambda e: e.get("Event") == "Hangup" and e.get("Uniqueid") == b_id, 1, "B's call ended")[0]
    assert any(e.get("Event") == "AgentConnect" and e.get("Uniqueid") == b_id for e in watch.events)
    agent_up = watch.callback_events("agent")[0]
    [dial] = watch.dials_of("13900000101")
    assert float(b_end["Timestamp"]) < float(agent_up["Timestamp"]) < float(dial["Timestamp"])
    assert agent_up["Channel"].startswith("Local/207@lab-agents-") and agent_up["AccountCode"].startswith("cb-")
    assert float(left[0]["Timestamp"]) < float(agent_up["Timestamp"])
    done = wait_row(url, "13900000101", "done", 20)
    assert done["agent"] == "Agent 207" and done["attempt_id"] == answered["Attempt"]
    watch.until(lambda e: e.get("Event") == "UserEvent" and e.get("Status") == "ended", 20, "the callback's end")
    watch.settle(2)
    assert len(watch.dials_of("13900000101")) == 1, "one callback per request"

    # C asks for a callback, then calls in again and is answered: the request closes by itself
    pause(ami, True)
    caller(ami, "13900000103", keys="5/1")
    wait_row(url, "13900000103", "pending", 30)
    watch.settle()
    first_call = watch.joins("13900000103")[0]["Uniqueid"]
    caller(ami, "13900000103", hold=15)
    watch.until(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("CallerIDNum") == "13900000103"
                and e.get("Uniqueid") != first_call, 20, "C's second call in the queue")
    pause(ami, False)
    wait_row(url, "13900000103", "answered-inbound", 40)
    daemon.wait_for("callback_closed_by_inbound_call")

    # D does not answer the callback: two attempts (max_attempts), then failed
    pause(ami, True)
    caller(ami, "13990000104", keys="5/1")
    wait_row(url, "13990000104", "pending", 30)
    pause(ami, False)
    failed = wait_row(url, "13990000104", "failed", 90)
    assert (failed["attempts"], failed["result"]) == (2, "customer-noanswer")
    watch.settle(1)
    assert len(watch.dials_of("13990000104")) == 2
    assert watch.dials_of("13900000103") == []
    assert daemon.stop() == 0


def test_a_daemon_killed_mid_callback_dials_nobody_twice(setup, lab):
    watch, daemon, url = setup
    ami = watch.ami
    daemon.start()

    # E: the daemon dies while the agent's phone rings; the restarted one finds the live attempt
    set_agent(ami, 207, ring=4)
    caller(ami, "13900000105", keys="5/1")
    wait_row(url, "13900000105", "pending", 30)
    pause(ami, False)
    watch.until(lambda e: e.get("Event") == "Newchannel" and e.get("Channel", "").startswith("Local/207@lab-agents-"),
                30, "207's phone to ring for the callback")
    daemon.proc.kill()
    daemon.proc.wait()
    assert rows(url)["13900000105"]["status"] == "dialling"
    daemon.start()
    daemon.wait_for("callback_attempt_recovered")
    wait_row(url, "13900000105", "done", 40)
    watch.until(lambda e: e.get("Event") == "UserEvent" and e.get("Status") == "ended", 20, "E's callback to end")

    # F: the daemon dies as the customer's phone starts ringing (the agent answered); the customer
    # answers and the call ends while it is down
    pause(ami, True)
    set_agent(ami, 207, ring=1)
    caller(ami, "13900000106", keys="5/1")
    wait_row(url, "13900000106", "pending", 30)
    pause(ami, False)
    attempt = watch.until(lambda e: e.get("Event") == "UserEvent" and e.get("Status") == "agent"
                          and e.get("Attempt", "").startswith(f"{rows(url)['13900000106']['id']}-"), 40,
                          "F's agent to answer")[0]["Attempt"]
    daemon.proc.kill()
    daemon.proc.wait()
    watch.until(lambda e: e.get("Event") == "UserEvent" and e.get("Status") == "ended"
                and e.get("Attempt") == attempt, 20, "F's callback to end while the daemon is down")
    assert any(e.get("Event") == "UserEvent" and e.get("Status") == "answered" and e.get("Attempt") == attempt
               for e in watch.events)
    assert rows(url)["13900000106"]["status"] == "dialling"
    daemon.start()
    row = wait_row(url, "13900000106", "done", 30)
    assert row["attempts"] == 0
    checked = [line for line in daemon.lines() if line.get("event") == "callback_attempt_checked"]
    assert any(line.get("outcome") == "answered" and line.get("attempt") == attempt for line in checked)
    watch.settle(3)
    assert len(watch.dials_of("13900000105")) == 1 and len(watch.dials_of("13900000106")) == 1
    assert daemon.stop() == 0
