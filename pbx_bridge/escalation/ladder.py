"""Climbing and coming down a queue's ladder: the actions of each step, their alerts and records.

Up is immediate (every step the figures call for, in order); down is one step per calm period, last
step first, so a queue that swells again finds its help still there. A member the ladder added is
never removed while on a call or ringing: the step stays "leaving" and the member is asked again
after `retry_remove_s`. A member that was already in the queue when the step added it (a supervisor
logged in as an agent) is not the ladder's to remove.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from pbx_bridge.ami.client import AmiError
from pbx_bridge.escalation.model import Figures, QueueFigures, called_for, reasons
from pbx_bridge.escalation.records import EscalationStepRecord
from pbx_bridge.escalation.settings import EscalationConfig, Ladder, Step
from pbx_bridge.numbers import ChannelName, InvalidValue, phone_number_or_none

log = structlog.get_logger(__name__)

SendAction = Callable[[dict, float], Awaitable]
_ALREADY = "already there"
_NOT_THERE = "not there"


@dataclass
class StepState:
    added: dict[str, str] = field(default_factory=dict)  # member name -> interface the ladder added
    leaving: bool = False
    next_try: float = 0.0
    deferred_logged: set[str] = field(default_factory=set)


@dataclass
class QueueLadder:
    queue: str
    ladder: Ladder
    figures: QueueFigures
    active: list[StepState] = field(default_factory=list)  # the steps taken, first step first
    calm_since: float | None = None
    reason: str = ""
    last: Figures = field(default_factory=Figures)

    @property
    def level(self) -> int:
        return len(self.active)

    def step(self, level: int) -> Step:
        return self.ladder.steps[level - 1]

    def in_force(self) -> list[int]:
        """The levels whose actions hold now (a step being undone has given up its priority and offer)."""
        return [level for level, state in enumerate(self.active, start=1) if not state.leaving]


class Escalator:
    def __init__(self, pbx: str, cfg: EscalationConfig, send_action: SendAction, record: Callable[[object], None],
                 notice: Callable[[dict], None], stand: Callable[[str, dict], None], clear: Callable[[str], None],
                 clock: Callable[[], float], ready: Callable[[], bool] = lambda: True) -> None:
        self.pbx, self.cfg, self.send_action, self.record, self.ready = pbx, cfg, send_action, record, ready
        self.notice, self.stand, self.clear, self.clock = notice, stand, clear, clock
        self.queues = {queue: QueueLadder(queue, ladder, QueueFigures(cfg.service_level_s, cfg.window_s))
                       for queue, ladder in cfg.queues.items()}

    # --- what the routes and the callbacks ask ---------------------------------------------
    def priority_for(self, queue: str, caller: str | None, did: str | None) -> int | None:
        """QUEUE_PRIO for a caller joining `queue` now: the highest level of a step in force that names them."""
        ladder = self.queues.get(queue)
        if ladder is None:
            return None
        best = None
        for level in ladder.in_force():
            rule = ladder.step(level).priority
            if rule is not None and ((caller and caller in rule.callers) or (did and did in rule.dids)):
                best = max(best or 0, rule.level)
        return best

    def callback_offer_after(self, queue: str) -> float | None:
        """The earlier offer of the highest step in force that has one (None: the callbacks room's own)."""
        ladder = self.queues.get(queue)
        if ladder is None:
            return None
        found = None
        for level in ladder.in_force():
            value = ladder.step(level).callback_offer_after
            if value is not None:
                found = value if found is None else min(found, value)
        return found

    # --- one look at a queue ------------------------------------------------------------------
    async def evaluate(self, ladder: QueueLadder) -> None:
        now = self.clock()
        figures = ladder.last = ladder.figures.figures(now)
        target = called_for(ladder.ladder.steps, figures)
        if target > ladder.level or (ladder.level and ladder.active[-1].leaving and target >= ladder.level):
            ladder.calm_since = None
            while ladder.level < target or (ladder.level and ladder.active[-1].leaving):
                await self._climb(ladder, figures)
            return
        if ladder.level == 0:
            return
        await self._repair(ladder, figures)
        top = ladder.active[-1]
        if top.leaving:
            await self._remove_members(ladder, top, now)
            return
        if reasons(ladder.step(ladder.level), figures):
            ladder.calm_since = None
            return
        if ladder.calm_since is None:
            ladder.calm_since = now
        elif now - ladder.calm_since >= ladder.ladder.calm_for:
            await self._descend(ladder, figures, now)

    async def _climb(self, ladder: QueueLadder, figures: Figures) -> None:
        """The next step (or the top step again, if it was leaving: its members come back)."""
        if ladder.level and ladder.active[-1].leaving:
            level, state = ladder.level, ladder.active[-1]
            state.leaving = False
        else:
            level, state = ladder.level + 1, StepState()
            ladder.active.append(state)
        step = ladder.step(level)
        why = "; ".join(reasons(step, figures)) or "a later step was called for"
        ladder.reason = why
        self._write(ladder, level, "escalate", "", why)
        actions = []
        for add in step.add:
            if add.member in state.added:
                continue
            interface = self.cfg.member(add.member)
            outcome = await self._queue_add(ladder.queue, add.member, interface, add.penalty)
            if outcome == "added":
                state.added[add.member] = interface
                actions.append(f"{add.member} added")
                self._write(ladder, level, "add-member", f"{add.member} {interface} penalty {add.penalty}", why)
            elif outcome == "already":
                actions.append(f"{add.member} already in the queue")
                self._write(ladder, level, "add-member", f"{add.member} was already a member: left as it is", why)
            else:
                actions.append(f"{add.member} NOT added")
                self._write(ladder, level, "add-failed", f"{add.member}: {outcome}"[:200], why)
        if step.priority is not None:
            raised = await self._raise_waiting(ladder, step)
            actions.append(f"priority {step.priority.level} for chosen lines/callers ({raised} waiting raised)")
            self._write(ladder, level, "priority-on", f"QUEUE_PRIO {step.priority.level}, {raised} waiting raised", why)
        if step.callback_offer_after is not None:
            actions.append(f"callback offered after {step.callback_offer_after:g} s")
            self._write(ladder, level, "callback-early", f"offer_after {step.callback_offer_after:g}", why)
        log.warning("escalation_step_up", queue=ladder.queue, step=level, step_name=step.name, reason=why,
                    actions=actions)
        self._announce(ladder, level, "up", why, actions)

    async def _repair(self, ladder: QueueLadder, figures: Figures) -> None:
        """A member a holding step added but the queue no longer has (Asterisk restarted without
        persistent members, someone removed it by hand) is added again while the step holds."""
        for level, state in enumerate(ladder.active, start=1):
            if state.leaving:
                continue
            for name, interface in list(state.added.items()):
                if interface in ladder.figures.members:
                    continue
                penalty = next((a.penalty for a in ladder.step(level).add if a.member == name), 0)
                outcome = await self._queue_add(ladder.queue, name, interface, penalty)
                if outcome in ("added", "already"):
                    self._write(ladder, level, "add-member", f"{name} {interface} again: missing from the queue",
                                ladder.reason)
                    log.warning("escalation_member_readded", queue=ladder.queue, member=name)
                else:
                    self._write(ladder, level, "add-failed", f"{name}: {outcome}"[:200], ladder.reason)

    async def _descend(self, ladder: QueueLadder, figures: Figures, now: float) -> None:
        level, state = ladder.level, ladder.active[-1]
        step = ladder.step(level)
        why = f"calm for {ladder.ladder.calm_for:g} s ({self._figures_text(figures)})"
        ladder.reason = why
        state.leaving, state.next_try = True, now
        if step.priority is not None:
            self._write(ladder, level, "priority-off", f"QUEUE_PRIO {step.priority.level}", why)
        if step.callback_offer_after is not None:
            self._write(ladder, level, "callback-normal", "", why)
        await self._remove_members(ladder, state, now)

    async def _remove_members(self, ladder: QueueLadder, state: StepState, now: float) -> None:
        if now < state.next_try:
            return
        level = ladder.level
        for name, interface in list(state.added.items()):
            member = ladder.figures.members.get(interface)
            if member is not None and member.busy:
                if name not in state.deferred_logged:
                    state.deferred_logged.add(name)
                    self._write(ladder, level, "remove-deferred", f"{name} is on a call (status {member.status})",
                                ladder.reason)
                    log.info("escalation_remove_deferred", queue=ladder.queue, member=name, status=member.status)
                continue
            try:
                reply = await self.send_action({"Action": "QueueRemove", "Queue": ladder.queue,
                                                "Interface": interface}, 10)
            except (TimeoutError, ConnectionError, AmiError) as exc:
                self._write(ladder, level, "remove-failed", f"{name}: {exc!r}"[:200], ladder.reason)
                continue
            if reply.success or _NOT_THERE in str(reply.get("Message", "")).lower():
                del state.added[name]
                self._write(ladder, level, "remove-member", f"{name} {interface}", ladder.reason)
            else:
                self._write(ladder, level, "remove-failed", f"{name}: {reply.get('Message')}"[:200], ladder.reason)
        if state.added:
            state.next_try = now + self.cfg.retry_remove_s
            return
        step = ladder.step(level)
        ladder.active.pop()
        ladder.calm_since = now  # the next step down needs a calm period of its own
        self._write(ladder, level, "de-escalate", "", ladder.reason)
        log.warning("escalation_step_down", queue=ladder.queue, step=level, step_name=step.name, reason=ladder.reason)
        self._announce(ladder, level, "down", ladder.reason, [f"{m.member} removed" for m in step.add])

    async def _raise_waiting(self, ladder: QueueLadder, step: Step) -> int:
        """Callers of the VIP list already waiting move up now (QueueChangePriorityCaller, Immediate);
        those who join later get QUEUE_PRIO from the inbound AGI. A line (DID) is not in the queue's
        events, so only callers who join after the step are raised for their line."""
        rule, raised = step.priority, 0
        for uniqueid, (channel, number) in list(ladder.figures.callers.items()):
            caller = phone_number_or_none(number, source=None)
            if caller is None or caller not in rule.callers:
                continue
            try:
                target = ChannelName(channel)
                reply = await self.send_action({"Action": "QueueChangePriorityCaller", "Queue": ladder.queue,
                                                "Caller": target, "Priority": str(rule.level), "Immediate": "yes"}, 10)
            except (InvalidValue, TimeoutError, ConnectionError, AmiError) as exc:
                log.warning("escalation_priority_change_failed", queue=ladder.queue, uniqueid=uniqueid,
                            error=repr(exc)[:200])
                continue
            if reply.success:
                raised += 1
            else:
                log.warning("escalation_priority_change_failed", queue=ladder.queue, uniqueid=uniqueid,
                            error=str(reply.get("Message"))[:200])
        return raised

    async def _queue_add(self, queue: str, name: str, interface: str, penalty: int) -> str:
        try:
            reply = await self.send_action({
                "Action": "QueueAdd", "Queue": queue, "Interface": interface, "MemberName": name,
                "StateInterface": self.cfg.state(name), "Penalty": str(penalty), "Paused": "false"}, 10)
        except (TimeoutError, ConnectionError, AmiError) as exc:
            log.error("escalation_add_failed", queue=queue, member=name, error=repr(exc)[:200])
            return repr(exc)
        if reply.success:
            return "added"
        message = str(reply.get("Message", ""))
        if _ALREADY in message.lower():
            return "already"
        log.error("escalation_add_failed", queue=queue, member=name, error=message[:200])
        return message or "refused"

    # --- what people see and what is kept -------------------------------------------------------
    def _write(self, ladder: QueueLadder, level: int, action: str, detail: str, reason: str) -> None:
        self.record(EscalationStepRecord(
            pbx=self.pbx, action_id=uuid.uuid4().hex, queue=ladder.queue, step=level,
            step_name=ladder.step(level).name, action=action, at=datetime.now(UTC), detail=detail[:200],
            reason=reason[:200]))

    @staticmethod
    def _figures_text(figures: Figures) -> str:
        level = "-" if figures.service_level is None else f"{figures.service_level:.0%}"
        return f"waiting {figures.waiting}, longest {figures.longest_wait:.0f} s, service level {level}"

    def _announce(self, ladder: QueueLadder, level: int, direction: str, why: str, actions: list[str]) -> None:
        step, total = ladder.step(level), len(ladder.ladder.steps)
        text = f"{ladder.queue}: step {level}/{total} {step.name} {'taken' if direction == 'up' else 'undone'}"
        self.notice({"type": "escalation", "queue": ladder.queue, "step": level, "step_name": step.name,
                     "direction": direction, "level": ladder.level, "steps": total, "reason": why,
                     "actions": actions, "figures": ladder.last.as_dict(), "text": f"{text}: {why}"})
        key = f"escalation-{ladder.queue}"
        if ladder.level == 0:
            self.clear(key)
            return
        current = ladder.step(ladder.level)
        self.stand(key, {"type": "escalation", "title": f"Queue {ladder.queue} escalated",
                         "text": f"step {ladder.level}/{total} {current.name}: {ladder.reason}",
                         "severity": "warning" if ladder.level < total else "critical",
                         "queue": ladder.queue, "step": ladder.level, "step_name": current.name})

    # --- the events and records -------------------------------------------------------------
    def handle(self, event) -> None:  # noqa: ANN001 - an AMI message
        ladder = self.queues.get(event.get("Queue") or "")
        if ladder is None or not event.get("Uniqueid"):
            return
        if event.get("Event") == "QueueCallerJoin":
            ladder.figures.joined(event["Uniqueid"], self.clock(), event.get("Channel") or "",
                                  event.get("CallerIDNum") or "")
        else:
            ladder.figures.left(event["Uniqueid"])

    def on_record(self, record: object) -> None:
        ladder = self.queues.get(getattr(record, "queue", None) or "")
        if ladder is None or not hasattr(record, "outcome") or not hasattr(record, "wait_s"):
            return
        if getattr(record, "source", "ami") != "ami" or getattr(record, "incomplete", False):
            return
        ladder.figures.call_ended(record.outcome, record.wait_s, self.clock())

    async def look(self, ladder: QueueLadder) -> None:
        """Ask Asterisk for the queue (callers, members), then judge it."""
        reply = await self.send_action({"Action": "QueueStatus", "Queue": ladder.queue}, 10)
        if not isinstance(reply, list):  # refused (an error answer), not "no such queue": judge nothing
            log.warning("escalation_queue_status_refused", queue=ladder.queue, message=str(reply.get("Message"))[:200])
            return
        before = ladder.figures.known
        ladder.figures.status(reply, self.clock())
        if ladder.figures.known is False and before is not False:
            log.error("escalation_unknown_queue", queue=ladder.queue,
                      hint=f"escalation.queues.{ladder.queue}: Asterisk has no such queue (queues.conf)")
            self.stand(f"escalation-unknown-{ladder.queue}", {
                "type": "escalation", "title": f"Queue {ladder.queue} unknown to Asterisk",
                "text": f"escalation.queues.{ladder.queue} names a queue Asterisk does not have",
                "severity": "warning", "queue": ladder.queue})
        elif ladder.figures.known and before is False:
            self.clear(f"escalation-unknown-{ladder.queue}")
        if ladder.figures.known:
            await self.evaluate(ladder)

    async def run_once(self) -> None:
        if not self.ready():  # the AMI link is (re)connecting: nothing to ask, nothing to judge
            return
        for ladder in self.queues.values():
            try:
                await self.look(ladder)
            except (TimeoutError, ConnectionError, AmiError) as exc:
                log.warning("escalation_look_failed", queue=ladder.queue, error=repr(exc)[:200])

    async def run(self, after_each: Callable[[], None] = lambda: None) -> None:
        while True:
            await self.run_once()
            after_each()
            await asyncio.sleep(self.cfg.interval)
