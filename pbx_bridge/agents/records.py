"""What an agent session leaves behind: the log-in span and every pause in it, for the reports.

A record is written again (same key, upsert) when it ends, so an open session is visible in the
store while it lasts and survives a daemon restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pbx_bridge.store.registry import RecordKinds
from pbx_bridge.agents.tables import agent_pauses, agent_sessions

LOGOUT_REASONS = ("phone", "moved", "removed-from-rota", "replaced")


@dataclass
class AgentSessionRecord:
    pbx: str
    session_id: str
    employee_no: str
    agent: str
    endpoint: str
    interface: str
    queues: str
    login_at: datetime
    logout_at: datetime | None = None
    logout_reason: str | None = None


@dataclass
class AgentPauseRecord:
    pbx: str
    pause_id: str
    session_id: str
    employee_no: str
    agent: str
    reason: str
    started_at: datetime
    ended_at: datetime | None = None


def register_records(kinds: RecordKinds) -> None:
    kinds.register(AgentSessionRecord, agent_sessions)
    kinds.register(AgentPauseRecord, agent_pauses)
