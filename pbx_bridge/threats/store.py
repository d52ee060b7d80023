"""Threat rows out of the store for the CLI and the reports, and what a person adds from the CLI
(an acknowledgement, a note), written in a transaction of its own: the daemon learns of a CLI
acknowledgement within `threats.poll_interval`."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from pbx_bridge.threats.tables import threat_acks, threat_contacts, threat_notes, threats


def utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _db_time(moment: datetime, dialect: str) -> datetime:
    moment = utc(moment)
    return moment.replace(tzinfo=None) if dialect == "sqlite" else moment


_TIMES = ("marked_at", "lead_told_at", "manager_told_at", "acknowledged_at", "at")


def _row(mapping) -> dict:
    row = dict(mapping)
    for key in _TIMES:
        if key in row:
            row[key] = utc(row[key])
    return row


def listing(engine: Engine, start: datetime | None = None, end: datetime | None = None,
            pbx: str | None = None) -> list[dict]:
    """Every threat (with its acknowledgement, if any), oldest first."""
    t, a = threats.c, threat_acks.c
    query = (select(threats, a.acknowledged_at, a.acknowledged_by, a.via.label("acknowledged_via"))
             .select_from(threats.outerjoin(threat_acks, (a.pbx == t.pbx) & (a.threat_id == t.threat_id)))
             .order_by(t.marked_at, t.threat_id))
    dialect = engine.dialect.name
    if start is not None:
        query = query.where(t.marked_at >= _db_time(start, dialect))
    if end is not None:
        query = query.where(t.marked_at < _db_time(end, dialect))
    if pbx is not None:
        query = query.where(t.pbx == pbx)
    with engine.connect() as conn:
        rows = [_row(r) for r in conn.execute(query).mappings()]
    for row in rows:
        if row["acknowledged_at"] is not None:
            row["status"] = "acknowledged"  # a CLI acknowledgement the daemon may not have written back yet
    return rows


def find(engine: Engine, threat_id: str, pbx: str | None = None) -> dict | None:
    """One threat with its contacts and notes; None if unknown (or ambiguous across PBXs without `pbx`)."""
    found = [r for r in listing(engine, pbx=pbx) if r["threat_id"] == threat_id]
    if len(found) != 1:
        return None
    row = found[0]
    c, n = threat_contacts.c, threat_notes.c
    with engine.connect() as conn:
        row["contacts"] = [_row(r) for r in conn.execute(
            select(c.seq, c.at, c.role, c.name, c.endpoint, c.how, c.result)
            .where(c.pbx == row["pbx"], c.threat_id == threat_id).order_by(c.seq)).mappings()]
        row["notes"] = [_row(r) for r in conn.execute(
            select(n.at, n.by, n.text).where(n.pbx == row["pbx"], n.threat_id == threat_id).order_by(n.at)).mappings()]
    return row


def acknowledge(engine: Engine, pbx: str, threat_id: str, at: datetime, by: str) -> bool:
    """False if it was acknowledged already (the first acknowledgement stands)."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(threat_acks).values(pbx=pbx, threat_id=threat_id, acknowledged_at=_db_time(
                at, engine.dialect.name), acknowledged_by=by, via="cli"))
    except IntegrityError:
        return False
    return True


def add_note(engine: Engine, pbx: str, threat_id: str, at: datetime, by: str, text: str) -> str:
    note_id = uuid.uuid4().hex
    with engine.begin() as conn:
        conn.execute(insert(threat_notes).values(note_id=note_id, pbx=pbx, threat_id=threat_id,
                                                 at=_db_time(at, engine.dialect.name), by=by, text=text))
    return note_id
