"""Batched, idempotent writes of finished records.

The tracker hands records over synchronously and never waits on the database; this task writes
them in batches (one transaction each), as upserts keyed on the record's identity so that a replay
or a retried batch updates rows instead of adding them. A failed batch stays queued and is retried
with backoff; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import structlog
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from pbx_bridge.backoff import Backoff
from pbx_bridge.calls.records import CallRecord, OfferRecord
from pbx_bridge.calls.outbound import OutboundRecord
from pbx_bridge.store.latency import LatencyHistogram
from pbx_bridge.store.schema import KEYS, calls, offers, outbound_calls, vm_callbacks, vm_listenings, vm_messages
from pbx_bridge.voicemail.records import CallbackRecord, ListeningRecord, VoicemailMessageRecord

log = structlog.get_logger(__name__)

LATENCY_LOG_INTERVAL = 60.0  # s between `store_latency` lines (only when calls were written)

_TABLE_OF = {CallRecord: calls, OfferRecord: offers, ListeningRecord: vm_listenings,
             VoicemailMessageRecord: vm_messages, CallbackRecord: vm_callbacks, OutboundRecord: outbound_calls}


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
    """Group rows per table, the last version of a key winning (one statement may not touch a key twice)."""
    grouped: dict[Table, dict[tuple, dict]] = {}
    for record in records:
        table = _TABLE_OF[type(record)]
        row = {c.name: getattr(record, c.name) for c in table.columns}
        grouped.setdefault(table, {})[tuple(row[k] for k in KEYS[table.name])] = row
    return {table: list(rows.values()) for table, rows in grouped.items()}


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
        # event time of the records waiting to be written (by id: the records stay in `pending`
        # until written, so an id cannot be reused meanwhile), then their latencies once committed
        self._event_ts: dict[int, float] = {}
        self.latency = LatencyHistogram()
        self._window = LatencyHistogram()
        self._window_started = time.monotonic()

    def put(self, record: CallRecord | OfferRecord, event_ts: float | None = None) -> None:
        """Queue a record; `event_ts` (epoch s), the time of the AMI event that finished it, makes
        its latency to the committed row count in `latency`."""
        self.pending.append(record)
        if event_ts is not None:
            self._event_ts[id(record)] = event_ts
        if len(self.pending) >= self.batch_size:
            self._wake.set()

    def health(self) -> dict:
        return {"pending": len(self.pending), "written": self.written, "batches": self.batches,
                "failures": self.failures, "last_error": self.last_error, "latency": self.latency.summary()}

    def _log_latency(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._window_started < LATENCY_LOG_INTERVAL:
            return
        if self._window.count:
            log.info("store_latency", window_s=round(now - self._window_started, 1), **self._window.summary(),
                     pending=len(self.pending))
        self._window = LatencyHistogram()
        self._window_started = now

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
                self._log_latency()
        except asyncio.CancelledError:
            await self.flush()
            self._log_latency(force=True)
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
            async with self.engine.begin() as conn:
                for table, rows in rows_by_table(batch).items():
                    await conn.execute(upsert(self.dialect, table), rows)
        except Exception as exc:  # noqa: BLE001 - any database failure: keep the batch, retry later
            self.failures += 1
            self.last_error = repr(exc)[:300]
            log.warning("store_write_failed", pending=len(self.pending), error=self.last_error)
            return False
        committed = time.time()
        for record in batch:
            self.pending.popleft()
            event_ts = self._event_ts.pop(id(record), None)
            if event_ts is not None:
                self.latency.add(committed - event_ts)
                self._window.add(committed - event_ts)
        self.backoff.reset()
        self.written += len(batch)
        self.batches += 1
        self.last_error = None
        self.last_write_at = time.monotonic()
        log.debug("store_batch_written", rows=len(batch), ms=round((time.perf_counter() - started) * 1000, 2))
        return True
