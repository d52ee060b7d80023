"""Batched, idempotent writes of finished records.

The tracker hands records over synchronously and never waits on the database; this task writes
them in batches (one transaction each), as upserts keyed on the record's identity so that a replay
or a retried batch updates rows instead of adding them. A failed batch stays queued and is retried
with backoff; nothing is dropped.

Calls (and queue_log offers) are merged with what the store holds for the same channels before
they are written (store/merge.py): AMI and queue_log reconciliation both write through here, in one
order, so that the better account of a call wins whichever arrives first.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque

import structlog
from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pbx_bridge.backoff import Backoff
from pbx_bridge.calls.outbound import OutboundRecord
from pbx_bridge.agents.records import AgentPauseRecord, AgentSessionRecord
from pbx_bridge.nuisance.model import ScreenedCallRecord, WarningRecord
from pbx_bridge.calls.records import CallRecord, OfferRecord
from pbx_bridge.store.merge import merge_calls, merge_offers
from pbx_bridge.store.schema import (
    KEYS,
    agent_pauses,
    agent_sessions,
    calls,
    offers,
    outbound_calls,
    vm_callbacks,
    vm_listenings,
    vm_messages,
)
from pbx_bridge.store.schema import nuisance_screened_calls, nuisance_warnings
from pbx_bridge.voicemail.records import CallbackRecord, ListeningRecord, VoicemailMessageRecord

log = structlog.get_logger(__name__)

_TABLE_OF = {CallRecord: calls, OfferRecord: offers, ListeningRecord: vm_listenings,
             VoicemailMessageRecord: vm_messages, CallbackRecord: vm_callbacks, OutboundRecord: outbound_calls,
             AgentSessionRecord: agent_sessions, AgentPauseRecord: agent_pauses}
_TABLE_OF.update({WarningRecord: nuisance_warnings, ScreenedCallRecord: nuisance_screened_calls})


def upsert(dialect: str, table: Table):
    """INSERT ... ON CONFLICT (key) DO UPDATE for the dialect at hand."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(table)
    keys = KEYS[table.name]
    return stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
    )


def rows_by_table(records: list[CallRecord | OfferRecord]) -> dict[Table, list[dict]]:
    """Group rows per table, in the order they came (merging and deduplication come after)."""
    grouped: dict[Table, list[dict]] = {}
    for record in records:
        table = _TABLE_OF[type(record)]
        grouped.setdefault(table, []).append({c.name: getattr(record, c.name) for c in table.columns})
    return grouped


def last_per_key(table: Table, rows: list[dict]) -> list[dict]:
    """The last version of each key (one statement may not touch a key twice)."""
    return list({tuple(row[k] for k in KEYS[table.name]): row for row in rows}.values())


async def _stored(conn: AsyncConnection, table: Table, rows: list[dict]) -> list[dict]:
    """The stored rows of the channels in `rows` (the primary key's prefix: an index lookup each)."""
    found: list[dict] = []
    by_pbx: dict[str, set[str]] = {}
    for row in rows:
        by_pbx.setdefault(row["pbx"], set()).add(row["uniqueid"])
    for pbx, uniqueids in by_pbx.items():
        query = select(table).where(table.c.pbx == pbx, table.c.uniqueid.in_(sorted(uniqueids)))
        found.extend(dict(r) for r in (await conn.execute(query)).mappings())
    return found


async def merged_rows(conn: AsyncConnection, table: Table, rows: list[dict], stats: Counter) -> list[dict]:
    if table.name == "calls":
        rows, counts = merge_calls(rows, await _stored(conn, table, rows))
    elif table.name == "offers" and any(row["source"] == "queue_log" for row in rows):
        from_log = [row for row in rows if row["source"] == "queue_log"]
        rows, counts = merge_offers(rows, await _stored(conn, table, from_log))
    else:
        return last_per_key(table, rows)
    stats.update(counts)
    return rows


class StoreWriter:
    def __init__(self, engine: AsyncEngine, batch_size: int = 200, flush_interval: float = 0.5) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.pending: deque = deque()
        self._wake = asyncio.Event()
        self.backoff = Backoff(0.5, 30)
        self.written = 0
        self.batches = 0
        self.failures = 0
        self.last_error: str | None = None
        self.last_write_at: float | None = None
        self.merged: Counter = Counter()  # what the merge did (store/merge.py), by kind
        self.accepted = 0  # records put so far; `written` catches up as batches commit
        self._progress = asyncio.Condition()

    def put(self, record: CallRecord | OfferRecord) -> None:
        self.pending.append(record)
        self.accepted += 1
        if len(self.pending) >= self.batch_size:
            self._wake.set()

    def health(self) -> dict:
        return {"pending": len(self.pending), "written": self.written, "batches": self.batches,
                "failures": self.failures, "last_error": self.last_error, "merged": dict(self.merged)}

    async def wait_written(self, upto: int | None = None) -> None:
        """Until every record put so far (or the first `upto`) is committed: a reader that saves
        its position in a source must not save it past records that could still be lost."""
        upto = self.accepted if upto is None else upto
        async with self._progress:
            while self.written < upto:
                self._wake.set()
                await self._progress.wait()

    async def run(self) -> None:
        """Write until cancelled; on cancellation, write what is left (shutdown loses nothing)."""
        try:
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval)
                except TimeoutError:
                    pass
                self._wake.clear()
                while self.pending:
                    if not await self._write_next():
                        await asyncio.sleep(self.backoff.next_delay())
                        break
        except asyncio.CancelledError:
            await self.flush()
            raise

    async def flush(self) -> None:
        while self.pending:
            if not await self._write_next():
                log.error("store_flush_failed_at_shutdown", pending=len(self.pending), error=self.last_error)
                return

    async def _write_next(self) -> bool:
        batch = [self.pending[i] for i in range(min(self.batch_size, len(self.pending)))]
        started = time.perf_counter()
        try:
            stats: Counter = Counter()
            async with self.engine.begin() as conn:
                for table, rows in rows_by_table(batch).items():
                    rows = await merged_rows(conn, table, rows, stats)
                    if rows:
                        await conn.execute(upsert(self.dialect, table), rows)
        except Exception as exc:  # noqa: BLE001 - any database failure: keep the batch, retry later
            self.failures += 1
            self.last_error = repr(exc)[:300]
            log.warning("store_write_failed", pending=len(self.pending), error=self.last_error)
            return False
        for _ in batch:
            self.pending.popleft()
        self.backoff.reset()
        self.written += len(batch)
        self.batches += 1
        self.last_error = None
        self.last_write_at = time.monotonic()
        self.merged.update(stats)
        async with self._progress:
            self._progress.notify_all()
        log.debug("store_batch_written", rows=len(batch), ms=round((time.perf_counter() - started) * 1000, 2))
        return True
