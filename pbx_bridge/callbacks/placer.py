"""The `callbacks` task: places the CALL BACK list when the volume drops (rules §3).

Every `poll_interval` seconds, and whenever something happens, it:
1. applies what arrived: the dialplan's `PbxBridgeCallback` UserEvents (agent answered, customer
   answered, attempt ended), the answers to its own Originates, and inbound calls that were
   answered (a customer who called in and was answered closes their pending requests);
2. checks attempts whose end it did not see (after a restart, or an AMI gap) against Asterisk:
   AstDB `pbx-bridge-callback/<attempt>` and the live channels' AccountCode `cb-<attempt>`;
3. places due requests, oldest first, in queues with nobody waiting, on idle agents.

Placing is write-ahead: the request is marked `dialling` with a new attempt id, committed, and
only then is the Originate sent: the agent's phone first (the member's interface, so ring-twice
applies), then the customer from the agent's answered channel. A request is placed again only
when its attempt is known to have ended without reaching the customer, so a customer is never
dialled twice for one attempt, across restarts too. All database writes happen in this one loop,
in order.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Awaitable, Callable

import structlog

from pbx_bridge.backoff import raise_if_cancelled, wait_event
from pbx_bridge.callbacks import model, store
from pbx_bridge.callbacks.model import Member, Request
from pbx_bridge.callbacks.settings import CallbacksConfig
from pbx_bridge.calls.records import CallRecord, OfferRecord
from pbx_bridge.numbers import DialplanName, InvalidValue, PhoneNumber, caller_id, shown
from pbx_bridge.ring import RingConfig, rings_for

log = structlog.get_logger(__name__)

SendAction = Callable[[dict, float], Awaitable[object]]
EVENTS = ("UserEvent",)  # the AMI events this task needs (only PbxBridgeCallback ones are sent)
MIN_AGE_S = 10.0  # an attempt younger than this is not declared "never rang": its channel may be on its way
STALE_AFTER_S = 60.0  # past the ring and dial timeouts, an attempt with no end seen is checked with Asterisk
_ORIGINATE_RESULTS = {"4": "answered", "5": "busy", "8": "unavailable", "0": "unavailable"}


@dataclass
class Attempt:
    request_id: int
    attempt_id: str
    interface: str | None
    started: float  # monotonic
    phase: str = "ringing"  # ringing (the agent) | agent (agent answered) | unknown (ask Asterisk)
    check_at: float = 0.0  # monotonic; 0: when a result is due, not before
    originate_pending: bool = True


class CallbackPlacer:
    def __init__(self, cfg: CallbacksConfig, pbx: str, engine, send_action: SendAction,
                 sink: Callable[[object], None], ring: RingConfig, ring_timeout_s: float,
                 ami_sessions: Callable[[], int], busy_numbers: Callable[[], set[str]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg, self.pbx, self.engine, self.send_action, self.sink = cfg, pbx, engine, send_action, sink
        self.ring, self.ring_timeout_s = ring, ring_timeout_s
        self.ami_sessions, self.busy_numbers, self.clock = ami_sessions, busy_numbers, clock
        self.attempts: dict[str, Attempt] = {}
        self.avoid: dict[int, dict[str, float]] = {}  # request id -> interface -> until (monotonic)
        # An agent's rest after a callback, as after a queue call (app_queue's LastCall only
        # counts queue calls): interface -> until (monotonic); and whose attempt rang whom.
        self.resting: dict[str, float] = {}
        self.interface_of: dict[str, str] = {}
        self.inbox: deque[tuple] = deque()
        self.wake = asyncio.Event()
        self.tasks: set[asyncio.Task] = set()
        self.sessions_seen = 0
        self.counts = {"placed": 0, "done": 0, "customer_not_reached": 0, "agent_not_reached": 0,
                       "closed_by_inbound": 0, "recovered": 0}
        self.last_error: str | None = None
        self.refused: set[int] = set()  # requests not fit to dial, logged once

    # --- inputs (synchronous, from the AMI handler and the call records) ----------------------
    def handle(self, event) -> None:  # noqa: ANN001 - a panoramisk Message or a dict
        if (event.get("Event") or "").lower() != "userevent" or event.get("UserEvent") != "PbxBridgeCallback":
            return
        self._post(("event", event.get("Attempt") or "", (event.get("Status") or "").lower(),
                    event.get("DialStatus") or ""))

    def on_record(self, record) -> None:  # noqa: ANN001 - any record the tracker emits
        if isinstance(record, CallRecord) and record.outcome in ("answered", "transferred"):
            number = record.number  # PhoneNumber or None: only a real number closes requests
            if number is not None:
                self._post(("inbound", number, model.answered_at(record.joined_at, record.wait_s), record.uniqueid))

    def health(self) -> dict:
        return {"in_progress": len(self.attempts), **self.counts, "last_error": self.last_error}

    def _post(self, item: tuple) -> None:
        self.inbox.append(item)
        self.wake.set()

    # --- the loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.step()
                    self.last_error = None
                except Exception as exc:  # noqa: BLE001 - the database or the AMI is away: try again next round
                    self.last_error = repr(exc)[:300]
                    log.warning("callbacks_step_failed", error=self.last_error)
                await wait_event(self.wake, self.cfg.poll_interval)
                self.wake.clear()
                raise_if_cancelled()
        finally:
            for task in list(self.tasks):
                task.cancel()

    async def step(self) -> None:
        await self._drain()
        sessions = self.ami_sessions()
        if sessions == 0:
            return  # not connected yet: nothing can be checked or placed
        if sessions != self.sessions_seen:
            self.sessions_seen = sessions
            await self._recover()
        await self._check()
        await self._place()

    # --- results ------------------------------------------------------------------------------
    async def _drain(self) -> None:
        while self.inbox:
            item = self.inbox[0]
            await self._apply(item)  # raises on a database failure: the item stays for the next round
            self.inbox.popleft()

    async def _apply(self, item: tuple) -> None:
        kind = item[0]
        if kind == "inbound":
            _, number, answered, uniqueid = item
            closed = await store.close_by_inbound(self.engine, self.pbx, number, answered)
            for request_id in closed:
                self.counts["closed_by_inbound"] += 1
                log.info("callback_closed_by_inbound_call", callback_id=request_id, inbound_uniqueid=uniqueid)
        elif kind == "originate":
            _, attempt_id, result = item
            attempt = self.attempts.get(attempt_id)
            if attempt is None:
                return  # already settled (its UserEvents came first)
            attempt.originate_pending = False
            if result == "answered":
                attempt.phase = "agent" if attempt.phase == "ringing" else attempt.phase
                attempt.check_at = self.clock() + self.cfg.dial_timeout + STALE_AFTER_S
            elif result == "lost":
                attempt.phase, attempt.check_at = "unknown", self.clock()
            elif attempt.phase == "ringing":
                await self._settle(attempt.request_id, attempt_id, model.AGENT_NOT_REACHED, result)
        elif kind == "event":
            _, attempt_id, status, dial_status = item
            request_id = model.request_of(attempt_id)
            if request_id is None:
                return
            attempt = self.attempts.get(attempt_id)
            if status == "ended" and attempt_id in self.interface_of:
                self.resting[self.interface_of.pop(attempt_id)] = self.clock() + self.cfg.idle_after
            if status == "agent" and attempt is not None:
                attempt.phase = "agent"
                attempt.check_at = self.clock() + self.cfg.dial_timeout + STALE_AFTER_S
            elif status == "answered" or (status == "ended" and dial_status == "ANSWER"):
                await self._settle(request_id, attempt_id, model.ANSWERED)
            elif status == "ended":
                await self._settle(request_id, attempt_id, model.CUSTOMER_NOT_REACHED, dial_status or "noanswer")

    async def _settle(self, request_id: int, attempt_id: str, outcome: str, detail: str | None = None) -> None:
        """An attempt is over: write what it means for the request (guarded by the attempt id)."""
        self.attempts.pop(attempt_id, None)
        with structlog.contextvars.bound_contextvars(callback_id=request_id, attempt=attempt_id):
            request = await store.get(self.engine, request_id)
            if request is None or request.attempt_id != attempt_id:
                return
            now = datetime.now(timezone.utc)
            values = model.after_attempt(request, outcome, now, self.cfg.retry_after, self.cfg.max_attempts, detail)
            if not await store.finish_attempt(self.engine, request_id, attempt_id, values):
                return  # already settled, or cancelled meanwhile
            if outcome == model.ANSWERED:
                self.counts["done"] += 1
                log.info("callback_done", number=request.number, agent=request.agent,
                         wait_s=round((now - request.requested_at).total_seconds(), 1))
            elif outcome == model.CUSTOMER_NOT_REACHED:
                self.counts["customer_not_reached"] += 1
                log.info("callback_customer_not_reached", status=values["status"], attempts=values["attempts"],
                         dial_status=detail)
            else:
                self.counts["agent_not_reached"] += 1
                interface = self.interface_of.pop(attempt_id, None)
                if interface:
                    self.avoid.setdefault(request_id, {})[interface] = self.clock() + self.cfg.retry_after
                log.info("callback_agent_not_reached", agent=request.agent, reason=detail)
        await self._forget_astdb(attempt_id)

    async def _forget_astdb(self, attempt_id: str) -> None:
        try:
            await self.send_action({"Action": "DBDel", "Family": model.ASTDB_FAMILY, "Key": attempt_id}, 10)
        except Exception:  # noqa: BLE001 - housekeeping only; a leftover key is harmless
            pass

    # --- attempts whose end was not seen ------------------------------------------------------
    async def _recover(self) -> None:
        """After each AMI (re)connect: every attempt the store says is dialling gets checked."""
        now = self.clock()
        for request in await store.open_requests(self.engine, self.pbx):
            if request.status != model.DIALLING or not request.attempt_id:
                continue
            attempt = self.attempts.get(request.attempt_id)
            if attempt is None:
                age = (datetime.now(timezone.utc) - (request.last_attempt_at or request.requested_at)).total_seconds()
                self.attempts[request.attempt_id] = Attempt(request.id, request.attempt_id, None, now - max(0, age),
                                                            phase="unknown", originate_pending=False)
                self.counts["recovered"] += 1
                log.info("callback_attempt_recovered", callback_id=request.id, attempt=request.attempt_id)
            else:
                attempt.check_at = now

    async def _check(self) -> None:
        now = self.clock()
        due = [a for a in self.attempts.values() if (a.phase == "unknown" or (a.check_at and a.check_at <= now))
               and not a.originate_pending]
        if not due:
            return
        listing = await self.send_action({"Action": "CoreShowChannels"}, 10)
        live = {m.get("AccountCode") for m in (listing if isinstance(listing, list) else []) if m.get("AccountCode")}
        for attempt in due:
            value = await self._astdb(attempt.attempt_id)
            outcome = model.recovered_outcome(value, model.account_code(attempt.attempt_id) in live)
            with structlog.contextvars.bound_contextvars(callback_id=attempt.request_id, attempt=attempt.attempt_id):
                if outcome == model.IN_PROGRESS:
                    attempt.phase, attempt.check_at = "unknown", now + self.cfg.poll_interval
                    continue
                if outcome == model.AGENT_NOT_REACHED and now - attempt.started < MIN_AGE_S:
                    continue
                log.info("callback_attempt_checked", outcome=outcome, astdb=value)
            await self._settle(attempt.request_id, attempt.attempt_id, outcome, "unseen")

    async def _astdb(self, attempt_id: str) -> str | None:
        reply = await self.send_action({"Action": "DBGet", "Family": model.ASTDB_FAMILY, "Key": attempt_id}, 10)
        for message in reply if isinstance(reply, list) else [reply]:
            if message.get("Response") == "Error":
                return None  # "Database entry not found"
            if (message.get("Event") or "").lower() == "dbgetresponse":
                return message.get("Val")
        return None

    # --- placing ------------------------------------------------------------------------------
    async def _place(self) -> None:
        slots = self.cfg.max_parallel - len(self.attempts)
        if slots <= 0:
            return
        now_utc = datetime.now(timezone.utc)
        busy_numbers = self.busy_numbers()
        due = [r for r in await store.open_requests(self.engine, self.pbx)
               if r.due(now_utc) and r.number not in busy_numbers and self._dialable(r)]
        if not due:
            return
        now = self.clock()
        views = {}
        for queue in dict.fromkeys(r.queue for r in due):
            reply = await self.send_action({"Action": "QueueStatus", "Queue": queue}, 10)
            views[queue] = model.read_queue(queue, reply if isinstance(reply, list) else [], time.time(),
                                            self.cfg.idle_after)
        avoid = {rid: {i for i, until in agents.items() if until > now} for rid, agents in self.avoid.items()}
        self.avoid = {rid: {i: u for i, u in agents.items() if u > now} for rid, agents in self.avoid.items()}
        self.resting = {i: until for i, until in self.resting.items() if until > now}
        busy = {a.interface for a in self.attempts.values() if a.interface} | set(self.resting)
        for request, member in model.assign(due, views, busy, avoid, slots):
            await self._start(request, member)

    def _dialable(self, request: Request) -> bool:
        """A stored request whose number or queue is not fit for an Originate is never placed.

        The route stores only PhoneNumbers and DialplanNames; a row written some other way stays
        pending and is logged (once), never dialled.
        """
        try:
            PhoneNumber(request.number), DialplanName(request.queue)
        except InvalidValue:
            if request.id not in self.refused:
                self.refused.add(request.id)
                log.warning("callback_request_not_dialable", callback_id=request.id, number=shown(request.number),
                            queue=shown(request.queue))
            return False
        return True

    async def _start(self, request: Request, member: Member) -> None:
        attempt_id = model.attempt_key(request.id, request.originates + 1, secrets.token_hex(2))
        with structlog.contextvars.bound_contextvars(callback_id=request.id, attempt=attempt_id):
            if not await store.claim(self.engine, request, attempt_id, member.name, datetime.now(timezone.utc)):
                log.info("callback_claim_lost")
                return
            attempt = Attempt(request.id, attempt_id, member.interface, self.clock())
            self.attempts[attempt_id] = attempt
            self.interface_of[attempt_id] = member.interface
            self.counts["placed"] += 1
            log.info("callback_dialling", number=request.number, queue=request.queue, agent=member.name,
                     interface=member.interface, attempts=request.attempts, member_state=member.seen)
            task = asyncio.create_task(self._originate(request, member, attempt_id), name=f"callback-{attempt_id}")
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _originate(self, request: Request, member: Member, attempt_id: str) -> None:
        """Ring the agent (two rings); on answer Asterisk runs the customer context on that leg."""
        offered_at, started = datetime.now(timezone.utc), self.clock()
        action = {
            "Action": "Originate", "Channel": member.interface, "Context": self.cfg.customer_context,
            "Exten": PhoneNumber(request.number), "Priority": "1", "Timeout": str(int(self.ring_timeout_s * 1000)),
            "Async": "true", "Account": model.account_code(attempt_id),
            "CallerID": caller_id(request.caller_name or "callback", PhoneNumber(request.number)),
            "Variable": [f"PBXB_CALLBACK_ID={request.id}", f"PBXB_CALLBACK_ATTEMPT={DialplanName(attempt_id)}",
                         f"PBXB_CALLBACK_QUEUE={DialplanName(request.queue)}",
                         f"PBXB_CALLBACK_DIAL_TIMEOUT={self.cfg.dial_timeout}"],
        }
        with structlog.contextvars.bound_contextvars(callback_id=request.id, attempt=attempt_id):
            try:
                replies = await self.send_action(action, self.ring_timeout_s + 30)
            except Exception as exc:  # noqa: BLE001 - no answer seen: Asterisk is asked later
                log.warning("callback_originate_unconfirmed", error=repr(exc)[:200])
                self._post(("originate", attempt_id, "lost"))
                return
            messages = replies if isinstance(replies, list) else [replies]
            last = messages[-1] if messages else {}
            if (last.get("Event") or "").lower() != "originateresponse":
                log.warning("callback_originate_refused", message=last.get("Message"))
                self._post(("originate", attempt_id, "refused"))
                return
            ok = last.get("Response") == "Success"
            result = "answered" if ok else _ORIGINATE_RESULTS.get(last.get("Reason") or "", "no-answer")
            ring_s = round(self.clock() - started, 3)
            self.sink(OfferRecord(
                uniqueid=request.uniqueid, offer_id=model.account_code(attempt_id), pbx=self.pbx, queue=request.queue,
                agent=member.name, interface=member.interface, offered_at=offered_at, ring_s=ring_s,
                rings=0 if result in ("busy", "unavailable") else rings_for(ring_s, self.ring), result=result))
            log.info("callback_agent_rung", result=result, ring_s=ring_s)
            self._post(("originate", attempt_id, result))
