"""The book of incidents: each opened when its condition has held `open_after_s`, closed when it has
been gone `close_after_s`, with what it affected, its trend and the daemon's own actions.

An incident starts when its condition was first seen, and ends when it was first seen gone, not
when the book acted on it: the waits before opening and closing only keep a flapping condition
from making many incidents, they do not lengthen the one recorded.

What an incident affected is counted from the call records: a call whose time in the queue
overlaps the incident (and, for a queue's incident, in that queue) is affected; abandoned if it
left unanswered within it; recorded late if its record could only be completed afterwards (closed
as incomplete after an AMI gap, filled in from queue_log, or held in the spool while the database
was away). Records keep arriving for a while after an incident closes (queue_log is read back
after AMI returns), so a closed incident keeps counting for `attribute_after_s`, and is written
again when a count changes.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

import structlog

from pbx_bridge.calls.records import CallRecord
from pbx_bridge.incidents.records import NATURES, SYSTEM_NATURES, IncidentRecord
from pbx_bridge.incidents.settings import IncidentsConfig

log = structlog.get_logger(__name__)

RECENT_S = 60.0  # beyond open_after_s and ami_lookback_s: the checks' own delay, with room to spare
RECENT_CALLS = 5000


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _ts(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@dataclass
class Incident:
    incident_id: str
    key: str
    nature: str
    queue: str | None
    started: float
    detail: str = ""
    ended: float | None = None
    calls_waiting: int = 0
    agents: set[str] = field(default_factory=set)
    affected: set[tuple] = field(default_factory=set)
    abandoned: set[tuple] = field(default_factory=set)
    late: set[tuple] = field(default_factory=set)
    samples: list[dict] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    last_sample: float = 0.0
    lookback_s: float = 0.0  # calls that ended this long before the start count too (see Book.start)

    @property
    def title(self) -> str:
        return NATURES[self.nature][0]

    @property
    def severity(self) -> str:
        return NATURES[self.nature][1]

    def in_scope(self, queue: str) -> bool:
        return self.queue is None or queue == self.queue

    def count(self, record: CallRecord, now: float) -> bool:
        """Counts the call if it overlaps the incident; True if a count changed."""
        if not self.in_scope(record.queue):
            return False
        joined = _ts(record.joined_at)
        left = joined + record.wait_s if record.wait_s is not None else now
        # a call closed as incomplete (cut by an AMI gap) or answered with no talk time ended at an
        # unknown moment: it lasted at least until it was closed
        unknown_end = record.incomplete or (record.outcome in ("answered", "transferred") and record.talk_s is None)
        ended = now if unknown_end else left + (record.talk_s or 0)
        until = self.ended if self.ended is not None else now
        since = self.started - self.lookback_s
        if ended < since or joined > until:
            return False
        key = (record.uniqueid, record.seq)
        before = (len(self.affected), len(self.abandoned), len(self.late))
        self.affected.add(key)
        if record.outcome == "abandoned" and since <= left <= until:
            self.abandoned.add(key)
        if record.incomplete or record.source == "queue_log" or (self.nature == "database" and ended >= self.started):
            self.late.add(key)
        return before != (len(self.affected), len(self.abandoned), len(self.late))

    def record(self, pbx: str) -> IncidentRecord:
        return IncidentRecord(
            pbx=pbx, incident_id=self.incident_id, nature=self.nature,
            place=pbx if self.queue is None else f"{pbx} queue {self.queue}", queue=self.queue, title=self.title,
            severity=self.severity, started_at=_utc(self.started),
            ended_at=None if self.ended is None else _utc(self.ended),
            duration_s=None if self.ended is None else round(self.ended - self.started, 1),
            calls_waiting=self.calls_waiting, calls_affected=len(self.affected), abandoned=len(self.abandoned),
            recorded_late=len(self.late), agents_affected=len(self.agents),
            agents=json.dumps(sorted(self.agents), ensure_ascii=False),
            trend=json.dumps(self.samples, ensure_ascii=False), actions=json.dumps(self.actions, ensure_ascii=False),
            detail=self.detail)

    def notice(self, pbx: str, tz: tzinfo) -> dict:
        """The standing notice while open (MQTT `standing/<key>`, the wallboard's band)."""
        latest = self.samples[-1] if self.samples else {}
        where = "" if self.queue is None else f" (queue {self.queue})"
        text = f"{self.title}{where} since {_utc(self.started).astimezone(tz):%H:%M:%S}"
        if self.detail:
            text += f": {self.detail}"
        if latest.get("waiting"):
            text += f"; {latest['waiting']} waiting"
        return {"type": "incident", "title": f"Incident: {self.title}", "text": text, "severity": self.severity,
                "incident_id": self.incident_id, "nature": self.nature, "queue": self.queue, "pbx": pbx,
                "started_at": _utc(self.started).isoformat(timespec="seconds"),
                "calls_affected": len(self.affected), "abandoned": len(self.abandoned)}


class Book:
    """Incidents open and recently closed; each change goes to `sink` (the store writer), `stand` /
    `clear` (standing notices) and `tell` (one-off alerts)."""

    def __init__(self, pbx: str, cfg: IncidentsConfig, sink: Callable[[IncidentRecord], None],
                 tell: Callable[[dict], None], stand: Callable[[str, dict], None], clear: Callable[[str], None],
                 tz: tzinfo = UTC, clock: Callable[[], float] = time.time) -> None:
        self.pbx, self.cfg, self.sink, self.tell, self.stand, self.clear, self.tz, self.clock = (
            pbx, cfg, sink, tell, stand, clear, tz, clock)
        self.open: dict[str, Incident] = {}
        self.recent: list[Incident] = []  # closed, still counting late records
        # the call records of the last moments, counted by an incident when it opens: an incident
        # opens `open_after_s` after its start, and the calls Asterisk cut as it stopped came before
        self.calls: deque[tuple[float, CallRecord]] = deque(maxlen=RECENT_CALLS)
        self._bad_since: dict[str, float] = {}
        self._good_since: dict[str, float] = {}
        self.opened = 0
        self.closed = 0

    # --- conditions ----------------------------------------------------------------------------
    def observe(self, key: str, nature: str, queue: str | None, bad: bool, now: float, detail: str = "",
                sample: dict | None = None, agents: set[str] | None = None) -> Incident | None:
        """One look at one condition; opens or closes its incident when it has held long enough."""
        if bad:
            self._good_since.pop(key, None)
            since = self._bad_since.setdefault(key, now)
            incident = self.open.get(key)
            if incident is None and now - since >= self.cfg.open_after_s:
                incident = self.start(key, nature, queue, since, detail, sample, agents)
            elif incident is not None and queue is not None and detail:
                incident.detail = detail  # a queue's figures as they are now (the wait grows)
            return incident
        self._bad_since.pop(key, None)
        incident = self.open.get(key)
        if incident is not None:
            gone = self._good_since.setdefault(key, now)
            if now - gone >= self.cfg.close_after_s:
                self.end(key, gone)
        return incident

    def start(self, key: str, nature: str, queue: str | None, started: float, detail: str = "",
              sample: dict | None = None, agents: set[str] | None = None) -> Incident:
        if (incident := self.open.get(key)) is not None:
            return incident
        # Asterisk hangs up its calls as it stops, a moment before its manager connection closes:
        # the calls it cut ended just before the AMI incident began
        incident = Incident(f"{_utc(started):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}", key, nature, queue, started,
                            detail=detail, lookback_s=self.cfg.ami_lookback_s if nature == "ami" else 0.0)
        incident.agents |= agents or set()
        now = self.clock()
        for _, record in self.calls:
            incident.count(record, now)
        self.open[key] = incident
        self.opened += 1
        if sample is not None:
            self._sample(incident, sample, self.clock(), force=True)
        log.warning("incident_opened", incident_id=incident.incident_id, nature=nature, queue=queue,
                    started_at=_utc(started).isoformat(timespec="seconds"), detail=detail or None)
        self._write(incident)
        self.tell({"type": "incident-opened", "incident_id": incident.incident_id, "nature": nature, "queue": queue,
                   "title": incident.title, "severity": incident.severity, "detail": detail})
        return incident

    def end(self, key: str, ended: float) -> Incident | None:
        incident = self.open.pop(key, None)
        self._good_since.pop(key, None)
        self._bad_since.pop(key, None)
        if incident is None:
            return None
        incident.ended = max(ended, incident.started)
        self.recent.append(incident)
        self.closed += 1
        duration = round(incident.ended - incident.started, 1)
        log.warning("incident_closed", incident_id=incident.incident_id, nature=incident.nature, queue=incident.queue,
                    duration_s=duration, calls_affected=len(incident.affected), abandoned=len(incident.abandoned),
                    recorded_late=len(incident.late), actions=len(incident.actions))
        self.sink(incident.record(self.pbx))
        self.clear(f"incident-{incident.incident_id}")
        self.tell({"type": "incident-closed", "incident_id": incident.incident_id, "nature": incident.nature,
                   "queue": incident.queue, "title": incident.title, "duration_s": duration,
                   "calls_affected": len(incident.affected), "abandoned": len(incident.abandoned)})
        return incident

    # --- what happened meanwhile -------------------------------------------------------------
    def sample(self, key: str, sample: dict, now: float, agents: set[str] | None = None) -> None:
        incident = self.open.get(key)
        if incident is None:
            return
        incident.agents |= agents or set()
        if self._sample(incident, sample, now):
            self._write(incident)

    def _sample(self, incident: Incident, sample: dict, now: float, force: bool = False) -> bool:
        incident.calls_waiting = max(incident.calls_waiting, int(sample.get("waiting") or 0))
        if not force and now - incident.last_sample < self.cfg.sample_interval_s:
            return False
        incident.last_sample = now
        incident.samples.append({"at": _utc(now).isoformat(timespec="seconds"), **sample})
        if len(incident.samples) > self.cfg.max_samples:  # the first stays: how it began
            del incident.samples[1]
        return True

    def on_call(self, record: CallRecord) -> None:
        now = self.clock()
        self.calls.append((now, record))
        while self.calls and now - self.calls[0][0] > self.cfg.open_after_s + self.cfg.ami_lookback_s + RECENT_S:
            self.calls.popleft()
        for incident in [*self.open.values(), *self.recent]:
            if incident.count(record, now) and incident.ended is not None:
                self.sink(incident.record(self.pbx))  # a closed one is written again; an open one at its next sample

    def act(self, nature: str | None, queue: str | None, action: dict) -> Incident | None:
        """An action the daemon took by itself, for the incident it answers: the open one of this
        nature (and queue), else the one most recently closed; None if there is none."""
        def fits(incident: Incident) -> bool:
            return (nature is None or incident.nature == nature) and (
                queue is None or incident.queue in (None, queue))
        candidates = [i for i in self.open.values() if fits(i)] or [i for i in reversed(self.recent) if fits(i)][:1]
        if not candidates:
            return None
        incident = candidates[0]
        incident.actions.append({"at": _utc(self.clock()).isoformat(timespec="seconds"), **action})
        self._write(incident)
        return incident

    def prune(self, now: float) -> None:
        self.recent = [i for i in self.recent if now - (i.ended or now) < self.cfg.attribute_after_s]

    def _write(self, incident: Incident) -> None:
        self.sink(incident.record(self.pbx))
        if incident.ended is None:
            self.stand(f"incident-{incident.incident_id}", incident.notice(self.pbx, self.tz))

    def flush_open(self) -> None:
        """Writes each open incident (its counts since the last sample)."""
        for incident in self.open.values():
            self._write(incident)

    def health(self) -> dict:
        return {"open": len(self.open), "opened": self.opened, "closed": self.closed,
                "open_natures": sorted({i.nature for i in self.open.values()}),
                "system": [i.nature for i in self.open.values() if i.nature in SYSTEM_NATURES]}
