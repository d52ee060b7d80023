"""Keeps the rollups up to date in the store writer's own transaction (StoreWriter.add_batch_hook).

For each batch of calls or offers the hook reads the rows the batch is about to replace (same
primary key), lets the upsert run, then:

- on the open day (today, local): adds the batch's sums and takes away those of the rows it
  replaced. A record written twice (a retried batch, a spool replay) adds nothing the second time,
  and a call that queue_log completes, or an AMI record that supersedes a queue_log one
  (store/merge.py keeps the key), moves its sums from the old account to the new, even across a
  day or half-hour when the two accounts disagree about the time;
- on a closed day (reconciliation after a gap, a spool replayed the next morning, any late record):
  recomputes the whole day for that pbx from the raw rows, after the upsert, in the same
  transaction. The closed days stay exactly what the raw rows say whatever happened before.

Before its first batch for a pbx the keeper checks `rollup_state`: missing (a new or upgraded
store) or built with another time zone or thresholds, it rebuilds that pbx's rollups from the raw
rows first, still inside the transaction, so no write can slip between the rebuild and the sums.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

import structlog
from sqlalchemy import Table, delete, func, insert, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from pbx_bridge.calls.tables import calls, offers
from pbx_bridge.rollups.sums import TARGETS, Basis, Sums, Target, utc
from pbx_bridge.rollups.tables import rollup_state
from pbx_bridge.store.days import db_bound, utc_bounds

log = structlog.get_logger(__name__)

# A day stays open this long after its midnight: the calls that joined before it and end after
# (every night, a few batches of them) add to its running sums instead of recomputing it each time.
CLOSE_AFTER = timedelta(hours=2)
INSERT_CHUNK = 2000  # rollup rows per INSERT when a day or a store is rebuilt
_READ = ("pbx", "queue", "agent", "caller_num", "joined_at", "offered_at", "outcome", "wait_s", "talk_s", "ended_by", "result",
         "ring_s", "rings")


def _insert(dialect: str):
    return pg_insert if dialect == "postgresql" else sqlite_insert


async def _grouped(conn: AsyncConnection, target: Target, basis: Basis, pbx: str, start: datetime,
                   end: datetime) -> Sums:
    """The target's sums over the raw rows of one pbx in [start, end) (aware UTC), as one GROUP BY."""
    dialect = conn.dialect.name
    column = target.raw.c[target.time_column]
    query = target.group(dialect, basis, start, end).where(
        target.raw.c.pbx == pbx, column >= db_bound(start, dialect), column < db_bound(end, dialect))
    sums = Sums(target)
    for row in (await conn.execute(query)).all():
        sums.add_grouped(row)
    return sums


async def _replace(conn: AsyncConnection, target: Target, sums: Sums, *where) -> None:
    await conn.execute(delete(target.table).where(*where))
    rows = sums.rows()
    for i in range(0, len(rows), INSERT_CHUNK):
        await conn.execute(insert(target.table), rows[i:i + INSERT_CHUNK])


async def recompute_day(conn: AsyncConnection, pbx: str, day: date, basis: Basis, raw: Table | None = None) -> None:
    """The day's rollups of one pbx from its raw rows (of `raw` only, if given): idempotent."""
    start, end = utc_bounds(day, day, basis.tz)
    for target in TARGETS:
        if raw is None or target.raw is raw:
            sums = await _grouped(conn, target, basis, pbx, start, end)
            await _replace(conn, target, sums, target.table.c.pbx == pbx, target.table.c.day == day)


async def rebuild(conn: AsyncConnection, pbx: str, basis: Basis) -> int:
    """Every rollup of one pbx from its raw rows, and the state that says what they were built with.
    Returns the rollup rows written."""
    written = 0
    for target in TARGETS:
        column = target.raw.c[target.time_column]
        low, high = (await conn.execute(select(func.min(column), func.max(column)).where(
            target.raw.c.pbx == pbx))).one()
        sums = Sums(target)
        if low is not None:
            sums = await _grouped(conn, target, basis, pbx, utc(low), utc(high) + timedelta(seconds=1))
        await _replace(conn, target, sums, target.table.c.pbx == pbx)
        written += len(sums.rows())
    state = {"pbx": pbx, "timezone": basis.tz.key, "timely_threshold_s": basis.timely_threshold_s,
             "two_rings_limit_s": basis.two_rings_limit_s, "built_at": datetime.now(timezone.utc)}
    await conn.execute(delete(rollup_state).where(rollup_state.c.pbx == pbx))
    await conn.execute(insert(rollup_state), [state])
    return written


async def pbx_list(conn: AsyncConnection) -> list[str]:
    found: set[str] = set()
    for table in (calls, offers):
        found.update((await conn.execute(select(table.c.pbx).distinct())).scalars())
    return sorted(found)


def matches(state, basis: Basis) -> bool:
    return (state is not None and state.timezone == basis.tz.key
            and state.timely_threshold_s == basis.timely_threshold_s
            and state.two_rings_limit_s == basis.two_rings_limit_s)


class RollupKeeper:
    def __init__(self, basis: Basis, today: Callable[[], date] | None = None) -> None:
        """`today`: the local day still open (tests set it; by default the site's calendar, CLOSE_AFTER late)."""
        self.basis = basis
        self.today = today or (lambda: (datetime.now(basis.tz) - CLOSE_AFTER).date())
        self._ready: set[str] = set()
        self.added = 0  # groups changed by running sums
        self.recomputed = 0  # (pbx, day) recomputed from raw rows
        self.rebuilt: list[str] = []

    def health(self) -> dict:
        return {"ready": sorted(self._ready), "groups_added": self.added, "days_recomputed": self.recomputed,
                "rebuilt": self.rebuilt}

    async def hook(self, conn: AsyncConnection, table: Table, rows: list[dict], write) -> None:
        targets = [t for t in TARGETS if t.raw is table]
        if not targets:
            await write()
            return
        for pbx in {row["pbx"] for row in rows} - self._ready:
            await self._ensure(conn, pbx)
        replaced = await self._stored(conn, table, rows)
        await write()
        keys = [c.name for c in table.primary_key.columns]
        today = self.today()
        changed = [Sums(t) for t in targets]
        for row in rows:
            old = replaced.get(tuple(row[k] for k in keys))
            for sums in changed:
                if old is not None:
                    sums.add(sums.target.of_row(old, self.basis), -1)
                sums.add(sums.target.of_row(row, self.basis))
        closed = {(key[0], key[1]) for sums in changed for key in sums.groups if key[1] < today}
        for pbx, day in sorted(closed):
            await recompute_day(conn, pbx, day, self.basis, table)
        self.recomputed += len(closed)
        for sums in changed:
            t = sums.target
            open_rows = [r for r in sums.rows() if (r["pbx"], r["day"]) not in closed]
            if open_rows:
                stmt = _insert(conn.dialect.name)(t.table)
                stmt = stmt.on_conflict_do_update(index_elements=list(t.key), set_={
                    name: t.table.c[name] + stmt.excluded[name] for name in t.names})
                await conn.execute(stmt, open_rows)
                self.added += len(open_rows)

    async def _stored(self, conn: AsyncConnection, table: Table, rows: list[dict]) -> dict[tuple, dict]:
        """The stored rows the upsert will overwrite, by primary key."""
        found: dict[tuple, dict] = {}
        key_cols = list(table.primary_key.columns)
        keys = sorted({tuple(row[c.name] for c in key_cols) for row in rows})
        columns = [c for c in table.columns if c.name in _READ or c.primary_key]
        for i in range(0, len(keys), 500):
            query = select(*columns).where(tuple_(*key_cols).in_(keys[i:i + 500]))
            for row in (await conn.execute(query)).mappings():
                found[tuple(row[c.name] for c in key_cols)] = dict(row)
        return found

    async def _ensure(self, conn: AsyncConnection, pbx: str) -> None:
        state = (await conn.execute(select(rollup_state).where(rollup_state.c.pbx == pbx))).first()
        if matches(state, self.basis):
            self._ready.add(pbx)
            return
        # not marked ready: should this batch roll back, the next one finds no state and rebuilds again
        written = await rebuild(conn, pbx, self.basis)
        self.rebuilt.append(pbx)
        log.warning("rollups_rebuilt", pbx=pbx, rows=written,
                    reason="no rollups yet" if state is None else "time zone or thresholds changed")


async def rebuild_store(url: str, basis: Basis, pbx: str | None = None) -> dict[str, int]:
    """`pbx-bridge report rebuild-rollups`: every pbx's rollups (or one's) from the raw rows, one
    transaction per pbx. Rollup rows written, by pbx. A daemon writing meanwhile would see a state
    that matches and carry on with its running sums; run it with the daemon stopped (a daemon
    rebuilds by itself anyway when it finds no state or other settings)."""
    from pbx_bridge.store.engine import async_engine

    engine = async_engine(url)
    try:
        async with engine.connect() as conn:
            names = [pbx] if pbx is not None else await pbx_list(conn)
        out = {}
        for name in names:
            async with engine.begin() as conn:
                out[name] = await rebuild(conn, name, basis)
        return out
    finally:
        await engine.dispose()
