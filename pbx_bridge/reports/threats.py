"""Threatening calls in the monthly report (rules §6 恐吓电话): per company, the threats marked in
the period, how they were handled (acknowledged by the lead, by the manager, not at all), and each
threat listed, with its recording, so the review can find the evidence.

The company is the one the threats room named when the call was marked (threats.companies); a
threat no company claimed is counted under the reports' own company of its queue.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape

from sqlalchemy import select

from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.store.days import db_bound
from pbx_bridge.threats.tables import threat_acks as a
from pbx_bridge.threats.tables import threats as t

NOTE = ("threats: calls an agent marked with *8 in the period; acknowledged = the lead or the manager pressed the "
        "key (or used `pbx-bridge threats ack`); minutes to acknowledge = from the mark to the acknowledgement")


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


@dataclass
class ThreatLine:
    company: str
    threats: int = 0
    acknowledged: int = 0
    manager_called: int = 0
    unacknowledged: int = 0
    minutes: list[float] = field(default_factory=list)
    listed: list[dict] = field(default_factory=list)

    @property
    def median_min(self) -> float | None:
        return round(statistics.median(self.minutes), 1) if self.minutes else None

    def add(self, row, tz) -> None:  # noqa: ANN001 - a result row, a ZoneInfo
        self.threats += 1
        marked, acked = _utc(row.marked_at), _utc(row.acknowledged_at)
        self.manager_called += row.manager_told_at is not None or row.status in ("telling-manager",)
        if acked is not None:
            self.acknowledged += 1
            self.minutes.append((acked - marked).total_seconds() / 60)
        else:
            self.unacknowledged += 1
        self.listed.append({"time": marked.astimezone(tz).strftime("%Y-%m-%d %H:%M"), "desk": row.endpoint,
                            "agent": row.agent, "number": row.number, "queue": row.queue,
                            "acknowledged_by": row.acknowledged_by or "", "recording": row.recording})

    def as_dict(self) -> dict:
        return {"company": self.company, "threats": self.threats, "acknowledged": self.acknowledged,
                "manager_called": self.manager_called, "unacknowledged": self.unacknowledged,
                "median_minutes_to_acknowledge": self.median_min, "threats_listed": self.listed}


def lines(conn, start: datetime, end: datetime, settings: ReportsConfig, tz, pbx: str | None = None) -> list[ThreatLine]:
    """Per company (sorted), then `(all)`; [] when no call was marked."""
    dialect = conn.dialect.name
    query = (select(t.c.company, t.c.queue, t.c.marked_at, t.c.endpoint, t.c.agent, t.c.number, t.c.recording,
                    t.c.status, t.c.manager_told_at, a.c.acknowledged_at, a.c.acknowledged_by)
             .select_from(t.outerjoin(a, (a.c.pbx == t.c.pbx) & (a.c.threat_id == t.c.threat_id)))
             .where(t.c.marked_at >= db_bound(start, dialect), t.c.marked_at < db_bound(end, dialect))
             .order_by(t.c.marked_at))
    if pbx is not None:
        query = query.where(t.c.pbx == pbx)
    per: dict[str, ThreatLine] = {}
    total = ThreatLine("(all)")
    for row in conn.execute(query):
        company = row.company or settings.company_of(row.queue)
        per.setdefault(company, ThreatLine(company)).add(row, tz)
        total.add(row, tz)
    return [per[c] for c in sorted(per)] + [total] if per else []


HEADS = ("company", "threats", "acknowledged", "manager called", "not acknowledged", "median min to acknowledge")


def _cells(line: ThreatLine) -> tuple[str, ...]:
    median = line.median_min
    return (line.company, str(line.threats), str(line.acknowledged), str(line.manager_called),
            str(line.unacknowledged), "-" if median is None else f"{median:g}")


def table_rows(lines_: list[ThreatLine]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    return HEADS, [_cells(line) for line in lines_]


def csv_rows(lines_: list[ThreatLine]):
    for line in lines_:
        for figure in ("threats", "acknowledged", "manager_called", "unacknowledged"):
            yield {"section": "threats", "company": line.company, "figure": figure, "count": line.as_dict()[figure],
                   "of": line.threats}
        yield {"section": "threats", "company": line.company, "figure": "median_minutes_to_acknowledge",
               "value": line.median_min}


def html_table(lines_: list[ThreatLine]) -> str:
    if not lines_:
        return "<p>(no threatening calls)</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADS)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in _cells(line)) + "</tr>" for line in lines_)
    listed = [x for line in lines_ if line.company != "(all)" for x in line.listed]
    items = "".join(f"<li>{escape(x['time'])} desk {escape(x['desk'])} ({escape(x['agent'])}), caller "
                    f"{escape(x['number'] or 'unknown')}: {escape(x['acknowledged_by'] or 'NOT acknowledged')}; "
                    f"recording {escape(x['recording'] or '-')}</li>" for x in listed)
    return (f"<table id=\"threats\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<ul class=\"threats\">{items}</ul>")
