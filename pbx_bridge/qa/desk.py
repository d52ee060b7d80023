"""The listens going on now, and the scores given at their end.

A listen ends when the supervisor's menu asks for the score (ChanSpy returned) or when the
supervisor's channel hangs up (the AMI Hangup event), whichever comes first; either way the
record is written again with its end and length. A daemon stop leaves it open (ended_at NULL):
the start of a listen is never lost, only how long it lasted.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import structlog

from pbx_bridge.qa.records import ScoreRecord, SessionRecord
from pbx_bridge.qa.settings import QaConfig, Supervisor

log = structlog.get_logger(__name__)

MAX_OPEN = 500  # listens at once: far beyond any team; a leak must not grow without bound


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


@dataclass(frozen=True)
class Target:
    """The call a supervisor asked for, as found on the agent's channel."""

    call_uniqueid: str
    spied_channel: str
    agent: str
    employee_no: str
    company: str
    queue: str = ""


class QaDesk:
    def __init__(self, cfg: QaConfig, pbx: str, record: Callable[[Any], None],
                 notice: Callable[[dict], None] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.cfg, self.pbx, self.record, self.notice, self.clock = cfg, pbx, record, notice, clock
        self._open: dict[str, SessionRecord] = {}  # by session id
        self._by_channel: dict[str, str] = {}  # supervisor's channel uniqueid -> session id
        self.listens = self.scores = 0

    def start(self, supervisor: Supervisor, target: Target, whisper: bool, supervisor_uid: str) -> SessionRecord:
        session = SessionRecord(
            session_id=uuid.uuid4().hex[:16], pbx=self.pbx, call_uniqueid=target.call_uniqueid, queue=target.queue,
            agent=target.agent, employee_no=target.employee_no, company=target.company, supervisor=supervisor.name,
            supervisor_endpoint=supervisor.endpoint, spied_channel=target.spied_channel, whisper=whisper,
            started_at=_utc(self.clock()))
        if len(self._open) >= MAX_OPEN:  # the oldest is surely stale (its Hangup was missed)
            self.end(next(iter(self._open)))
        self._open[session.session_id] = session
        if supervisor_uid:
            self._by_channel[supervisor_uid] = session.session_id
        self.listens += 1
        self.record(session)
        log.info("qa_listen_started", session=session.session_id, supervisor=supervisor.name, agent=target.agent,
                 uniqueid=target.call_uniqueid, whisper=whisper)
        return session

    def session_of(self, session_id: str, supervisor_uid: str) -> SessionRecord | None:
        """The open listen `session_id`, only for the channel that started it."""
        session = self._open.get(session_id)
        if session is None or self._by_channel.get(supervisor_uid) != session_id:
            return None
        return session

    def end(self, session_id: str) -> SessionRecord | None:
        session = self._open.pop(session_id, None)
        if session is None:
            return None
        for channel in [c for c, s in self._by_channel.items() if s == session_id]:
            del self._by_channel[channel]
        session.ended_at = _utc(self.clock())
        session.listened_s = round((session.ended_at - session.started_at).total_seconds(), 1)
        self.record(session)
        log.info("qa_listen_ended", session=session_id, supervisor=session.supervisor, agent=session.agent,
                 listened_s=session.listened_s)
        return session

    def score(self, session: SessionRecord, score: int) -> ScoreRecord:
        """The supervisor's key at the end of the listen; ends the listen too."""
        self.end(session.session_id)
        record = ScoreRecord(
            score_id=uuid.uuid4().hex[:16], pbx=self.pbx, call_uniqueid=session.call_uniqueid, score=score,
            scored_by=session.supervisor, scored_at=_utc(self.clock()), source="phone", queue=session.queue,
            agent=session.agent, company=session.company, session_id=session.session_id)
        self.scores += 1
        self.record(record)
        log.info("qa_call_scored", uniqueid=record.call_uniqueid, score=score, agent=record.agent,
                 supervisor=record.scored_by)
        if self.notice is not None and score <= self.cfg.alert_at_or_below:
            self.notice({"type": "qa-low-score", "score": score, "agent": record.agent, "company": record.company,
                         "queue": record.queue, "uniqueid": record.call_uniqueid, "by": record.scored_by})
        return record

    def handle(self, event: Mapping) -> None:
        """AMI Hangup: the supervisor's channel is gone, so is the listen."""
        session_id = self._by_channel.get(event.get("Uniqueid") or "")
        if session_id is not None:
            self.end(session_id)

    def health(self) -> dict:
        return {"listening": len(self._open), "listens": self.listens, "scores": self.scores}
