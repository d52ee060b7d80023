"""Incidents in the monthly report (rules §8: incidents are recorded and reviewed): per nature, how
many began in the period, how long they lasted, and the calls they affected.

An incident counts in the period it began. Its duration is from its start to its end; one still
open is counted (`open`) but adds nothing to the durations. Calls affected, abandoned and recorded
late are the incident's own counts (pbx_bridge/incidents/model.py says what each one means); a call
in two incidents at once (AMI lost while the database was too) counts in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from sqlalchemy import select

from pbx_bridge.incidents.tables import incidents as t
from pbx_bridge.store.days import db_bound

NOTE = ("incidents: those that began in the period, per nature (pbx-bridge incidents list|show for each one, "
        "with its trend, the daemon's actions and people's notes); durations exclude those still open")


@dataclass
class IncidentLine:
    nature: str
    count: int = 0
    open: int = 0
    duration_s: float = 0.0
    longest_s: float = 0.0
    calls_affected: int = 0
    abandoned: int = 0
    recorded_late: int = 0

    def add(self, row) -> None:  # noqa: ANN001 - a result row
        self.count += 1
        if row.duration_s is None:
            self.open += 1
        else:
            self.duration_s += row.duration_s
            self.longest_s = max(self.longest_s, row.duration_s)
        self.calls_affected += row.calls_affected
        self.abandoned += row.abandoned
        self.recorded_late += row.recorded_late

    def as_dict(self) -> dict:
        return {"nature": self.nature, "count": self.count, "open": self.open,
                "duration_min": round(self.duration_s / 60, 1), "longest_min": round(self.longest_s / 60, 1),
                "calls_affected": self.calls_affected, "abandoned": self.abandoned,
                "recorded_late": self.recorded_late}


def lines(conn, start: datetime, end: datetime, pbx: str | None = None) -> list[IncidentLine]:  # noqa: ANN001
    """Per nature (sorted), then `(all)`; [] when there was no incident."""
    dialect = conn.dialect.name
    query = select(t.c.nature, t.c.duration_s, t.c.calls_affected, t.c.abandoned, t.c.recorded_late).where(
        t.c.started_at >= db_bound(start, dialect), t.c.started_at < db_bound(end, dialect))
    if pbx is not None:
        query = query.where(t.c.pbx == pbx)
    per: dict[str, IncidentLine] = {}
    total = IncidentLine("(all)")
    for row in conn.execute(query):
        per.setdefault(row.nature, IncidentLine(row.nature)).add(row)
        total.add(row)
    return [per[n] for n in sorted(per)] + [total] if per else []


HEADS = ("nature", "incidents", "still open", "minutes", "longest min", "calls affected", "abandoned",
         "recorded late")


def _cells(line: IncidentLine) -> tuple[str, ...]:
    d = line.as_dict()
    return (line.nature, str(line.count), str(line.open), f"{d['duration_min']:g}", f"{d['longest_min']:g}",
            str(line.calls_affected), str(line.abandoned), str(line.recorded_late))


def table_rows(found: list[IncidentLine]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    return HEADS, [_cells(line) for line in found]


def csv_rows(found: list[IncidentLine]):
    """Long form, as the rest of the monthly CSV: one figure a row."""
    for line in found:
        d = line.as_dict()
        for figure in ("count", "open", "calls_affected", "abandoned", "recorded_late"):
            yield {"section": "incidents", "company": "(all)", "period": line.nature, "figure": figure,
                   "count": d[figure]}
        for figure in ("duration_min", "longest_min"):
            yield {"section": "incidents", "company": "(all)", "period": line.nature, "figure": figure,
                   "value": d[figure]}


def html_table(found: list[IncidentLine]) -> str:
    if not found:
        return "<p>(no incidents)</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADS)
    left = ' class="l"'
    body = "".join("<tr>" + "".join(f"<td{left if i == 0 else ''}>{escape(c)}</td>"
                                    for i, c in enumerate(_cells(line))) + "</tr>" for line in found)
    return f"<table id=\"incidents\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
