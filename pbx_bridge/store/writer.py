"""Batched, idempotent writes of finished records, with a bounded memory and a disk spool behind it.

The tracker hands records over synchronously and never waits on the database; this task writes
them in batches (one transaction each), as upserts keyed on the record's identity so that a replay
or a retried batch updates rows instead of adding them. A failed batch stays queued and is retried
with backoff.

Batches form by group commit, not by a timer: a record put while the writer is idle is written at
once (a row lands one commit after its event), and everything put while a commit is in flight goes
into the next one, up to `batch_size`. Light load gives batches of one and the latency of one
commit; heavy load gives batches as large as the commit is slow, so the database's work per record
falls as the load rises. `flush_interval` is only the idle tick: how often buffered spool appends
reach the disk and the latency line is considered.

While the database is away, records wait in memory up to `max_pending`, then in the spool
(store/spool.py). A key may be put several times with newer state, so the order is kept whole:
memory is the head of one queue and the spool its tail; once a record has gone to the spool,
every later one follows it there until the spool is empty again, and the spool is read back
oldest segment first, each deleted only after its rows are committed. At shutdown with the
database down, what is in memory goes to the front of the spool; the next start writes it first.

Calls (and queue_log offers) are merged with what the store holds for the same channels before
they are written (store/merge.py): AMI and queue_log reconciliation both write through here, in one
order, so that the better account of a call wins whichever arrives first.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter, deque
from pathlib import Path
from typing import Awaitable, Callable

import structlog
from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pbx_bridge.backoff import Backoff
from pbx_bridge.store.merge import merge_calls, merge_offers
from pbx_bridge.store.latency import LatencyHistogram
from pbx_bridge.store.registry import RecordKinds, key_columns
from pbx_bridge.store.spool import Entry, Segment, Spool

log = structlog.get_logger(__name__)

# A batch hook: `await hook(conn, table, rows, write)` inside the batch's transaction, around the
# upsert of one table's merged rows; it must await `write()` once (see StoreWriter.add_batch_hook).
BatchHook = Callable[[AsyncConnection, Table, list[dict], Callable[[], Awaitable[None]]], Awaitable[None]]

LATENCY_LOG_INTERVAL = 60.0  # s between `store_latency` lines (only when calls were written)
SHUTDOWN_WRITE_S = 8.0  # then spool the rest: the daemon's stop is bounded (life.STOP_LIMIT_S)
SEGMENT_RECORDS = 1000  # read back whole: about 5 ms of decoding on the loop


def upsert(dialect: str, table: Table):
    """INSERT ... ON CONFLICT (key) DO UPDATE for the dialect at hand."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(table)
    keys = key_columns(table)
    return stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
    )


def rows_by_table(kinds: RecordKinds, records: list[object]) -> dict[Table, list[dict]]:
    """Group rows per table, in the order they came (merging and deduplication come after)."""
    grouped: dict[Table, list[dict]] = {}
    for record in records:
        table = kinds.table_of(type(record))
        grouped.setdefault(table, []).append({c.name: getattr(record, c.name) for c in table.columns})
    return grouped


def last_per_key(table: Table, rows: list[dict]) -> list[dict]:
    """The last version of each key (one statement may not touch a key twice)."""
    keys = key_columns(table)
    return list({tuple(row[k] for k in keys): row for row in rows}.values())


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


def batch_size_buckets(sizes: Counter) -> dict[str, int]:
    """Batches per size range, powers of two ("1", "2", "3-4", "5-8", ...): a few keys however long the run."""
    buckets: Counter = Counter()
    for size, n in sizes.items():
        top = 1 << max(0, size - 1).bit_length()
        buckets[top] += n
    return {(str(top) if top <= 2 else f"{top // 2 + 1}-{top}"): buckets[top] for top in sorted(buckets)}


class _Loaded:
    """The spool segment whose records lead the memory queue, and how many of them are not committed."""

    def __init__(self, segment: Segment, count: int) -> None:
        self.segment, self.count, self.remaining = segment, count, count


class StoreWriter:
    def __init__(self, engine: AsyncEngine, batch_size: int = 200, flush_interval: float = 0.5,
                 max_pending: int = 10_000, spool_dir: Path | str | None = None,
                 clock: Callable[[], float] = time.time, *, kinds: RecordKinds) -> None:
        """Without `spool_dir` (tools, tests) memory is the only tier and is not bounded. `kinds`:
        the record types the features registered, and their tables."""
        self.engine = engine
        self.kinds = kinds
        self.dialect = engine.dialect.name
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self.clock = clock
        self.pending: deque[Entry] = deque()
        self.spool = Spool(spool_dir, kinds, min(max_pending, SEGMENT_RECORDS)) if spool_dir is not None else None
        self._loaded: _Loaded | None = None
        self._wake = asyncio.Event()
        self.backoff = Backoff(0.5, 30)
        self._retry_at = 0.0
        self._backing_off = False  # a batch failed: nothing is written before `_retry_at`
        self._last_sync = 0.0
        self._episode: dict | None = None  # since when, and how many records, the spool has been in use
        self._replay: dict | None = None  # the spool a previous run left
        self.written = 0
        self.batches = 0
        self.batch_sizes: Counter = Counter()  # committed batches by their number of records
        self.failures = 0
        self.last_error: str | None = None
        self.last_write_at: float | None = None
        self.merged: Counter = Counter()  # what the merge did (store/merge.py), by kind
        # records put so far (a spool left by a previous run counts as put first); `written`
        # catches up as batches commit, in the same order
        self.accepted = self.spool.waiting if self.spool is not None else 0
        self._progress = asyncio.Condition()
        # event time of the records waiting in memory to be written (by id: a record stays in
        # `pending` until written, so its id cannot be reused meanwhile), then their latencies
        self._event_ts: dict[int, float] = {}
        self.latency = LatencyHistogram()
        self.in_writer = LatencyHistogram()  # the same records, from put() to the commit: the writer's share
        self._hooks: list[BatchHook] = []
        self._window = LatencyHistogram()
        self._window_started = time.monotonic()
        if self.spool is not None and not self.spool.empty:
            self._replay = {"left": {s.seq for s in self.spool.segments}, "segments": len(self.spool.segments),
                            "records": 0}
            log.warning("store_spool_found", dir=str(self.spool.dir), segments=len(self.spool.segments),
                        records=self.spool.waiting, bytes=self.spool.size)

    def add_batch_hook(self, hook: BatchHook) -> None:
        """Something kept from the written rows (the reports' rollups) is kept in the batch's own
        transaction: it sees the rows exactly as upserted (merged, with their final keys), may read
        what they replace before awaiting `write()`, and fails and retries with the batch."""
        self._hooks.append(hook)

    async def _upsert(self, conn: AsyncConnection, table: Table, rows: list[dict]) -> None:
        async def write() -> None:
            await conn.execute(upsert(self.dialect, table), rows)

        step = write
        for hook in reversed(self._hooks):
            step = functools.partial(hook, conn, table, rows, step)
        await step()

    def put(self, record: object, event_ts: float | None = None) -> None:
        """Queue a record; `event_ts` (epoch s), the time of the AMI event that finished it, makes
        its latency to the committed row count in `latency` (records that go through the spool
        are not counted: their latency is the outage's).

        A record of a type no feature registered is refused here, at once (UnregisteredRecord),
        not at the batch's write, where it would fail the batch and be retried forever."""
        self.kinds.table_of(type(record))
        at = self.clock()
        self.accepted += 1
        if self.spool is not None and (self.spool.waiting or len(self.pending) >= self.max_pending):
            if self._episode is None:
                self._episode = {"since": time.monotonic(), "records": 0}
                log.warning("store_spooling_started", pending=len(self.pending), max_pending=self.max_pending,
                            reason="memory_full" if len(self.pending) >= self.max_pending else "spool_not_empty",
                            error=self.last_error)
            self._episode["records"] += 1
            self.spool.append(at, record)
            if len(self.spool.buffer) >= self.batch_size:
                self._wake.set()
            return
        self.pending.append((at, record))
        if event_ts is not None:
            self._event_ts[id(record)] = event_ts
        if not self._backing_off:  # group commit: an idle writer writes it now, a busy one next
            self._wake.set()

    def health(self) -> dict:
        oldest = self.pending[0][0] if self.pending else self.spool.oldest_at() if self.spool else None
        return {"pending": len(self.pending), "spooled": self.spool.waiting if self.spool else 0,
                "spool_bytes": self.spool.size if self.spool else 0,
                "oldest_pending_age_s": round(max(0.0, self.clock() - oldest), 1) if oldest is not None else 0.0,
                "written": self.written, "batches": self.batches, "batch_sizes": batch_size_buckets(self.batch_sizes),
                "failures": self.failures,
                "last_error": self.last_error, "merged": dict(self.merged), "latency": self.latency.summary(),
                "latency_in_writer": self.in_writer.summary()}

    def _log_latency(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._window_started < LATENCY_LOG_INTERVAL:
            return
        if self._window.count:
            log.info("store_latency", window_s=round(now - self._window_started, 1), **self._window.summary(),
                     pending=len(self.pending))
        self._window = LatencyHistogram()
        self._window_started = now

    async def wait_written(self, upto: int | None = None) -> None:
        """Until every record put so far (or the first `upto`) is committed: a reader that saves
        its position in a source must not save it past records that could still be lost."""
        upto = self.accepted if upto is None else upto
        async with self._progress:
            while self.written < upto:
                self._wake.set()
                await self._progress.wait()

    def _has_work(self) -> bool:
        return bool(self.pending) or bool(self.spool and self.spool.waiting)

    def _sync_spool(self, force: bool = False) -> None:
        """Appends reach the disk once per batch or per flush interval, never once per record."""
        if self.spool is None or not self.spool.buffer:
            return
        now = time.monotonic()
        if force or len(self.spool.buffer) >= self.batch_size or now - self._last_sync >= self.flush_interval:
            self.spool.sync()
            self._last_sync = now

    async def _until_work(self) -> None:
        """Until there is something to write and no backoff holds it back. The idle tick
        (`flush_interval`) syncs spool appends; a put wakes it at once, except in a backoff, where
        only a full spool buffer or a `wait_written` does (to sync, not to write)."""
        while True:
            delay = self._retry_at - time.monotonic()
            if delay <= 0:
                self._backing_off = False
                if self._has_work():
                    return
            try:
                # not wait_for: on 3.11 it swallows a cancel that lands as the wake is set,
                # and a SIGTERM would then never reach the shutdown spill below
                async with asyncio.timeout(min(delay, self.flush_interval) if delay > 0 else self.flush_interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            self._sync_spool(force=len(self.spool.buffer) >= self.batch_size if self.spool else False)
            self._log_latency()

    async def run(self) -> None:
        """Write until cancelled; on cancellation, write or spool what is left (shutdown loses nothing).

        Group commit: after each commit the next batch is whatever arrived meanwhile."""
        try:
            while True:
                await self._until_work()
                self._wake.clear()
                while self._has_work():
                    if not await self._write_next():
                        self._retry_at = time.monotonic() + self.backoff.next_delay()
                        self._backing_off = True
                        break
                    self._sync_spool()
                self._log_latency()
        except asyncio.CancelledError:
            try:
                async with asyncio.timeout(SHUTDOWN_WRITE_S):
                    await self.flush()
            except TimeoutError:
                self.last_error = f"shutdown write took over {SHUTDOWN_WRITE_S} s"
                if self.spool is None:
                    log.error("store_flush_failed_at_shutdown", pending=len(self.pending), error=self.last_error)
                else:
                    self._spill_memory()
                    self._sync_spool(force=True)
            self._log_latency(force=True)
            raise

    async def flush(self) -> None:
        """Write everything the database takes now; on the first failure, spool what memory holds."""
        while self._has_work():
            if not await self._write_next():
                if self.spool is None:
                    log.error("store_flush_failed_at_shutdown", pending=len(self.pending), error=self.last_error)
                    return
                self._spill_memory()
                break
        self._sync_spool(force=True)

    def close(self) -> None:
        if self.spool is not None:
            self._sync_spool(force=True)
            self.spool.close()

    def _spill_memory(self) -> None:
        """Memory is older than everything spooled, so it goes to the front (or replaces its own segment)."""
        if not self.pending and self._loaded is None:
            return
        entries = list(self.pending)
        replacing = self._loaded.segment if self._loaded else None
        try:
            self.spool.write_head(entries, replacing)
        except OSError as exc:
            log.error("store_spool_failed_at_shutdown", pending=len(entries), error=repr(exc)[:300])
            return
        self.pending.clear()
        self._loaded = None
        log.warning("store_spooled_at_shutdown", records=len(entries), spooled=self.spool.waiting,
                    spool_bytes=self.spool.size, error=self.last_error)

    def _load_segment(self) -> bool:
        """Memory is empty and the spool is not: its oldest segment becomes the head of the queue."""
        loaded = self.spool.load_oldest()
        if loaded is None:
            return False
        segment, entries = loaded
        self.pending.extend(entries)
        self._loaded = _Loaded(segment, len(entries))
        return self._segment_done() if not entries else True

    def _segment_done(self) -> bool:
        """Every row of the loaded segment is committed: delete it. Until that succeeds nothing newer
        is written, or a later replay of the segment could put older state over newer rows."""
        loaded = self._loaded
        try:
            self.spool.remove(loaded.segment)
        except OSError as exc:
            self.last_error = repr(exc)[:300]
            log.error("store_spool_delete_failed", segment=loaded.segment.path.name, error=self.last_error)
            return False
        self._loaded = None
        if self._replay is not None and loaded.segment.seq in self._replay["left"]:
            self._replay["left"].discard(loaded.segment.seq)
            self._replay["records"] += loaded.count
            if not self._replay["left"]:
                log.info("store_spool_replayed", records=self._replay["records"],
                         segments=self._replay["segments"], skipped_lines=self.spool.skipped_lines)
                self._replay = None
        if self.spool.empty and self._episode is not None:
            log.info("store_spool_drained", spooled=self._episode["records"],
                     seconds=round(time.monotonic() - self._episode["since"], 1))
            self._episode = None
        return True

    async def _write_next(self) -> bool:
        if self._loaded is not None and self._loaded.remaining <= 0 and not self._segment_done():
            return False
        if not self.pending and not self._load_segment():
            return False
        if not self.pending:
            return True  # the segment held no readable record
        entries = [self.pending[i] for i in range(min(self.batch_size, len(self.pending)))]
        batch = [record for _, record in entries]
        started = time.perf_counter()
        try:
            stats: Counter = Counter()
            async with self.engine.begin() as conn:
                for table, rows in rows_by_table(self.kinds, batch).items():
                    rows = await merged_rows(conn, table, rows, stats)
                    if rows:
                        await self._upsert(conn, table, rows)
        except Exception as exc:  # noqa: BLE001 - any database failure: keep the batch, retry later
            self.failures += 1
            self.last_error = repr(exc)[:300]
            log.warning("store_write_failed", pending=len(self.pending), error=self.last_error)
            return False
        committed = time.time()
        for at, record in entries:
            self.pending.popleft()
            event_ts = self._event_ts.pop(id(record), None)
            if event_ts is not None:
                self.latency.add(committed - event_ts)
                self._window.add(committed - event_ts)
                self.in_writer.add(committed - at)
        self.backoff.reset()
        self.written += len(batch)
        self.batches += 1
        self.batch_sizes[len(batch)] += 1
        self.last_error = None
        self.last_write_at = time.monotonic()
        self.merged.update(stats)
        async with self._progress:
            self._progress.notify_all()
        log.debug("store_batch_written", rows=len(batch), ms=round((time.perf_counter() - started) * 1000, 2))
        if self._loaded is not None:
            self._loaded.remaining -= len(batch)
            if self._loaded.remaining <= 0:
                self._segment_done()
        return True
