"""Reading incidents back (the CLI, the monthly report) and people's notes on them, for the review.

An incident is named by its id or any unique beginning of it (`20261202-0135`), since people type it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select

from pbx_bridge.incidents.tables import incident_notes, incidents


class UnknownIncident(LookupError):
    """No incident, or more than one, has this id (or beginning of one)."""


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass
class Incident:
    row: dict
    notes: list[dict] = field(default_factory=list)

    def __getattr__(self, name: str):  # the row's columns as attributes
        try:
            return self.row[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def open(self) -> bool:
        return self.row["ended_at"] is None

    def decoded(self, key: str) -> list:
        try:
            return json.loads(self.row[key] or "[]")
        except ValueError:
            return []


def _incident(row: dict) -> Incident:
    row = dict(row)
    for key in ("started_at", "ended_at"):
        row[key] = _utc(row[key])
    return Incident(row)


def listing(engine: Engine, start: datetime | None = None, end: datetime | None = None, nature: str | None = None,
            open_only: bool = False, pbx: str | None = None) -> list[Incident]:
    """Incidents that overlap [start, end), oldest first."""
    query = select(incidents).order_by(incidents.c.started_at, incidents.c.incident_id)
    if end is not None:
        query = query.where(incidents.c.started_at < end)
    if start is not None:
        query = query.where((incidents.c.ended_at.is_(None)) | (incidents.c.ended_at >= start))
    if nature:
        query = query.where(incidents.c.nature == nature)
    if open_only:
        query = query.where(incidents.c.ended_at.is_(None))
    if pbx:
        query = query.where(incidents.c.pbx == pbx)
    with engine.connect() as conn:
        return [_incident(r) for r in conn.execute(query).mappings()]


def get(engine: Engine, incident_id: str) -> Incident:
    """The one incident this id (or unique beginning of one) names, with its notes; UnknownIncident otherwise."""
    wanted = (incident_id or "").strip()
    if not wanted:
        raise UnknownIncident("no incident id given")
    escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with engine.connect() as conn:
        rows = list(conn.execute(select(incidents).where(incidents.c.incident_id.like(f"{escaped}%", escape="\\"))
                                 .limit(20)).mappings())
        exact = [r for r in rows if r["incident_id"] == wanted]
        rows = exact or rows
        if not rows:
            raise UnknownIncident(f"no incident {wanted!r} (see `pbx-bridge incidents list`)")
        if len(rows) > 1:
            ids = ", ".join(sorted(f"{r['pbx']}/{r['incident_id']}" for r in rows)[:5])
            raise UnknownIncident(f"{wanted!r} names more than one incident ({ids}): give more of the id")
        found = _incident(rows[0])
        notes = conn.execute(select(incident_notes).where(incident_notes.c.pbx == found.pbx,
                                                          incident_notes.c.incident_id == found.incident_id)
                             .order_by(incident_notes.c.noted_at)).mappings()
        found.notes = [{**n, "noted_at": _utc(n["noted_at"])} for n in notes]
    return found


def add_note(engine: Engine, incident_id: str, by: str, text: str, now: datetime | None = None) -> Incident:
    """A person's note on an incident (what they did, for the review); UnknownIncident if it names none."""
    found = get(engine, incident_id)
    at = now or datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(incident_notes).values(note_id=uuid.uuid4().hex, pbx=found.pbx,
                                                   incident_id=found.incident_id, noted_at=at, by=by, text=text))
    found.notes.append({"noted_at": at, "by": by, "text": text})
    return found


def notes_count(engine: Engine, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    if not keys:
        return counts
    with engine.connect() as conn:
        for row in conn.execute(select(incident_notes.c.pbx, incident_notes.c.incident_id)):
            key = (row.pbx, row.incident_id)
            counts[key] = counts.get(key, 0) + 1
    return counts
