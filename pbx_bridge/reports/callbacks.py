"""Callbacks in the monthly report (rules §3 virtual hold, §5 the CALL BACK list): per queue,
the requests made in the period and what became of them.

A request counts in the period it was made, with its status now: done (the customer answered
the callback), closed by an inbound call (the customer called in and was answered first),
failed (not reached in `callbacks.max_attempts` calls), cancelled, or still open (pending or
dialling). The time to callback is from the request to the customer answering, for the done
ones; its median is taken in Python, since there are few requests and SQLite has no median.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from html import escape

from sqlalchemy import select

from pbx_bridge.callbacks.model import ANSWERED_INBOUND, CANCELLED, DONE, FAILED, OPEN, utc
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.store.days import db_bound
from pbx_bridge.callbacks.tables import callback_requests as t

NOTE = ("callbacks: requests made in the period (a caller pressed 1 after waiting), with their status now; "
        "time to callback = from the request to the customer answering the callback (median, minutes)")


@dataclass
class CallbackLine:
    queue: str
    company: str
    requested: int = 0
    done: int = 0
    answered_inbound: int = 0
    failed: int = 0
    cancelled: int = 0
    open: int = 0
    minutes: list[float] = field(default_factory=list)

    @property
    def median_min(self) -> float | None:
        return round(statistics.median(self.minutes), 1) if self.minutes else None

    def add(self, status: str, requested_at: datetime, done_at: datetime | None) -> None:
        self.requested += 1
        if status == DONE:
            self.done += 1
            if done_at is not None:
                self.minutes.append((utc(done_at) - utc(requested_at)).total_seconds() / 60)
        elif status == ANSWERED_INBOUND:
            self.answered_inbound += 1
        elif status == FAILED:
            self.failed += 1
        elif status == CANCELLED:
            self.cancelled += 1
        elif status in OPEN:
            self.open += 1

    def as_dict(self) -> dict:
        return {"queue": self.queue, "company": self.company, "requested": self.requested, "done": self.done,
                "closed_by_inbound": self.answered_inbound, "failed": self.failed, "cancelled": self.cancelled,
                "pending": self.open, "median_minutes_to_callback": self.median_min}


def lines(conn, start: datetime, end: datetime, settings: ReportsConfig, pbx: str | None = None) -> list[CallbackLine]:
    """Per queue (sorted), then `(all)`; [] when nobody asked for a callback."""
    dialect = conn.dialect.name
    query = select(t.c.queue, t.c.status, t.c.requested_at, t.c.done_at).where(
        t.c.requested_at >= db_bound(start, dialect), t.c.requested_at < db_bound(end, dialect))
    if pbx is not None:
        query = query.where(t.c.pbx == pbx)
    per_queue: dict[str, CallbackLine] = {}
    total = CallbackLine("(all)", "(all)")
    for row in conn.execute(query):
        line = per_queue.setdefault(row.queue, CallbackLine(row.queue, settings.company_of(row.queue)))
        line.add(row.status, row.requested_at, row.done_at)
        total.add(row.status, row.requested_at, row.done_at)
    return [per_queue[q] for q in sorted(per_queue)] + [total] if per_queue else []


HEADS = ("queue", "company", "requested", "done", "closed by inbound call", "failed", "cancelled", "pending",
         "median min to callback")


def _cells(line: CallbackLine) -> tuple[str, ...]:
    median = line.median_min
    return (line.queue, line.company, str(line.requested), str(line.done), str(line.answered_inbound),
            str(line.failed), str(line.cancelled), str(line.open), "-" if median is None else f"{median:g}")


def table_rows(callbacks: list[CallbackLine]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    return HEADS, [_cells(line) for line in callbacks]


def csv_rows(callbacks: list[CallbackLine]):
    """Long form, as the rest of the monthly CSV: one figure a row."""
    for line in callbacks:
        for figure in ("requested", "done", "closed_by_inbound", "failed", "cancelled", "pending"):
            yield {"section": "callbacks", "company": line.company, "agent": "", "period": line.queue,
                   "figure": figure, "count": line.as_dict()[figure], "of": line.requested}
        yield {"section": "callbacks", "company": line.company, "period": line.queue,
               "figure": "median_minutes_to_callback", "value": line.median_min}


def html_table(callbacks: list[CallbackLine]) -> str:
    if not callbacks:
        return "<p>(no callback requests)</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADS)
    left = ' class="l"'
    body = "".join("<tr>" + "".join(f"<td{left if i == 1 else ''}>{escape(c)}</td>"
                                    for i, c in enumerate(_cells(line))) + "</tr>" for line in callbacks)
    return f"<table id=\"callbacks\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
