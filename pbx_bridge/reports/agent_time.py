"""Logged-in time and pause time by reason, per agent, for the monthly report (rules §3, §7).

Sessions and pauses are spans; each is clipped to the report's period (a session that began on
the last evening of the previous month counts only from midnight), and one still open counts up
to the end of the period or now, whichever is earlier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select

from pbx_bridge.agents.tables import agent_pauses, agent_sessions


@dataclass
class AgentTime:
    employee_no: str
    agent: str
    sessions: int = 0
    logged_in_s: float = 0.0
    paused_s: dict[str, float] = field(default_factory=dict)

    @property
    def pause_total_s(self) -> float:
        return sum(self.paused_s.values())

    def as_dict(self) -> dict:
        return {"employee_no": self.employee_no, "agent": self.agent, "sessions": self.sessions,
                "logged_in_h": round(self.logged_in_s / 3600, 2),
                "paused_h": {k: round(v / 3600, 2) for k, v in sorted(self.paused_s.items())},
                "paused_total_h": round(self.pause_total_s / 3600, 2)}


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _clipped(begin: datetime, end: datetime | None, start: datetime, stop: datetime) -> float:
    begin, end = max(_utc(begin), start), min(_utc(end) or stop, stop)
    return max(0.0, (end - begin).total_seconds())


def agent_time(conn, start: datetime, end: datetime, pbx: str | None = None,
               now: datetime | None = None) -> list[AgentTime]:
    stop = min(end, now or datetime.now(UTC))
    out: dict[str, AgentTime] = {}
    for table, begin_col, end_col in ((agent_sessions, agent_sessions.c.login_at, agent_sessions.c.logout_at),
                                      (agent_pauses, agent_pauses.c.started_at, agent_pauses.c.ended_at)):
        query = select(table).where(begin_col < end, or_(end_col.is_(None), end_col > start))
        if pbx is not None:
            query = query.where(and_(table.c.pbx == pbx))
        for row in conn.execute(query):
            line = out.setdefault(row.employee_no, AgentTime(row.employee_no, row.agent))
            seconds = _clipped(getattr(row, begin_col.name), getattr(row, end_col.name), start, stop)
            if table is agent_sessions:
                line.sessions += 1
                line.logged_in_s += seconds
            else:
                line.paused_s[row.reason] = line.paused_s.get(row.reason, 0.0) + seconds
    return sorted(out.values(), key=lambda a: a.agent)


def table_lines(lines: list[AgentTime]) -> list[str]:
    reasons = sorted({r for a in lines for r in a.paused_s})
    out = ["Agent time (hours): logged in, and paused by reason"]
    if not lines:
        return [*out, "(no agent sessions)"]
    heads = ["工号", "agent", "sessions", "logged in", *reasons, "paused"]
    body = [[a.employee_no, a.agent, str(a.sessions), f"{a.logged_in_s / 3600:.2f}",
             *(f"{a.paused_s.get(r, 0) / 3600:.2f}" for r in reasons), f"{a.pause_total_s / 3600:.2f}"]
            for a in lines]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(heads)]
    out.append("  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip())
    out += ["  ".join(c.ljust(w) for c, w in zip(b, widths)).rstrip() for b in body]
    return out


def csv_rows(lines: list[AgentTime]):
    for a in lines:
        yield {"section": "agent_time", "agent": a.agent, "figure": "logged_in_h", "value": round(a.logged_in_s / 3600, 3),
               "count": a.sessions}
        for reason, seconds in sorted(a.paused_s.items()):
            yield {"section": "agent_time", "agent": a.agent, "figure": f"paused_{reason}_h",
                   "value": round(seconds / 3600, 3)}
