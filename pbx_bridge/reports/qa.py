"""Service quality from call monitoring in the monthly report (rules §4: "summarised per
company"): per company and per agent, the calls monitored, the average score, and the lowest
scores with their calls, so each can be listened back to.

A call counts as monitored in the period when a supervisor listened to it, or scored it, in the
period. Its company is the report's (`reports.companies` by the call's queue), as everywhere in
the report; a call whose queue is unknown keeps the rota company the listen named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from html import escape

from sqlalchemy import select

from pbx_bridge.qa.tables import qa_scores, qa_sessions
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.store.days import db_bound

LOWEST = 5  # the lowest scores listed per company and per agent

NOTE = ("service quality: calls a supervisor listened to (*85/*87) or scored (`pbx-bridge qa score`) in the "
        "period; score 1 (poor) to 5 (excellent); lowest = the lowest scores with their calls")


@dataclass
class QualityLine:
    company: str
    agent: str = ""  # "" on a company's line
    calls: set[str] = field(default_factory=set)
    listens: int = 0
    scores: list[dict] = field(default_factory=list)

    @property
    def average(self) -> float | None:
        return round(sum(s["score"] for s in self.scores) / len(self.scores), 2) if self.scores else None

    def lowest(self, limit: int) -> list[dict]:
        return sorted(self.scores, key=lambda s: (s["score"], s["scored_at"]))[:limit]

    def as_dict(self, limit: int) -> dict:
        out = {"company": self.company}
        if self.agent:
            out["agent"] = self.agent
        return {**out, "calls_monitored": len(self.calls), "listens": self.listens, "scored": len(self.scores),
                "average_score": self.average, "lowest": self.lowest(limit)}


@dataclass
class Quality:
    companies: list[QualityLine]
    agents: list[QualityLine]
    lowest_limit: int = LOWEST

    def __bool__(self) -> bool:
        return bool(self.companies)

    def as_dict(self) -> dict:
        return {"companies": [c.as_dict(self.lowest_limit) for c in self.companies],
                "agents": [a.as_dict(self.lowest_limit) for a in self.agents]}


def _iso(moment: datetime) -> str:
    return moment.isoformat() if moment.tzinfo else moment.isoformat() + "+00:00"


def quality(conn, start: datetime, end: datetime, settings: ReportsConfig, pbx: str | None = None,  # noqa: ANN001
            lowest_limit: int = LOWEST) -> Quality:
    dialect = conn.dialect.name
    lo, hi = db_bound(start, dialect), db_bound(end, dialect)
    q_sessions = select(qa_sessions.c.call_uniqueid, qa_sessions.c.queue, qa_sessions.c.agent,
                        qa_sessions.c.company).where(qa_sessions.c.started_at >= lo, qa_sessions.c.started_at < hi)
    q_scores = select(qa_scores).where(qa_scores.c.scored_at >= lo, qa_scores.c.scored_at < hi)
    if pbx is not None:
        q_sessions = q_sessions.where(qa_sessions.c.pbx == pbx)
        q_scores = q_scores.where(qa_scores.c.pbx == pbx)
    companies: dict[str, QualityLine] = {}
    agents: dict[tuple[str, str], QualityLine] = {}

    def lines(queue: str, agent: str, rota_company: str) -> tuple[QualityLine, QualityLine]:
        company = settings.company_of(queue) if queue else (rota_company or "-")
        agent = agent or "?"
        return (companies.setdefault(company, QualityLine(company)),
                agents.setdefault((company, agent), QualityLine(company, agent)))

    for row in conn.execute(q_sessions):
        for line in lines(row.queue, row.agent, row.company):
            line.calls.add(row.call_uniqueid)
            line.listens += 1
    for row in conn.execute(q_scores):
        mark = {"uniqueid": row.call_uniqueid, "score": row.score, "agent": row.agent, "by": row.scored_by,
                "note": row.note, "scored_at": _iso(row.scored_at), "source": row.source}
        for line in lines(row.queue, row.agent, row.company):
            line.calls.add(row.call_uniqueid)
            line.scores.append(mark)
    return Quality([companies[k] for k in sorted(companies)], [agents[k] for k in sorted(agents)], lowest_limit)


HEADS = ("company", "agent", "calls monitored", "listens", "scored", "average", "lowest (score uniqueid)")


def _cells(line: QualityLine, limit: int) -> tuple[str, ...]:
    average = line.average
    lowest = ", ".join(f"{s['score']} {s['uniqueid']}" for s in line.lowest(limit))
    return (line.company, line.agent or "(all)", str(len(line.calls)), str(line.listens), str(len(line.scores)),
            "-" if average is None else f"{average:.2f}", lowest or "-")


def table_rows(q: Quality) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    body = []
    for company in q.companies:
        body.append(_cells(company, q.lowest_limit))
        body += [_cells(a, q.lowest_limit) for a in q.agents if a.company == company.company]
    return HEADS, body


def csv_rows(q: Quality):
    """Long form, as the rest of the monthly CSV: one figure a row; each of the lowest scores a row."""
    for line in [*q.companies, *q.agents]:
        base = {"section": "quality", "company": line.company, "agent": line.agent}
        yield {**base, "figure": "calls_monitored", "count": len(line.calls)}
        yield {**base, "figure": "average_score", "value": line.average, "count": len(line.scores)}
        for s in line.lowest(q.lowest_limit):
            yield {**base, "figure": "low_score", "period": s["uniqueid"], "value": s["score"]}


def html_table(q: Quality) -> str:
    if not q:
        return "<p>(no calls monitored)</p>"
    heads, body = table_rows(q)
    head = "".join(f"<th>{escape(h)}</th>" for h in heads)
    left = ' class="l"'
    rows = "".join("<tr>" + "".join(f"<td{left if i in (1, 6) else ''}>{escape(c)}</td>"
                                    for i, c in enumerate(cells)) + "</tr>" for cells in body)
    return f'<table id="quality"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
