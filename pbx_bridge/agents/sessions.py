"""Who is logged in where, kept in step with the queues (AMI QueueAdd / QueueRemove / QueuePause).

One session per agent and one per phone: logging in elsewhere ends the old session ("moved", rules
§8: an agent moves desk when a phone fails), and a second agent on the same phone replaces the
first. Pauses are recorded from the queue's own QueueMemberPause events, so a pause counts the same
whoever caused it: the agent's pause code, the ring-twice rule, or a supervisor at the CLI.
The rota is the list of agents: one taken out of it is logged out of every queue at reload.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from pbx_bridge.agents.records import AgentPauseRecord, AgentSessionRecord
from pbx_bridge.agents.settings import AgentsConfig

log = structlog.get_logger(__name__)

SendAction = Callable[[dict, float], Awaitable]
_HARMLESS = ("already there", "not there", "unable to remove interface: not there")


class AgentActionFailed(RuntimeError):
    """Asterisk refused a queue action; the phone menu says so instead of claiming success."""


@dataclass
class Session:
    record: AgentSessionRecord
    queues: tuple[str, ...]
    pause: AgentPauseRecord | None = None
    paused_in: set[str] = field(default_factory=set)

    @property
    def interface(self) -> str:
        return self.record.interface


def _now() -> datetime:
    return datetime.now(UTC)


def _event_time(event: Mapping) -> datetime:
    try:
        return datetime.fromtimestamp(float(event.get("Timestamp")), UTC)
    except (TypeError, ValueError):
        return _now()


class AgentSessions:
    def __init__(self, pbx: str, cfg: AgentsConfig, send_action: SendAction,
                 sink: Callable[[object], None]) -> None:
        self.pbx, self.cfg, self.send_action, self.sink = pbx, cfg, send_action, sink
        self.by_employee: dict[str, Session] = {}
        self.by_interface: dict[str, Session] = {}
        self._tasks: set[asyncio.Task] = set()

    # --- state ---------------------------------------------------------------------------
    def restore(self, sessions: list[AgentSessionRecord], pauses: list[AgentPauseRecord]) -> None:
        """The sessions open in the store when the daemon stopped (Asterisk kept the members)."""
        open_pauses = {p.session_id: p for p in pauses}
        for record in sessions:
            session = Session(record, tuple(q for q in record.queues.split(",") if q),
                              pause=open_pauses.get(record.session_id))
            self._index(session)
        if sessions:
            log.info("agent_sessions_restored", sessions=len(sessions), paused=len(open_pauses))

    def _index(self, session: Session) -> None:
        self.by_employee[session.record.employee_no] = session
        self.by_interface[session.interface] = session

    def _forget(self, session: Session) -> None:
        if self.by_employee.get(session.record.employee_no) is session:
            del self.by_employee[session.record.employee_no]
        if self.by_interface.get(session.interface) is session:
            del self.by_interface[session.interface]

    def on_phone(self, endpoint: str) -> Session | None:
        return self.by_interface.get(self.cfg.member(endpoint))

    def health(self) -> dict:
        return {"logged_in": len(self.by_employee),
                "paused": sum(1 for s in self.by_employee.values() if s.pause is not None)}

    # --- actions -------------------------------------------------------------------------
    async def _action(self, fields: dict) -> None:
        reply = await self.send_action(fields, 10)
        if not reply.success and not any(h in str(reply.get("Message", "")).lower() for h in _HARMLESS):
            raise AgentActionFailed(f"{fields['Action']}: {reply.get('Message')}")

    async def login(self, employee_no: str, name: str, endpoint: str, queues: tuple[str, ...]) -> Session:
        interface = self.cfg.member(endpoint)
        if (old := self.by_employee.get(employee_no)) is not None:
            await self.logout(old, "moved" if old.interface != interface else "phone")
        if (other := self.by_interface.get(interface)) is not None:
            await self.logout(other, "replaced")
        for queue in queues:
            await self._action({"Action": "QueueAdd", "Queue": queue, "Interface": interface, "MemberName": name,
                                "StateInterface": self.cfg.state(endpoint), "Paused": "false"})
        record = AgentSessionRecord(
            pbx=self.pbx, session_id=uuid.uuid4().hex, employee_no=employee_no, agent=name, endpoint=endpoint,
            interface=interface, queues=",".join(queues), login_at=_now())
        session = Session(record, queues)
        self._index(session)
        self.sink(record)
        log.info("agent_logged_in", agent=name, employee_no=employee_no, interface=interface, queues=list(queues))
        return session

    async def logout(self, session: Session, reason: str) -> None:
        for queue in session.queues:
            await self._action({"Action": "QueueRemove", "Queue": queue, "Interface": session.interface})
        now = _now()
        self._end_pause(session, now)
        session.record.logout_at, session.record.logout_reason = now, reason
        self._forget(session)
        self.sink(session.record)
        log.info("agent_logged_out", agent=session.record.agent, employee_no=session.record.employee_no,
                 reason=reason)

    async def pause(self, session: Session, reason: str) -> None:
        await self._action({"Action": "QueuePause", "Interface": session.interface, "Paused": "true",
                            "Reason": reason})

    async def resume(self, session: Session) -> None:
        await self._action({"Action": "QueuePause", "Interface": session.interface, "Paused": "false"})

    # --- the queue's own account of pauses -----------------------------------------------
    def handle(self, event: Mapping) -> None:
        if event.get("Event") != "QueueMemberPause":
            return
        session = self.by_interface.get(event.get("Interface") or "")
        if session is None:
            return
        queue = event.get("Queue") or ""
        if event.get("Paused") == "1":
            session.paused_in.add(queue)
            reason = event.get("PausedReason") or event.get("Reason") or "unspecified"
            if session.pause is None or session.pause.reason != reason:
                at = _event_time(event)
                self._end_pause(session, at)
                session.pause = AgentPauseRecord(
                    pbx=self.pbx, pause_id=uuid.uuid4().hex, session_id=session.record.session_id,
                    employee_no=session.record.employee_no, agent=session.record.agent, reason=reason,
                    started_at=at)
                self.sink(session.pause)
                log.info("agent_paused", agent=session.record.agent, reason=reason)
        else:
            session.paused_in.discard(queue)
            if not session.paused_in and session.pause is not None:
                self._end_pause(session, _event_time(event))
                log.info("agent_resumed", agent=session.record.agent)

    def _end_pause(self, session: Session, at: datetime) -> None:
        if session.pause is not None:
            session.pause.ended_at = at
            self.sink(session.pause)
            session.pause = None
        session.paused_in.clear()

    # --- the rota is the list of agents ----------------------------------------------------
    def departed(self, known: Callable[[str], bool]) -> list[Session]:
        return [s for s in self.by_employee.values() if not known(s.record.employee_no)]

    async def remove_departed(self, known: Callable[[str], bool]) -> int:
        """Log out everyone no longer in the rota (rules §7: access removed at once)."""
        gone = self.departed(known)
        for session in gone:
            try:
                await self.logout(session, "removed-from-rota")
            except (AgentActionFailed, TimeoutError, ConnectionError, RuntimeError) as exc:
                log.error("agent_removal_failed", agent=session.record.agent, error=repr(exc)[:200])
        return len(gone)

    def on_rota(self, known: Callable[[str], bool]) -> None:
        """Rota reload listener (synchronous): the removals run as a task of their own."""
        if not self.departed(known):
            return
        task = asyncio.get_running_loop().create_task(self.remove_departed(known), name="agents-rota-removal")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
