"""Escalation in the monthly report (rules §3, "when calls pile up"): per queue, how often the
ladder was climbed, how high, for how long, and how often a supervisor had to be left in on a call.

Read from the escalation room's records (escalation_steps), one row per action. A climb starts
with step 1's `escalate` and ends with step 1's `de-escalate`; one still open at the end of the
period counts until then. The reports room sits above the feature rooms and may read their tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from sqlalchemy import select

from pbx_bridge.escalation.tables import escalation_steps as t
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.store.days import db_bound

NOTE = ("escalation: a climb starts when the queue reaches its ladder's first step and ends when that step is "
        "undone; minutes escalated sum the climbs (one open at the end of the period counts until then)")
HEADS = ("queue", "company", "climbs", "highest step", "minutes escalated", "members added", "removals deferred")


def _utc(moment: datetime) -> datetime:
    from datetime import timezone

    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass
class EscalationLine:
    queue: str
    company: str
    climbs: int = 0
    highest: int = 0
    seconds: float = 0.0
    added: int = 0
    deferred: int = 0
    _open: datetime | None = None

    def add(self, action: str, step: int, at: datetime) -> None:
        at = _utc(at)
        if action == "escalate":
            self.highest = max(self.highest, step)
            if step == 1 and self._open is None:
                self.climbs += 1
                self._open = at
        elif action == "de-escalate" and step == 1 and self._open is not None:
            self.seconds += (at - self._open).total_seconds()
            self._open = None
        elif action == "add-member":
            self.added += 1
        elif action == "remove-deferred":
            self.deferred += 1

    def close(self, end: datetime) -> None:
        if self._open is not None:
            self.seconds += (_utc(end) - self._open).total_seconds()
            self._open = None

    def as_dict(self) -> dict:
        return {"queue": self.queue, "company": self.company, "climbs": self.climbs, "highest_step": self.highest,
                "minutes_escalated": round(self.seconds / 60, 1), "members_added": self.added,
                "removals_deferred": self.deferred}


def lines(conn, start: datetime, end: datetime, settings: ReportsConfig, pbx: str | None = None) -> list[EscalationLine]:
    """Per queue (sorted); [] when no ladder was climbed."""
    dialect = conn.dialect.name
    query = select(t.c.queue, t.c.step, t.c.action, t.c.at).where(
        t.c.at >= db_bound(start, dialect), t.c.at < db_bound(end, dialect)).order_by(t.c.at)
    if pbx is not None:
        query = query.where(t.c.pbx == pbx)
    per_queue: dict[str, EscalationLine] = {}
    for row in conn.execute(query):
        per_queue.setdefault(row.queue, EscalationLine(row.queue, settings.company_of(row.queue))).add(
            row.action, row.step, row.at)
    for line in per_queue.values():
        line.close(end)
    return [per_queue[q] for q in sorted(per_queue)]


def _cells(line: EscalationLine) -> tuple[str, ...]:
    d = line.as_dict()
    return (line.queue, line.company, str(line.climbs), str(line.highest), f"{d['minutes_escalated']:g}",
            str(line.added), str(line.deferred))


def table_rows(found: list[EscalationLine]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    return HEADS, [_cells(line) for line in found]


def csv_rows(found: list[EscalationLine]):
    for line in found:
        for figure, value in line.as_dict().items():
            if figure not in ("queue", "company"):
                yield {"section": "escalation", "company": line.company, "period": line.queue, "figure": figure,
                       "value": value}


def html_table(found: list[EscalationLine]) -> str:
    if not found:
        return "<p>(no escalation)</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADS)
    left = ' class="l"'
    body = "".join("<tr>" + "".join(f"<td{left if i == 1 else ''}>{escape(c)}</td>"
                                    for i, c in enumerate(_cells(line))) + "</tr>" for line in found)
    return f"<table id=\"escalation\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
