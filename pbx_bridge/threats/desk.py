"""The daemon's side of a threatening call: from the agent's *8 to somebody's acknowledgement.

Rules §6: record every detail, keep the recording, tell the team lead at once; the lead tells the
manager. So when an agent marks a call:
- the threat is recorded (number, caller name, time, desk, agent, queue, company, recording);
- the wallboard and MQTT get an alert and a standing notice (until acknowledged);
- the company's lead is rung (Originate, ring-twice timeout) into a notice naming the desk, with a
  key to acknowledge; rung again every `ring_again_after` while nobody acknowledges;
- nobody acknowledged within `ack_timeout` (or the lead's phone cannot be called at all): the
  manager is rung the same way, and the standing notice says so.
Every alert and call is a contact record (who, when, how, result); the acknowledgement is its own
record. An acknowledgement made with the CLI reaches the daemon within `poll_interval`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import structlog
from sqlalchemy import func, select

from pbx_bridge.backoff import wait_event
from pbx_bridge.numbers import ChannelName, DialplanName, InvalidValue, PhoneNumber, caller_id
from pbx_bridge.threats.model import (ACKNOWLEDGED, TELLING_LEAD, TELLING_MANAGER, UNACKNOWLEDGED, AckRecord,
                                      ContactRecord, ThreatRecord)
from pbx_bridge.threats.settings import Company, Person, ThreatsConfig
from pbx_bridge.threats.tables import threat_acks, threat_contacts, threats

log = structlog.get_logger(__name__)

SendAction = Callable[[dict, float], Awaitable[object]]
# OriginateResponse Reason (Asterisk's AST_CONTROL_*): 4 answered, 5 busy, 3 rang out, 1 hung up,
# 8 congestion, 0 the channel could not be made at all (no such endpoint, not registered).
RESUME_WITHIN = timedelta(hours=24)  # an older threat left open by a restart is the CLI's to close
_RESULTS = {"4": "answered", "5": "busy", "3": "no-answer", "1": "no-answer", "8": "failed", "0": "failed"}


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def desk_name(endpoint: str) -> str:
    """`PJSIP/agent301` -> `agent301`: what the notice says (spelt out)."""
    return endpoint.rpartition("/")[2] or endpoint


def dial_channel(endpoint: str, outside_context: str) -> ChannelName:
    """A person's phone as an Originate channel: a channel as written, a number through the outside route."""
    try:
        return ChannelName.local(PhoneNumber(endpoint), DialplanName(outside_context))
    except InvalidValue:
        return ChannelName(endpoint)


@dataclass(eq=False)
class OpenThreat:
    record: ThreatRecord
    company: Company | None
    marked: float  # clock()
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    seq: int = 0
    task: asyncio.Task | None = None


class ThreatDesk:
    def __init__(self, cfg: ThreatsConfig, pbx: str, sink: Callable[[object], None], send_action: SendAction,
                 live, ring_timeout_s: float, engine=None, clock: Callable[[], float] = time.time,
                 tz=timezone.utc) -> None:
        self.cfg, self.pbx, self.sink, self.send_action = cfg, pbx, sink, send_action
        self.live, self.ring_timeout_s, self.engine, self.clock = live, ring_timeout_s, engine, clock
        self.tz = tz  # the standing notice says the time as the room reads its clock
        self.open: dict[str, OpenThreat] = {}
        self.tasks: set[asyncio.Task] = set()
        self.counts = {"marked": 0, "acknowledged": 0, "manager_called": 0, "unacknowledged": 0}
        self.poll_failures = 0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), timezone.utc)

    def health(self) -> dict:
        return {"open": sum(1 for t in self.open.values() if not t.acked.is_set()), **self.counts,
                "poll_failures": self.poll_failures}

    def recording_path(self, threat_id: str) -> str:
        return f"{self.cfg.recording_dir}/threat-{self.pbx}-{threat_id}.{self.cfg.recording_format}"

    # --- a call marked ---------------------------------------------------------------------
    def mark(self, threat_id: str, *, number: str, caller_name: str, queue: str, agent: str, endpoint: str,
             agent_channel: str, caller_channel: str, recording: str, recording_source: str) -> tuple[OpenThreat, bool]:
        """The threat of this call; (threat, True) the first time, when everyone is told."""
        if threat_id in self.open:
            return self.open[threat_id], False
        company_id = self.cfg.company_of(queue)
        company = self.cfg.companies.get(company_id) if company_id else None
        record = ThreatRecord(
            pbx=self.pbx, threat_id=threat_id, number=number, caller_name=caller_name, marked_at=self.now(),
            endpoint=endpoint, agent=agent, agent_channel=agent_channel, caller_channel=caller_channel,
            queue=queue, company=company_id or "", recording=recording, recording_source=recording_source,
            lead=company.lead.name if company else "", manager=company.manager.name if company else "")
        threat = self.open[threat_id] = OpenThreat(record, company, self.clock())
        self.counts["marked"] += 1
        if company is None:
            record.status = UNACKNOWLEDGED
            record.why_manager = f"no company for queue {queue!r}: nobody could be called (set threats.default_company)"
            log.error("threat_without_company", threat=threat_id, queue=queue)
        self.sink(record)
        log.warning("threat_marked", threat=threat_id, number=number, desk=endpoint, agent=agent, queue=queue,
                    company=record.company, recording=recording, recording_source=recording_source)
        self.live.on_notice({"type": "threat", "threat": threat_id, "desk": endpoint, "agent": agent,
                             "number": number, "company": record.company, "lead": record.lead})
        self._contact(threat, "wallboard", "", "", "alert", "sent")
        self._stand(threat)
        if company is not None:
            threat.task = self._spawn(self._escalate(threat), f"threat-{threat_id}")
        return threat, True

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def _contact(self, threat: OpenThreat, role: str, name: str, endpoint: str, how: str, result: str) -> None:
        threat.seq += 1
        self.sink(ContactRecord(self.pbx, threat.record.threat_id, threat.seq, self.now(), role, name, endpoint, how,
                                result))

    def _stand(self, threat: OpenThreat) -> None:
        r = threat.record
        local = r.marked_at.astimezone(self.tz).strftime("%H:%M:%S")
        text = f"desk {r.endpoint}, agent {r.agent}, caller {r.number or 'unknown'}, at {local}"
        if r.status == TELLING_MANAGER:
            text += f"; lead {r.lead} did not acknowledge: manager {r.manager} called ({r.why_manager})"
        elif r.status == UNACKNOWLEDGED:
            text += f"; NOT acknowledged: {r.why_manager or 'nobody pressed the key'}"
        else:
            text += f"; lead {r.lead} being called"
        self.live.stand(f"threat-{r.threat_id}", {
            "type": "threat", "title": "Threatening call", "text": text, "severity": "critical",
            "desk": r.endpoint, "agent": r.agent, "number": r.number, "company": r.company,
            "time": r.marked_at.isoformat(), "status": r.status})

    # --- acknowledgement -----------------------------------------------------------------------
    def acknowledge(self, threat_id: str, by: str, via: str, write: bool = True) -> bool:
        """False if the threat is not open here (unknown, or acknowledged already)."""
        threat = self.open.get(threat_id)
        if threat is None or threat.acked.is_set():
            return False
        threat.acked.set()
        threat.record.status = ACKNOWLEDGED
        self.counts["acknowledged"] += 1
        at = self.now()
        if write:
            self.sink(AckRecord(self.pbx, threat_id, at, by, via))
        self.sink(threat.record)
        log.warning("threat_acknowledged", threat=threat_id, by=by, via=via,
                    after_s=round(self.clock() - threat.marked))
        self.live.clear(f"threat-{threat_id}")
        self.live.on_notice({"type": "threat-acknowledged", "threat": threat_id, "desk": threat.record.endpoint,
                             "by": by, "via": via})
        return True

    async def poll_acks(self) -> None:
        """Acknowledgements made with the CLI (another process) for threats still open here."""
        waiting = [tid for tid, t in self.open.items() if not t.acked.is_set()]
        if not waiting or self.engine is None:
            return
        a = threat_acks.c
        query = select(a.threat_id, a.acknowledged_by, a.via).where(a.pbx == self.pbx, a.threat_id.in_(waiting))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        for threat_id, by, via in rows:
            self.acknowledge(threat_id, by, via, write=False)

    async def resume(self) -> int:
        """After a restart: threats still being told about (no acknowledgement, marked within
        RESUME_WITHIN) are shown and told about again, from where they were (lead, or manager)."""
        t, a = threats.c, threat_acks.c
        since = self.now() - RESUME_WITHIN
        query = (select(threats).select_from(threats.outerjoin(threat_acks, (a.pbx == t.pbx)
                                                                & (a.threat_id == t.threat_id)))
                 .where(t.pbx == self.pbx, t.status.in_((TELLING_LEAD, TELLING_MANAGER)), a.threat_id.is_(None),
                        t.marked_at >= (since.replace(tzinfo=None) if self.engine.dialect.name == "sqlite" else since)))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        resumed = 0
        for row in rows:
            if row["threat_id"] in self.open:
                continue
            record = ThreatRecord(**{k: (utc(v) if isinstance(v, datetime) else v) for k, v in row.items()})
            company = self.cfg.companies.get(record.company)
            age = (self.now() - record.marked_at).total_seconds()
            threat = self.open[record.threat_id] = OpenThreat(record, company, self.clock() - age)
            async with self.engine.connect() as conn:
                seq = (await conn.execute(select(func.max(threat_contacts.c.seq)).where(
                    threat_contacts.c.pbx == self.pbx, threat_contacts.c.threat_id == record.threat_id))).scalar()
            threat.seq = seq or 0
            log.warning("threat_resumed", threat=record.threat_id, status=record.status, age_s=round(age))
            self._stand(threat)
            if company is not None:
                threat.task = self._spawn(self._escalate(threat), f"threat-{record.threat_id}")
            resumed += 1
        return resumed

    async def run(self) -> None:
        resumed = self.engine is None
        try:
            while True:
                if not resumed:
                    try:
                        await self.resume()
                        resumed = True
                    except Exception as exc:  # noqa: BLE001 - the store is away: tried again at the next poll
                        log.warning("threat_resume_failed", error=repr(exc)[:300])
                await asyncio.sleep(self.cfg.poll_interval)
                try:
                    await self.poll_acks()
                except Exception as exc:  # noqa: BLE001 - the store is away: the phone still acknowledges
                    self.poll_failures += 1
                    log.warning("threat_ack_poll_failed", error=repr(exc)[:300])
        finally:
            for task in list(self.tasks):
                task.cancel()

    # --- telling people ------------------------------------------------------------------------
    async def _escalate(self, threat: OpenThreat) -> None:
        record, company = threat.record, threat.company
        timeout_s = self.cfg.ack_timeout.total_seconds()
        with structlog.contextvars.bound_contextvars(threat=record.threat_id):
            while not threat.acked.is_set() and record.status != TELLING_MANAGER:
                result = await self._ring(threat, "lead", company.lead)
                if result == "failed":
                    record.why_manager = f"the lead's phone {company.lead.endpoint} could not be called"
                    break
                left = timeout_s - (self.clock() - threat.marked)
                if left <= 0 or await wait_event(threat.acked, min(self.cfg.ring_again_after.total_seconds(), left)):
                    break
            if threat.acked.is_set():
                return
            if record.status != TELLING_MANAGER:
                record.why_manager = record.why_manager or f"nobody acknowledged within {_minutes(timeout_s)}"
                record.status = TELLING_MANAGER
                self.counts["manager_called"] += 1
                self.sink(record)
                log.warning("threat_manager_called", manager=company.manager.name, why=record.why_manager)
                self.live.on_notice({"type": "threat-manager", "threat": record.threat_id, "desk": record.endpoint,
                                     "manager": company.manager.name, "why": record.why_manager})
                self._stand(threat)
            for _ in range(self.cfg.manager_attempts):
                await self._ring(threat, "manager", company.manager)
                if await wait_event(threat.acked, self.cfg.ring_again_after.total_seconds()):
                    return
            record.status = UNACKNOWLEDGED
            self.counts["unacknowledged"] += 1
            self.sink(record)
            self._stand(threat)
            log.error("threat_unacknowledged", manager_attempts=self.cfg.manager_attempts)

    async def _ring(self, threat: OpenThreat, role: str, person: Person) -> str:
        """Ring one person for two rings into the notice; the call's result."""
        record = threat.record
        try:
            channel = dial_channel(person.endpoint, self.cfg.outside_context)
            replies = await self.send_action({
                "Action": "Originate", "Channel": channel, "Context": DialplanName(self.cfg.notice_context),
                "Exten": "s", "Priority": "1", "Timeout": str(int(self.ring_timeout_s * 1000)), "Async": "true",
                "CallerID": caller_id(f"Threat {desk_name(record.endpoint)}", None),
                "Variable": [f"PBXB_THREAT={record.threat_id}", f"PBXB_THREAT_ROLE={role}"],
            }, self.ring_timeout_s + 30)
        except Exception as exc:  # noqa: BLE001 - AMI down or the action refused: this attempt failed
            log.warning("threat_call_failed", role=role, name=person.name, error=repr(exc)[:200])
            result = "failed" if not isinstance(exc, (TimeoutError, ConnectionError)) else "no-answer"
        else:
            last = replies[-1] if isinstance(replies, list) else replies
            if last.get("Event") == "OriginateResponse":
                result = "answered" if last.get("Response") == "Success" else _RESULTS.get(str(last.get("Reason")),
                                                                                            "failed")
            else:  # the action itself refused (no OriginateResponse follows)
                result = "failed"
        log.info("threat_person_rung", role=role, name=person.name, endpoint=person.endpoint, result=result)
        self._contact(threat, role, person.name, person.endpoint, "call", result)
        if result == "answered":
            stamp = "lead_told_at" if role == "lead" else "manager_told_at"
            if getattr(record, stamp) is None:
                setattr(record, stamp, self.now())
                self.sink(record)
        return result


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
