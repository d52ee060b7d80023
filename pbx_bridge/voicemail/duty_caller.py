"""At each listening time, ring the duty agent's phone into the playback AGI (rules §2).

The duty agent's phone rings for two rings (the Originate timeout follows ring-twice); no answer
means a retry after `retry_minutes`, then the next agents in order (those not on leave), each
for two rings; a
listening nobody took is recorded as missed. A company with no new messages is not called: the
listening is recorded as `no-messages`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable

import structlog

from pbx_bridge.numbers import caller_id, phone_number_or_none
from pbx_bridge.voicemail.player import VoicemailPlayer
from pbx_bridge.voicemail.records import ListeningRecord

log = structlog.get_logger(__name__)

SendAction = Callable[[dict, float], Awaitable[object]]


class DutyCaller:
    def __init__(self, pbx: str, rota_holder, player: VoicemailPlayer, send_action: SendAction,
                 sink: Callable[[object], None], ring_timeout_s: float, retry_minutes: float,
                 playback_context: str = "pbx-bridge-vm-playback") -> None:
        self.pbx, self.rota_holder, self.player, self.send_action = pbx, rota_holder, player, send_action
        self.sink, self.ring_timeout_s, self.retry_s = sink, ring_timeout_s, retry_minutes * 60
        self.playback_context = playback_context
        self.listenings: dict[str, ListeningRecord] = {}
        self.running: set[asyncio.Task] = set()
        self.done: set[str] = set()
        player.on_played.append(self._played)

    def health(self) -> dict:
        return {"listenings_in_progress": len(self.running), "held": len(self.done)}

    def _played(self, listening_id: str, count: int) -> None:
        record = self.listenings.get(listening_id)
        if record is not None:
            record.messages_played += count
            self.sink(record)

    async def run(self) -> None:
        """Wait for each listening time and start it; the rota is re-read at every step."""
        from pbx_bridge.rota.schedule import next_listenings

        while True:
            rota = self.rota_holder.current
            now = datetime.now(timezone.utc)
            upcoming = [li for li in next_listenings(rota, now - GRACE, now + _DAY) if li.key not in self.done]
            if not upcoming:
                await asyncio.sleep(30)
                continue
            first = upcoming[0]
            wait = (first.at - datetime.now(timezone.utc)).total_seconds()
            if wait > 0:
                await asyncio.sleep(min(wait, 30))  # short steps: a reloaded rota is seen in time
                continue
            for listening in (li for li in upcoming if li.at == first.at):
                self.done.add(listening.key)
                task = asyncio.create_task(self.hold(listening), name=f"listening-{listening.company_id}")
                self.running.add(task)
                task.add_done_callback(self.running.discard)

    async def hold(self, listening) -> ListeningRecord:
        from pbx_bridge.rota.duty import duty

        rota = self.rota_holder.current
        company = rota.company(listening.company_id)
        listening_id = listening.key
        record = ListeningRecord(listening_id=listening_id, pbx=self.pbx, company=company.id,
                                 scheduled_at=listening.at.astimezone(timezone.utc), status="pending")
        self.listenings[listening_id] = record
        with structlog.contextvars.bound_contextvars(company=company.id, listening=listening_id):
            if not self.player.new_messages(company.id, list(company.mailboxes)):
                record.status = "no-messages"
                self.sink(record)
                log.info("voicemail_listening_no_messages")
                return record
            on_duty = duty(rota, company.id, listening.at.astimezone(rota.tz).date())
            order = [on_duty.agent, on_duty.agent, *on_duty.standby] if on_duty.agent else []
            for attempt, agent in enumerate(order):
                if attempt == 1:
                    log.info("voicemail_retry_wait", minutes=self.retry_s / 60)
                    await asyncio.sleep(self.retry_s)
                record.attempts += 1
                if await self._ring(agent, company, listening_id):
                    record.status, record.agent = "taken", agent.name
                    record.started_at = datetime.now(timezone.utc)
                    self.sink(record)
                    log.info("voicemail_listening_taken", agent=agent.name, attempts=record.attempts)
                    return record
            record.status = "missed"
            self.sink(record)
            log.warning("voicemail_listening_missed", attempts=record.attempts)
            return record

    async def _ring(self, agent, company, listening_id: str) -> bool:
        log.info("voicemail_ringing_agent", agent=agent.name, endpoint=agent.endpoint)
        try:
            replies = await self.send_action({
                "Action": "Originate", "Channel": agent.endpoint, "Context": self.playback_context, "Exten": "s",
                "Priority": "1", "Timeout": str(int(self.ring_timeout_s * 1000)), "Async": "true",
                "CallerID": caller_id(company.name, phone_number_or_none(company.mailboxes[0].split("@")[0],
                                                                         source="rota_mailbox")),
                "Variable": [f"PBXB_COMPANY={company.id}", f"PBXB_LISTENING={listening_id}",
                             f"PBXB_AGENT={agent.employee_no}"],
            }, self.ring_timeout_s + 30)
        except Exception as exc:  # noqa: BLE001 - AMI down: this attempt failed, the next may not
            log.warning("voicemail_originate_failed", agent=agent.name, error=repr(exc)[:200])
            return False
        last = replies[-1] if isinstance(replies, list) else replies
        answered = last.get("Response") == "Success" and last.get("Event") == "OriginateResponse"
        if not answered:
            log.info("voicemail_agent_did_not_answer", agent=agent.name, reason=last.get("Reason"))
        return answered


_DAY = timedelta(days=1)
GRACE = timedelta(seconds=90)  # a listening whose time passed while we slept or restarted is still held
