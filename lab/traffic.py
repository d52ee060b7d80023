"""Deterministic call scenarios for the lab, driven over AMI (lab raw user).

Every scenario takes a logged-in lab AMI connection (``Lab().ami()``, the unfiltered
lab user) and returns a dict describing what was done:

    {"scenario": "answered", "calls": [Call-dict, ...]}

Call-dict keys: tag, queue, caller_num, caller_name, hold (s the customer stays on the
line after the PBX answered), maxwait, agents (the per-agent behaviour used),
expected ("ANSWERED"/"ABANDON"/"TIMEOUT"/"EXITEMPTY"), ended_by ("caller"/"agent"/None),
and, filled from the events seen: uniqueid (Local ;1 = customer leg), callid (Local ;2 =
the queue caller = queue_log callid), linkedid, outcome, agent (MemberName who answered).
"""
from __future__ import annotations

import itertools
import random
import time

from .ami import AMI
from .sipp import SippAgent, sipp_call

_tags = itertools.count(1)

# Agent Local channels: Local/<ext>@lab-agents/n; behaviour in AstDB lab/<ext>/{mode,ring,talk}
def set_agent(ami: AMI, ext: str | int, ring: float = 1, talk: float = 0, mode: str = "answer"):
    """mode: answer | noanswer | busy | congestion. ring: s before answering.
    talk: s after answering before the AGENT hangs up (0 = never, caller ends)."""
    for key, val in (("mode", mode), ("ring", ring), ("talk", talk)):
        r = ami.action("DBPut", Family="lab", Key=f"{ext}/{key}", Val=str(val))
        if r.get("Response") != "Success":
            raise RuntimeError(f"DBPut failed: {r}")
    return {"ext": str(ext), "mode": mode, "ring": ring, "talk": talk}


def originate(ami: AMI, queue="support", hold=10, maxwait=None, caller_num="13800138000",
              caller_name="Customer", tag=None) -> dict:
    """Place one queued call: Local/s@pbx-bridge-inbound/n. Its ;2 half runs the shipped
    inbound context (Answer, Queue); its ;1 half is the customer in [lab-customer]
    (waits `hold` s after being answered, then hangs up)."""
    tag = tag or f"call{next(_tags)}"
    variables = [f"__PBXB_QUEUE={queue}", f"HOLD={hold}", f"__LABTAG={tag}"]
    if maxwait:
        variables.append(f"__PBXB_MAXWAIT={maxwait}")
    aid = ami.send("Originate", Channel="Local/s@pbx-bridge-inbound/n",
                   Context="lab-customer", Exten="hold", Priority="1",
                   CallerID=f'"{caller_name}" <{caller_num}>', Timeout="30000",
                   Async="true", Variable=variables, ActionID=f"orig-{tag}")
    return {"tag": tag, "action_id": aid, "queue": queue, "hold": hold, "maxwait": maxwait,
            "caller_num": caller_num, "caller_name": caller_name, "t_originate": time.time()}


class Tracker:
    """Collects every event of the raw lab connection and correlates them with calls."""

    def __init__(self, ami: AMI):
        self.ami = ami
        self.events: list[dict] = list(ami.events)
        ami.events.clear()
        self.open: dict[str, set] = {}     # linkedid -> open channel uniqueids

    def _take(self, e):
        self.events.append(e)
        ev = e.get("Event")
        if ev == "Newchannel":
            self.open.setdefault(e["Linkedid"], set()).add(e["Uniqueid"])
        elif ev == "Hangup":
            self.open.setdefault(e.get("Linkedid", ""), set()).discard(e["Uniqueid"])

    def pump(self, seconds):
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            m = self.ami.read_message(left)
            if m is not None and "Event" in m:
                self._take(m)
            elif m is not None and m.get("Response") == "Error":
                raise RuntimeError(f"AMI error: {m}")

    def resolve(self, call):
        if call.get("uniqueid"):
            return True
        for e in self.events:
            if e.get("Event") == "OriginateResponse" and e.get("ActionID") == call["action_id"]:
                if e.get("Response") != "Success":
                    raise RuntimeError(f"originate failed: {e}")
                call["uniqueid"] = e["Uniqueid"]
                return True
        return False

    def finished(self, calls) -> bool:
        for c in calls:
            if not self.resolve(c):
                return False
            lid = self._linkedid(c)
            if lid is None or self.open.get(lid):
                return False
        return True

    def _linkedid(self, c):
        for e in self.events:
            if e.get("Uniqueid") == c["uniqueid"] and "Linkedid" in e:
                return e["Linkedid"]
        return None

    def wait(self, calls, timeout=120):
        deadline = time.monotonic() + timeout
        while not self.finished(calls):
            if time.monotonic() > deadline:
                raise TimeoutError(f"calls not finished: {[c['tag'] for c in calls]}")
            self.pump(0.2)
        self.pump(0.5)
        for c in calls:
            self.annotate(c)
        return calls

    def annotate(self, c):
        lid = self._linkedid(c)
        c["linkedid"] = lid
        mine = [e for e in self.events if e.get("Linkedid") == lid]
        join = next((e for e in mine if e.get("Event") == "QueueCallerJoin"), None)
        c["callid"] = join["Uniqueid"] if join else None
        c["channel"] = join["Channel"] if join else None
        c["outcome"], c["agent"], c["ended_by"] = None, None, None
        for e in mine:
            ev = e.get("Event")
            if ev == "AgentConnect":
                c["outcome"], c["agent"] = "ANSWERED", e.get("MemberName")
            elif ev == "AgentComplete":
                c["ended_by"] = e.get("Reason")
                c["talktime"] = int(e.get("TalkTime", 0))
                c["holdtime"] = int(e.get("HoldTime", 0))
            elif ev == "QueueCallerAbandon":
                c["outcome"] = "ABANDON"
            elif ev == "VarSet" and e.get("Variable") == "QUEUESTATUS":
                c["outcome"] = {"TIMEOUT": "TIMEOUT", "LEAVEEMPTY": "EXITEMPTY",
                                "JOINEMPTY": "JOINEMPTY"}.get(e.get("Value"), e.get("Value"))
        c["rna"] = [e.get("MemberName") for e in mine if e.get("Event") == "AgentRingNoAnswer"]
        c["dialend"] = [(e.get("DestChannel"), e.get("DialStatus")) for e in mine
                        if e.get("Event") == "DialEnd"]


def _check(result):
    bad = [c for c in result["calls"] if c.get("expected") and c["outcome"] != c["expected"]]
    if bad:
        raise AssertionError(f"{result['scenario']}: unexpected outcome "
                             f"{[(c['tag'], c['expected'], c['outcome']) for c in bad]}")
    return result


def _run(ami, name, agents, calls_spec, gap=0.0, actions=None, timeout=120):
    """agents: {ext: dict(set_agent kwargs)}; calls_spec: list of originate kwargs
    (+ expected, ended_by_expected); actions: callable(tracker, calls) run after originate."""
    tr = Tracker(ami)
    used = {str(k): set_agent(ami, k, **v) for k, v in agents.items()}
    calls = []
    for i, spec in enumerate(calls_spec):
        spec = dict(spec)
        expected = spec.pop("expected", None)
        expected_end = spec.pop("expected_ended_by", None)
        c = originate(ami, **spec)
        c.update(expected=expected, expected_ended_by=expected_end, agents=used)
        calls.append(c)
        if gap and i < len(calls_spec) - 1:
            tr.pump(gap)
    if actions:
        actions(tr, calls)
    tr.wait(calls, timeout=timeout)
    return _check({"scenario": name, "calls": calls, "events": tr.events})


# -- scenarios -------------------------------------------------------------------------
def answered(ami, caller_num="13900000001", caller_name="Alice Wang"):
    """Agent answers after 2 s; the customer hangs up ~8 s after entering the queue."""
    return _run(ami, "answered", {201: dict(ring=2), 202: dict(ring=2)},
                [dict(queue="support", hold=8, caller_num=caller_num, caller_name=caller_name,
                      expected="ANSWERED", expected_ended_by="caller")])


def answered_agent_hangup(ami):
    """Agent answers after 2 s and hangs up 3 s later; the customer would stay 20 s."""
    return _run(ami, "answered_agent_hangup", {201: dict(ring=2, talk=3), 202: dict(ring=2, talk=3)},
                [dict(queue="support", hold=20, caller_num="13900000002", caller_name="Bob Li",
                      expected="ANSWERED", expected_ended_by="agent")])


def abandoned(ami):
    """Nobody answers; the customer hangs up after 3 s (before the 4 s ring timeout)."""
    return _run(ami, "abandoned", {201: dict(mode="noanswer"), 202: dict(mode="noanswer")},
                [dict(queue="support", hold=3, caller_num="13900000003", caller_name="Carol Zhao",
                      expected="ABANDON")])


def ring_no_answer(ami):
    """Queue lab-linear: agent 201 does not answer within the 4 s member timeout
    (AgentRingNoAnswer), agent 202 answers after 1 s; customer hangs up at 12 s."""
    return _run(ami, "ring_no_answer", {201: dict(mode="noanswer"), 202: dict(ring=1)},
                [dict(queue="lab-linear", hold=12, caller_num="13900000004",
                      caller_name="Dan Sun", expected="ANSWERED", expected_ended_by="caller")])


def timeout(ami):
    """Nobody answers; the caller's max wait (PBXB_MAXWAIT=6) expires: EXITWITHTIMEOUT."""
    return _run(ami, "timeout", {201: dict(mode="noanswer"), 202: dict(mode="noanswer")},
                [dict(queue="support", hold=30, maxwait=6, caller_num="13900000005",
                      caller_name="Eve Qian", expected="TIMEOUT")])


def exit_empty(ami):
    """Queue lab-empty (leavewhenempty=yes): dynamic member Agent 209 (never answers) is
    added, the caller joins, the member is removed 2 s later: the caller leaves with
    EXITEMPTY (QUEUESTATUS=LEAVEEMPTY)."""
    iface = "Local/209@lab-agents/n"
    r = ami.action("QueueAdd", Queue="lab-empty", Interface=iface, MemberName="Agent 209",
                   StateInterface="Local/209@lab-agents", Penalty="0")
    if r.get("Response") != "Success":
        raise RuntimeError(f"QueueAdd: {r}")

    def remove(tr, calls):
        deadline = time.monotonic() + 10
        while not any(e.get("Event") == "QueueCallerJoin" and e.get("Queue") == "lab-empty"
                      for e in tr.events):
            if time.monotonic() > deadline:
                raise TimeoutError("caller did not join lab-empty")
            tr.pump(0.1)
        tr.pump(2)
        r = ami.action("QueueRemove", Queue="lab-empty", Interface=iface)
        if r.get("Response") != "Success":
            raise RuntimeError(f"QueueRemove: {r}")

    return _run(ami, "exit_empty", {209: dict(mode="noanswer")},
                [dict(queue="lab-empty", hold=30, maxwait=60, caller_num="13900000006",
                      caller_name="Frank Wu", expected="EXITEMPTY")], actions=remove)


def chinese_caller(ami):
    """Answered call from "张三丰" <13800138000> (UTF-8 caller name)."""
    r = answered(ami, caller_num="13800138000", caller_name="张三丰")
    r["scenario"] = "chinese_caller"
    return r


def busy_unavailable(ami):
    """Queue lab-busy (linear, ringinuse=yes): Agent 205 is busy (Busy()), Agent 309 is a
    PJSIP endpoint with no contact (unavailable), Agent 206 answers after 1 s."""
    return _run(ami, "busy_unavailable", {205: dict(mode="busy"), 206: dict(ring=1)},
                [dict(queue="lab-busy", hold=8, caller_num="13900000007", caller_name="Grace Ma",
                      expected="ANSWERED", expected_ended_by="caller")])


def mixed(ami, n=20, seed=7, gap=2.0):
    """n calls into support, one every `gap` s; agents 201 (rings 1 s, the caller ends the
    call) and 202 (rings 2 s, hangs up 4 s after answering); customers stay 3..25 s, max
    wait 8 s. Outcomes (answered by either side / abandoned / timeout) are read back from
    the events; the same seed gives the same calls."""
    rnd = random.Random(seed)
    names = ["张三丰", "李四", "王五", "Alice Wang", "Bob Li", "赵六", "Carol Zhao"]
    specs = []
    for i in range(n):
        num = f"1390000{rnd.randint(1000, 1009)}"   # some numbers call more than once
        specs.append(dict(queue="support", hold=rnd.randint(3, 25), maxwait=8,
                          caller_num=num, caller_name=rnd.choice(names)))
    return _run(ami, "mixed", {201: dict(ring=1), 202: dict(ring=2, talk=4)}, specs,
                gap=gap, timeout=240)


SCENARIOS = {
    "answered": answered,
    "answered_agent_hangup": answered_agent_hangup,
    "abandoned": abandoned,
    "ring_no_answer": ring_no_answer,
    "timeout": timeout,
    "exit_empty": exit_empty,
    "chinese_caller": chinese_caller,
    "busy_unavailable": busy_unavailable,
    "mixed": mixed,
}


def sip_call(ami, ring=2, hold=8):
    """SIPp caller -> queue lab-sip -> SIPp phone agent301 (rings `ring` s, answers);
    the caller hangs up `hold` s after the PBX answered. Returns the traffic-style result."""
    tr = Tracker(ami)
    with SippAgent("agent301", ring=ring), SippAgent("agent302", ring=ring):
        p = sipp_call(hold=hold, wait=False)
        deadline = time.monotonic() + hold + 30
        while p.poll() is None and time.monotonic() < deadline:
            tr.pump(0.2)
        rc = p.poll()
        if rc is None:
            p.kill()
            p.wait()
        tr.pump(1.0)
    join = next((e for e in tr.events if e.get("Event") == "QueueCallerJoin"), None)
    call = {"tag": "sip1", "queue": "lab-sip", "hold": hold, "caller_num": "13800138000",
            "caller_name": "SIPp Caller", "sipp_rc": rc, "expected": "ANSWERED",
            "expected_ended_by": "caller", "agents": {"agent301": {"ring": ring}}}
    if join:
        call["uniqueid"] = call["callid"] = join["Uniqueid"]
        call["action_id"] = None
        tr.annotate(call)
    else:
        call["outcome"] = None
    return _check({"scenario": "sip_call", "calls": [call], "events": tr.events})


SCENARIOS["sip_call"] = sip_call
