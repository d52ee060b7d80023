"""Reading back the sessions still open when the daemon last stopped, and the time spans for reports."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from pbx_bridge.agents.records import AgentPauseRecord, AgentSessionRecord
from pbx_bridge.store.engine import sync_engine
from pbx_bridge.agents.tables import agent_pauses, agent_sessions


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; everything stored is UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def load_open(url: str, pbx: str) -> tuple[list[AgentSessionRecord], list[AgentPauseRecord]]:
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            sessions = [
                AgentSessionRecord(**{**row._mapping, "login_at": _aware(row.login_at)})
                for row in conn.execute(select(agent_sessions).where(
                    agent_sessions.c.pbx == pbx, agent_sessions.c.logout_at.is_(None)))
            ]
            open_ids = {s.session_id for s in sessions}
            pauses = [
                AgentPauseRecord(**{**row._mapping, "started_at": _aware(row.started_at)})
                for row in conn.execute(select(agent_pauses).where(
                    agent_pauses.c.pbx == pbx, agent_pauses.c.ended_at.is_(None)))
                if row.session_id in open_ids
            ]
    finally:
        engine.dispose()
    return sessions, pauses
