"""Callback requests (virtual hold, rules §3): the decisions, with no I/O.

"Take the customer's details and call back when the volume drops." Every choice the daemon makes
about a request is a function here, so each can be tested by itself:
- whether a caller who pressed 1 gets a request (`offer_answer`);
- which agents are idle and which request each one takes (`read_queue`, `assign`);
- what an attempt's end means for its request (`after_attempt`), and what a restarted daemon
  concludes about an attempt it did not see end (`recovered_outcome`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable, Mapping

from pbx_bridge.numbers import PhoneNumber, phone_number_or_none

PENDING, DIALLING, DONE, ANSWERED_INBOUND, FAILED, CANCELLED = (
    "pending", "dialling", "done", "answered-inbound", "failed", "cancelled")
STATUSES = (PENDING, DIALLING, DONE, ANSWERED_INBOUND, FAILED, CANCELLED)
OPEN = (PENDING, DIALLING)

# How an attempt ended (one Originate: the agent's phone, then the customer's)
ANSWERED = "answered"                    # the customer answered: the request is done
CUSTOMER_NOT_REACHED = "customer-not-reached"  # the agent answered, the customer did not
AGENT_NOT_REACHED = "agent-not-reached"  # the agent's phone was not answered (or never rang)
IN_PROGRESS = "in-progress"              # still going (after a restart: a live channel carries it)

# AstDB family the dialplan writes per attempt (extensions_pbx_bridge.conf); its values
ASTDB_FAMILY = "pbx-bridge-callback"
ASTDB_AGENT, ASTDB_ANSWERED = "agent", "answered"

MIN_DIGITS = 3  # shorter is a service code or an internal slip, never a customer to call back


def utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC; everything in here is aware."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def usable_number(raw: str | None) -> PhoneNumber | None:
    """The number to call back, or None for a caller we cannot call (anonymous, withheld, odd)."""
    number = phone_number_or_none(raw, source="callback_request")
    return number if number is not None and len(number.lstrip("+")) >= MIN_DIGITS else None


def offer_answer(enabled: bool, waited_s: float | None, offer_after: float, number: PhoneNumber | None) -> str:
    """What pressing 1 gets: `accepted`, or the caller goes back into the queue (`disabled`,
    `unknown`: the daemon never saw the call join, `early`: before the offer was made,
    `anonymous`: no number to call; told so politely).

    A wait the daemon does not know is refused like an early press: a request is only stored
    for a call the daemon saw join a queue, so a session that names a call nobody queued (a
    forged one, or one from before a restart) cannot fill the CALL BACK list. An early press is
    checked before the number: a caller who was not offered anything yet is put back quietly.
    """
    if not enabled:
        return "disabled"
    if waited_s is None:
        return "unknown"
    if waited_s < offer_after:
        return "early"
    if number is None:
        return "anonymous"
    return "accepted"


@dataclass
class Request:
    id: int
    pbx: str
    uniqueid: str
    number: str
    queue: str
    requested_at: datetime
    status: str = PENDING
    caller_name: str = ""
    position: int | None = None
    attempts: int = 0
    originates: int = 0
    attempt_id: str | None = None
    last_attempt_at: datetime | None = None
    next_try_at: datetime | None = None
    agent: str | None = None
    result: str | None = None
    done_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping) -> "Request":
        values = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        for key in ("requested_at", "last_attempt_at", "next_try_at", "done_at"):
            values[key] = utc(values.get(key))
        return cls(**values)

    def due(self, now: datetime) -> bool:
        return self.status == PENDING and (self.next_try_at is None or utc(self.next_try_at) <= now)


def attempt_key(request_id: int, originate_no: int, token: str) -> str:
    """One Originate of a request: `<request id>-<n>-<token>`; also the AMI AccountCode `cb-<key>`
    and the AstDB key. The random token keeps a key left in AstDB by a store that was since
    reset (ids start again at 1) from ever being taken for this attempt's."""
    return f"{request_id}-{originate_no}-{token}"


def request_of(attempt_id: str) -> int | None:
    head, sep, _ = (attempt_id or "").partition("-")
    return int(head) if sep and head.isdigit() else None


def account_code(attempt_id: str) -> str:
    return f"cb-{attempt_id}"


@dataclass(frozen=True)
class Member:
    name: str
    interface: str
    seen: str = field(default="", compare=False)  # the QueueStatus fields it was judged on, for the log


@dataclass
class QueueView:
    """One queue as Asterisk sees it right now (an AMI QueueStatus answer)."""

    queue: str
    waiting: int = 0
    idle: list[Member] = field(default_factory=list)


def _number(value: str | None, default: float = 0.0) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default


def read_queue(queue: str, messages: Iterable[Mapping], now: float, idle_after: float) -> QueueView:
    """Callers waiting, and the idle members, longest idle first.

    Idle: device state "not in use" (Status 1: registered, no call, not ringing), not paused,
    not on a queue call, and free for at least `idle_after` s since their last queue call (or
    their member wrap-up time, if longer), so that wrap-up is respected. A member whose device
    state is unknown is not counted: nothing tells that the phone is free.
    """
    view = QueueView(queue)
    members: list[tuple[float, Member]] = []
    for message in messages:
        event = (message.get("Event") or "").lower()
        if event == "queueparams":
            view.waiting = int(_number(message.get("Calls")))
        elif event == "queuemember":
            interface = message.get("Location") or message.get("Interface") or ""
            last_call = _number(message.get("LastCall"))
            rest = max(idle_after, _number(message.get("Wrapuptime")))
            if (interface and message.get("Status") == "1" and message.get("Paused", "0") == "0"
                    and message.get("InCall", "0") == "0" and now - last_call >= rest):
                seen = " ".join(f"{k}={message.get(k)}" for k in ("Status", "Paused", "InCall", "LastCall"))
                members.append((last_call, Member(message.get("Name") or message.get("MemberName") or interface,
                                                  interface, seen)))
    view.idle = [m for _, m in sorted(members, key=lambda pair: pair[0])]
    return view


def assign(requests: Iterable[Request], views: Mapping[str, QueueView], busy: set[str],
           avoid: Mapping[int, set[str]], slots: int) -> list[tuple[Request, Member]]:
    """Pair due requests, oldest first, with idle agents.

    A request is placed only when the volume has dropped: its queue has nobody waiting. Each
    agent takes one callback; an agent who just let this request's ring run out is passed over
    for it (`avoid`) while another is idle.
    """
    taken = set(busy)
    out: list[tuple[Request, Member]] = []
    for request in requests:
        if len(out) >= slots:
            break
        view = views.get(request.queue)
        if view is None or view.waiting > 0:
            continue
        skip = avoid.get(request.id, set())
        member = next((m for m in view.idle if m.interface not in taken and m.interface not in skip), None)
        if member is not None:
            taken.add(member.interface)
            out.append((request, member))
    return out


def recovered_outcome(astdb_value: str | None, live: bool) -> str:
    """An attempt nobody saw end (the daemon restarted, or the AMI dropped): what happened?

    The dialplan writes AstDB `agent` when the agent answered and `answered` when the customer
    did; AstDB outlives both the daemon and Asterisk. A channel with the attempt's AccountCode
    means it is still going. Only `AGENT_NOT_REACHED` lets the request be placed again, and the
    customer was not dialled in that attempt, so nobody is called twice.
    """
    if astdb_value == ASTDB_ANSWERED:
        return ANSWERED
    if live:
        return IN_PROGRESS
    if astdb_value == ASTDB_AGENT:
        return CUSTOMER_NOT_REACHED
    return AGENT_NOT_REACHED


def after_attempt(request: Request, outcome: str, now: datetime, retry_after: float, max_attempts: int,
                  detail: str | None = None) -> dict:
    """The columns to write once an attempt is over (`outcome`: one of the three ends above).

    The customer answered: done. The customer did not: one attempt more, retried after
    `retry_after` until `max_attempts`, then failed. The agent did not: the customer was not
    called, so no attempt is counted; another idle agent may take it at once.
    """
    if outcome == ANSWERED:
        return {"status": DONE, "done_at": now, "result": ANSWERED, "next_try_at": None}
    if outcome == CUSTOMER_NOT_REACHED:
        attempts = request.attempts + 1
        result = f"customer-{(detail or 'noanswer').lower()}"
        if attempts >= max_attempts:
            return {"status": FAILED, "attempts": attempts, "done_at": now, "result": result, "next_try_at": None}
        return {"status": PENDING, "attempts": attempts, "result": result,
                "next_try_at": now + timedelta(seconds=retry_after)}
    if outcome == AGENT_NOT_REACHED:
        return {"status": PENDING, "result": f"agent-{(detail or 'noanswer').lower()}", "next_try_at": None}
    raise ValueError(f"not an end of an attempt: {outcome!r}")


def answered_at(joined_at: datetime, wait_s: float | None) -> datetime:
    """When an inbound call was answered (its record keeps the join and the wait)."""
    return utc(joined_at) + timedelta(seconds=wait_s or 0)
