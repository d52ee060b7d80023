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

from collections.abc import Callable, Iterable
from datetime import date, datetime, timezone

import structlog
from sqlalchemy import Table, delete, insert, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from pbx_bridge.calls.tables import calls, offers
from pbx_bridge.rollups.sums import CALL_SUMS, KEY, OFFER_SUMS, Basis, Sums, call_sums, offer_sums
from pbx_bridge.rollups.tables import call_rollups, offer_rollups, rollup_state
from pbx_bridge.store.days import db_bound, utc_bounds

log = structlog.get_logger(__name__)

INSERT_CHUNK = 2000  # rollup rows per INSERT when a day or a store is rebuilt


class _Kind:
    """calls -> call_rollups, offers -> offer_rollups: the pairing and what each needs."""

    def __init__(self, raw: Table, rollup: Table, time_column: str, names: tuple[str, ...], sums) -> None:
        self.raw, self.rollup, self.time_column, self.names, self.sums = raw, rollup, time_column, names, sums
        self.keys = [c.name for c in raw.primary_key.columns]
        wanted = {"pbx", "queue", "agent", time_column, "outcome", "wait_s", "talk_s", "ended_by", "result",
                  "ring_s", "rings"}
        self.columns = [c for c in raw.columns if c.name in wanted]


KINDS = {"calls": _Kind(calls, call_rollups, "joined_at", CALL_SUMS, call_sums),
         "offers": _Kind(offers, offer_rollups, "offered_at", OFFER_SUMS, offer_sums)}


def _insert(dialect: str):
    return pg_insert if dialect == "postgresql" else sqlite_insert


async def _insert_rows(conn: AsyncConnection, table: Table, rows: list[dict]) -> None:
    for i in range(0, len(rows), INSERT_CHUNK):
        await conn.execute(insert(table), rows[i:i + INSERT_CHUNK])


async def _aggregate(conn: AsyncConnection, kind: _Kind, basis: Basis, where: Iterable) -> Sums:
    sums = Sums(len(kind.names))
    result = await conn.stream(select(*kind.columns).where(*where).execution_options(yield_per=5000))
    async for part in result.mappings().partitions():
        for row in part:
            sums.add(kind.sums(row, basis))
    return sums


async def recompute_day(conn: AsyncConnection, pbx: str, day: date, basis: Basis, only: str | None = None) -> None:
    """The day's rollups of one pbx, from its raw rows (idempotent)."""
    dialect = conn.dialect.name
    start, end = (db_bound(b, dialect) for b in utc_bounds(day, day, basis.tz))
    for name, kind in KINDS.items():
        if only is not None and name != only:
            continue
        column = kind.raw.c[kind.time_column]
        sums = await _aggregate(conn, kind, basis, (kind.raw.c.pbx == pbx, column >= start, column < end))
        await conn.execute(delete(kind.rollup).where(kind.rollup.c.pbx == pbx, kind.rollup.c.day == day))
        await _insert_rows(conn, kind.rollup, sums.rows(kind.names))


async def rebuild(conn: AsyncConnection, pbx: str, basis: Basis) -> int:
    """Every rollup of one pbx from its raw rows, and the state that says what they were built with.
    Returns the rollup rows written."""
    written = 0
    for kind in KINDS.values():
        sums = await _aggregate(conn, kind, basis, (kind.raw.c.pbx == pbx,))
        await conn.execute(delete(kind.rollup).where(kind.rollup.c.pbx == pbx))
        rows = sums.rows(kind.names)
        await _insert_rows(conn, kind.rollup, rows)
        written += len(rows)
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
        """`today`: the local day still open (tests set it; by default the site's calendar)."""
        self.basis = basis
        self.today = today or (lambda: datetime.now(basis.tz).date())
        self._ready: set[str] = set()
        self.added = 0  # groups changed by running sums
        self.recomputed = 0  # (pbx, day) recomputed from raw rows
        self.rebuilt: list[str] = []

    def health(self) -> dict:
        return {"ready": sorted(self._ready), "groups_added": self.added, "days_recomputed": self.recomputed,
                "rebuilt": self.rebuilt}

    async def hook(self, conn: AsyncConnection, table: Table, rows: list[dict], write) -> None:
        kind = KINDS.get(table.name)
        if kind is None or kind.raw is not table:
            await write()
            return
        for pbx in {row["pbx"] for row in rows} - self._ready:
            await self._ensure(conn, pbx)
        replaced = await self._stored(conn, kind, rows)
        await write()
        sums = Sums(len(kind.names))
        for row in rows:
            old = replaced.get(tuple(row[k] for k in kind.keys))
            if old is not None:
                sums.add(kind.sums(old, self.basis), -1)
            sums.add(kind.sums(row, self.basis))
        today = self.today()
        closed = {(key[0], key[1]) for key in sums.groups if key[1] < today}
        for pbx, day in sorted(closed):
            await recompute_day(conn, pbx, day, self.basis, only=table.name)
        self.recomputed += len(closed)
        open_rows = [row for row in sums.rows(kind.names) if (row["pbx"], row["day"]) not in closed]
        if open_rows:
            stmt = _insert(conn.dialect.name)(kind.rollup)
            stmt = stmt.on_conflict_do_update(index_elements=list(KEY), set_={
                name: kind.rollup.c[name] + stmt.excluded[name] for name in kind.names})
            await conn.execute(stmt, open_rows)
            self.added += len(open_rows)

    async def _stored(self, conn: AsyncConnection, kind: _Kind, rows: list[dict]) -> dict[tuple, dict]:
        """The stored rows the upsert will overwrite, by primary key."""
        found: dict[tuple, dict] = {}
        keys = sorted({tuple(row[k] for k in kind.keys) for row in rows})
        key_cols = [kind.raw.c[k] for k in kind.keys]
        have = {c.name for c in kind.columns}
        for i in range(0, len(keys), 500):
            query = select(*kind.columns, *[c for c in key_cols if c.name not in have]).where(
                tuple_(*key_cols).in_(keys[i:i + 500]))
            for row in (await conn.execute(query)).mappings():
                found[tuple(row[k] for k in kind.keys)] = dict(row)
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
