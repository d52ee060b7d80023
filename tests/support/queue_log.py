"""An independent reading of Asterisk's queue_log, the oracle the lab tests compare records with.

Deliberately separate from the daemon's code: it knows nothing of AMI and derives each call's
outcome, agent and wait from the lines Asterisk itself wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_EXIT = {"ABANDON": "abandoned", "EXITWITHTIMEOUT": "timeout", "EXITEMPTY": "exitempty", "EXITWITHKEY": "exitkey"}


@dataclass
class QueuedCall:
    callid: str
    queue: str
    entered_at: float
    outcome: str = "unknown"
    agent: str | None = None
    wait_s: float | None = None
    talk_s: float | None = None
    ended_by: str | None = None
    ring_no_answer: list[tuple[str, int]] = field(default_factory=list)


def parse(lines: list[str]) -> dict[str, QueuedCall]:
    calls: dict[str, QueuedCall] = {}
    for line in lines:
        parts = line.rstrip("\n").split("|")
        if len(parts) < 5:
            continue
        epoch, callid, queue, agent, verb, *data = parts
        if verb == "ENTERQUEUE":
            calls[callid] = QueuedCall(callid, queue, float(epoch))
            continue
        call = calls.get(callid)
        if call is None:
            continue
        if verb == "CONNECT":
            call.outcome, call.agent, call.wait_s = "answered", agent, float(data[0])
        elif verb in ("COMPLETECALLER", "COMPLETEAGENT"):
            call.talk_s = float(data[1])
            call.ended_by = "caller" if verb == "COMPLETECALLER" else "agent"
        elif verb in ("TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER"):
            call.outcome, call.ended_by = "transferred", "transfer"
        elif verb == "RINGNOANSWER":
            call.ring_no_answer.append((agent, int(data[0])))
        elif verb in _EXIT:
            call.outcome = _EXIT[verb]
            call.wait_s = float(data[-1])
    return calls
