"""After AMI comes back, the queues are made to match the agent sessions the daemon holds (rules §8:
"once the system is back, agents go back on the phones at once so traffic does not pile up").

An Asterisk restart without persistent members (`persistentmembers = no`) forgets every member, and
any restart forgets pauses; the agents themselves know nothing of it and would sit idle or take
calls on a break. The sessions are the daemon's account of who logged in where and who paused, so
they win: a member missing from a queue is added again (paused if the session is paused), and a
pause the queue lost is set again with its reason. A member the queue holds paused while the
session is not is left alone (a supervisor may have paused them while we were away; the pause
event is gone, so we only tell of it). Each repair is told as a notice (`recovery`) so that the
incidents room can record it as an action of the open incident without importing this room.

Queues load after the manager at an Asterisk start: an action refused because the queue is not
there yet is tried again a few times, a second apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import structlog

from pbx_bridge.agents.sessions import AgentActionFailed, AgentSessions, Session

log = structlog.get_logger(__name__)

RETRIES = 5
RETRY_DELAY_S = 1.0


def queue_members(listing: object) -> dict[tuple[str, str], Mapping]:
    """(queue, interface) -> its QueueMember event, from a QueueStatus answer."""
    found: dict[tuple[str, str], Mapping] = {}
    for message in listing if isinstance(listing, list) else []:
        if message.get("Event") == "QueueMember":
            interface = message.get("Interface") or message.get("Location") or message.get("StateInterface") or ""
            found[(message.get("Queue") or "", interface)] = message
    return found


def differences(sessions: AgentSessions, members: Mapping[tuple[str, str], Mapping]) -> list[dict]:
    """What the queues lack against the sessions: missing members, lost pauses (and pauses only
    the queue knows, which are told, not undone)."""
    found: list[dict] = []
    for session in list(sessions.by_employee.values()):
        for queue in session.queues:
            member = members.get((queue, session.interface))
            if member is None:
                found.append(_item("member-missing", session, queue))
            elif session.pause is not None and member.get("Paused") != "1":
                found.append(_item("pause-lost", session, queue))
            elif session.pause is None and member.get("Paused") == "1":
                found.append(_item("pause-unknown", session, queue,
                                   reason=member.get("PausedReason") or member.get("Reason") or ""))
    return found


def _item(kind: str, session: Session, queue: str, **extra: str) -> dict:
    return {"kind": kind, "queue": queue, "interface": session.interface, "agent": session.record.agent,
            "employee_no": session.record.employee_no, **extra}


async def _repair(sessions: AgentSessions, session: Session, item: dict) -> list[dict]:
    """The actions sent for one difference, as `{"Action", ...}` without secrets (for the record)."""
    actions: list[dict] = []
    pause = session.pause
    if item["kind"] == "member-missing":
        endpoint = session.record.endpoint
        add = {"Action": "QueueAdd", "Queue": item["queue"], "Interface": session.interface,
               "MemberName": session.record.agent, "StateInterface": sessions.cfg.state(endpoint),
               "Paused": "true" if pause is not None else "false"}
        await sessions._action(add)
        actions.append(add)
    if pause is not None:  # a member added paused, or a pause lost: the reason is set again too
        again = {"Action": "QueuePause", "Queue": item["queue"], "Interface": session.interface, "Paused": "true",
                 "Reason": pause.reason}
        await sessions._action(again)
        actions.append(again)
    return actions


async def recover(sessions: AgentSessions, send_action: Callable, notify: Callable[[dict], None],
                  gap_s: float | None, delay_s: float = RETRY_DELAY_S) -> list[dict]:
    """Compare the queues with the sessions and repair the differences; returns what was done."""
    done: list[dict] = []
    for attempt in range(1, RETRIES + 1):
        listing = await send_action({"Action": "QueueStatus"}, 10)
        pending = differences(sessions, queue_members(listing))
        failed = 0
        for item in pending:
            if item["kind"] == "pause-unknown":
                if attempt == 1:
                    log.warning("recovery_pause_only_in_queue", **item)
                    notify({"type": "recovery", "action": "none", "gap_s": gap_s, **item})
                continue
            session = sessions.by_interface.get(item["interface"])
            if session is None:  # logged out meanwhile
                continue
            try:
                actions = await _repair(sessions, session, item)
            except (AgentActionFailed, TimeoutError, ConnectionError) as exc:
                failed += 1
                log.warning("recovery_action_failed", attempt=attempt, error=str(exc)[:200], **item)
                continue
            entry = {"type": "recovery", "action": "+".join(a["Action"] for a in actions), "gap_s": gap_s, **item}
            done.append(entry)
            log.info("recovery_repaired", **{k: v for k, v in entry.items() if k != "type"})
            notify(entry)
        if not failed:
            break
        await asyncio.sleep(delay_s)
    else:
        log.error("recovery_incomplete", attempts=RETRIES)
    if done:
        log.info("recovery_done", repaired=len(done), gap_s=None if gap_s is None else round(gap_s, 1))
    return done
