"""The CALL BACK list in SQL (table `callback_requests`).

Every write is its own committed transaction, straight to the database, never through the
batched writer: a caller is told "we will call you back" only once the request is stored, and an
attempt is marked `dialling` before its Originate is sent (write-ahead), so that a daemon killed
at any instant finds in the table every request it may have started to dial. Updates to an
attempt are guarded by its attempt id and status: a stale or repeated result changes nothing.

The daemon calls the `async` functions (AsyncEngine); the CLI calls the plain ones (Engine).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from pbx_bridge.callbacks.model import ANSWERED_INBOUND, CANCELLED, DIALLING, DONE, OPEN, PENDING, Request
from pbx_bridge.store.days import db_bound, utc_bounds
from pbx_bridge.callbacks.tables import callback_requests as t


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _db(moment: datetime | None, dialect: str) -> datetime | None:
    return None if moment is None else db_bound(moment.astimezone(timezone.utc), dialect)


# --- the daemon ------------------------------------------------------------------------------

async def add_request(engine: AsyncEngine, pbx: str, uniqueid: str, number: str, caller_name: str, queue: str,
                      position: int | None, requested_at: datetime) -> tuple[int, bool]:
    """Store a request; (id, False). A number that already has an open request in this queue, or
    a call that already made one, gets that one back: (id, True). One customer, one callback."""
    dialect = engine.dialect.name
    async with engine.begin() as conn:
        existing = (await conn.execute(
            select(t.c.id).where(t.c.pbx == pbx, t.c.status.in_(OPEN),
                                 or_(t.c.uniqueid == uniqueid, and_(t.c.number == number, t.c.queue == queue)))
            .order_by(t.c.id).limit(1))).scalar()
        if existing is not None:
            return existing, True
        try:
            result = await conn.execute(insert(t).values(
                pbx=pbx, uniqueid=uniqueid, number=number, caller_name=caller_name or "", queue=queue,
                position=position, requested_at=_db(requested_at, dialect), status=PENDING, attempts=0,
                originates=0))
        except IntegrityError:
            pass  # this call's request exists (closed already): say yes again, store nothing new
        else:
            return result.inserted_primary_key[0], False
    async with engine.connect() as conn:
        found = (await conn.execute(select(t.c.id).where(t.c.pbx == pbx, t.c.uniqueid == uniqueid))).scalar()
    return found, True


async def open_requests(engine: AsyncEngine, pbx: str) -> list[Request]:
    """Pending and dialling requests, in request order."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(t).where(t.c.pbx == pbx, t.c.status.in_(OPEN))
                                   .order_by(t.c.requested_at, t.c.id))).mappings().all()
    return [Request.from_row(r) for r in rows]


async def get(engine: AsyncEngine, request_id: int) -> Request | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(t).where(t.c.id == request_id))).mappings().first()
    return None if row is None else Request.from_row(row)


async def claim(engine: AsyncEngine, request: Request, attempt_id: str, agent: str, now: datetime) -> bool:
    """pending -> dialling for this attempt, committed before the Originate. False: someone (a
    cancel, an inbound answer) changed the request since it was read; do not dial."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(t).where(t.c.id == request.id, t.c.status == PENDING, t.c.originates == request.originates)
            .values(status=DIALLING, attempt_id=attempt_id, originates=request.originates + 1, agent=agent,
                    last_attempt_at=_db(now, engine.dialect.name)))
    return result.rowcount == 1


async def finish_attempt(engine: AsyncEngine, request_id: int, attempt_id: str, values: dict) -> bool:
    """Write an attempt's end (model.after_attempt) if the request is still on that attempt.

    A customer who answered is recorded even if the request was cancelled meanwhile: the call
    happened. Any other end leaves a cancelled request cancelled.
    """
    dialect = engine.dialect.name
    values = {k: _db(v, dialect) if isinstance(v, datetime) else v for k, v in values.items()}
    allowed = (DIALLING, CANCELLED) if values.get("status") == DONE else (DIALLING,)
    async with engine.begin() as conn:
        result = await conn.execute(
            update(t).where(t.c.id == request_id, t.c.attempt_id == attempt_id, t.c.status.in_(allowed))
            .values(**values))
    return result.rowcount == 1


async def close_by_inbound(engine: AsyncEngine, pbx: str, number: str, answered_at: datetime) -> list[int]:
    """The customer called in and was answered: their pending requests made before are closed."""
    dialect = engine.dialect.name
    where = (t.c.pbx == pbx, t.c.number == number, t.c.status == PENDING,
             t.c.requested_at <= _db(answered_at, dialect))
    async with engine.begin() as conn:
        ids = list((await conn.execute(select(t.c.id).where(*where))).scalars())
        if ids:
            await conn.execute(update(t).where(t.c.id.in_(ids), t.c.status == PENDING)
                               .values(status=ANSWERED_INBOUND, done_at=_db(_now(), dialect),
                                       result="answered-inbound", next_try_at=None))
    return ids


# --- the CLI ---------------------------------------------------------------------------------

def listing(engine: Engine, statuses: tuple[str, ...] | None, day: date | None, tz: ZoneInfo,
            pbx: str | None = None) -> list[Request]:
    query = select(t).order_by(t.c.requested_at, t.c.id)
    if statuses:
        query = query.where(t.c.status.in_(statuses))
    if day is not None:
        start, end = utc_bounds(day, day, tz)
        query = query.where(t.c.requested_at >= _db(start, engine.dialect.name),
                            t.c.requested_at < _db(end, engine.dialect.name))
    if pbx is not None:
        query = query.where(t.c.pbx == pbx)
    with engine.connect() as conn:
        return [Request.from_row(r) for r in conn.execute(query).mappings()]


def cancel(engine: Engine, request_id: int) -> Request | None:
    """Cancel an open request. A callback already dialling goes on (it cannot be unrung), but
    it is not retried. None: no open request with that id."""
    with engine.begin() as conn:
        result = conn.execute(update(t).where(t.c.id == request_id, t.c.status.in_(OPEN))
                              .values(status=CANCELLED, done_at=_db(_now(), engine.dialect.name),
                                      next_try_at=None))
        if result.rowcount != 1:
            return None
        row = conn.execute(select(t).where(t.c.id == request_id)).mappings().first()
    return Request.from_row(row)
