"""What call monitoring leaves in the store. A listen is written when it starts and again, with the
same key, when it ends (the writer upserts), so a listen cut short by a daemon stop is still there."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from pbx_bridge.qa.tables import qa_scores, qa_sessions
from pbx_bridge.store.registry import RecordKinds

SCORES = range(1, 6)


@dataclass
class SessionRecord:
    session_id: str
    pbx: str
    call_uniqueid: str  # the queued call, as `calls.uniqueid` knows it
    queue: str
    agent: str
    employee_no: str
    company: str
    supervisor: str
    supervisor_endpoint: str
    spied_channel: str
    whisper: bool
    started_at: datetime
    ended_at: datetime | None = None
    listened_s: float | None = None

    def as_row(self) -> dict:
        return asdict(self)


@dataclass
class ScoreRecord:
    score_id: str
    pbx: str
    call_uniqueid: str
    score: int
    scored_by: str
    scored_at: datetime
    source: str  # phone | cli
    queue: str = ""
    agent: str = ""
    company: str = ""
    note: str = ""
    session_id: str | None = None

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ValueError(f"a score is 1 to 5, not {self.score}")

    def as_row(self) -> dict:
        return asdict(self)


def register_records(kinds: RecordKinds) -> None:
    kinds.register(SessionRecord, qa_sessions)
    kinds.register(ScoreRecord, qa_scores)
