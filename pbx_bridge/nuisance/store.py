"""Nuisance rows in and out of the store: the same Core statements for the daemon (async) and the
CLI (sync).

Warnings and screened calls are written by the daemon's StoreWriter (batched upserts, retried);
admins' screens and lifts are written by the CLI in a transaction of their own, and the daemon
reads them back within `refresh_interval`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pbx_bridge.nuisance.model import AdminScreen, Lift, normalise, utc
from pbx_bridge.nuisance.tables import nuisance_lifts, nuisance_screens, nuisance_warnings


def db_time(moment: datetime, dialect: str) -> datetime:
    """SQLite keeps naive UTC text; PostgreSQL compares aware timestamps."""
    moment = utc(moment)
    return moment.replace(tzinfo=None) if dialect == "sqlite" else moment


@dataclass
class Known:
    """What the screen decision needs from the store."""

    warnings: list[tuple[str, datetime]]
    warning_keys: set[tuple[str, str, int]]
    admin: list[AdminScreen]
    lifts: list[Lift]


def _queries(since: datetime | None, dialect: str):
    w = nuisance_warnings.c
    warnings = select(w.pbx, w.call_uniqueid, w.seq, w.number, w.warned_at)
    if since is not None:
        warnings = warnings.where(w.warned_at > db_time(since, dialect))
    s = nuisance_screens.c
    admin = select(s.number, s.created_at, s.until, s.reason, s.created_by)
    if since is not None:  # the daemon: only screens that may be in force
        admin = admin.where((s.until.is_(None)) | (s.until > db_time(since, dialect)))
    lift = nuisance_lifts.c
    lifts = select(lift.number, lift.lifted_at, lift.reason, lift.lifted_by)
    return warnings, admin, lifts


def _known(warning_rows, admin_rows, lift_rows) -> Known:
    warnings, keys = [], set()
    for pbx, call, seq, number, at in warning_rows:
        keys.add((pbx, call, seq))
        if (norm := normalise(number, source=None)) is not None:
            warnings.append((norm, utc(at)))
    admin = [AdminScreen(n, utc(c), utc(u) if u else None, r, b) for n, c, u, r, b in admin_rows]
    lifts = [Lift(n, utc(at), r, b) for n, at, r, b in lift_rows]
    return Known(warnings, keys, admin, lifts)


async def load_async(engine: AsyncEngine, since: datetime | None) -> Known:
    """`since`: warnings after it, and admin screens lasting past it (None: everything)."""
    queries = _queries(since, engine.dialect.name)
    async with engine.connect() as conn:
        results = [(await conn.execute(q)).all() for q in queries]
    return _known(*results)


def load_sync(engine: Engine, since: datetime | None = None) -> Known:
    queries = _queries(since, engine.dialect.name)
    with engine.connect() as conn:
        results = [conn.execute(q).all() for q in queries]
    return _known(*results)


async def warnings_in_call(engine: AsyncEngine, pbx: str, call_uniqueid: str) -> int:
    """The highest warning number recorded for a call (a daemon restarted mid-call counts on)."""
    w = nuisance_warnings.c
    async with engine.connect() as conn:
        found = await conn.execute(select(func.max(w.seq)).where(w.pbx == pbx, w.call_uniqueid == call_uniqueid))
        return found.scalar_one() or 0


def add_screen(engine: Engine, number: str, created_at: datetime, until: datetime | None, reason: str,
               by: str) -> str:
    screen_id = uuid.uuid4().hex
    dialect = engine.dialect.name
    with engine.begin() as conn:
        conn.execute(insert(nuisance_screens).values(
            screen_id=screen_id, number=number, created_at=db_time(created_at, dialect),
            until=db_time(until, dialect) if until else None, reason=reason, created_by=by))
    return screen_id


def add_lift(engine: Engine, number: str, lifted_at: datetime, reason: str, by: str) -> str:
    lift_id = uuid.uuid4().hex
    with engine.begin() as conn:
        conn.execute(insert(nuisance_lifts).values(
            lift_id=lift_id, number=number, lifted_at=db_time(lifted_at, engine.dialect.name), reason=reason,
            lifted_by=by))
    return lift_id


def warning_rows(engine: Engine, number: str | None, start: datetime | None, end: datetime | None) -> list[dict]:
    """The evidence, oldest first: every warning (of one number, between two moments)."""
    w = nuisance_warnings.c
    dialect = engine.dialect.name
    query = select(nuisance_warnings).order_by(w.warned_at, w.call_uniqueid, w.seq)
    if number is not None:
        query = query.where(w.number == number)
    if start is not None:
        query = query.where(w.warned_at >= db_time(start, dialect))
    if end is not None:
        query = query.where(w.warned_at < db_time(end, dialect))
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    for row in rows:
        row["warned_at"] = utc(row["warned_at"])
    return rows
