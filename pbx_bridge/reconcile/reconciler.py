"""The daemon's `queue-log` task: read queue_log from where we stopped, fill in what AMI missed.

It runs a pass at start, then every `reconcile.interval` seconds, and at once when AMI comes back
after a gap (`wake`). A pass reads each source from its position, feeds the lines to a builder and
puts the finished calls into the store writer, which keeps the better account of each call (a
complete AMI row is never touched). Then, once the writer has committed them, it saves the
position: the oldest ENTERQUEUE of a call still open, so a restart reads those calls again whole.
So a kill at any moment loses nothing and duplicates nothing; at worst it reads some lines twice.

Within one life the builder keeps its open calls and each pass goes on from where the last one
ended. A source that fails (missing file, no permission, database down) is reported in the log
and in health and tried again next pass; it never stops the daemon.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from pbx_bridge.backoff import raise_if_cancelled, wait_event
from pbx_bridge.reconcile.builder import CallBuilder
from pbx_bridge.ring import RingConfig
from pbx_bridge.store.writer import StoreWriter

log = structlog.get_logger(__name__)

_COUNTED = ("queue_log_inserted", "queue_log_completed", "queue_log_updated", "queue_log_kept_better",
            "queue_log_offer_written")


@dataclass
class _Run:
    """One source and what we know of it in this life."""

    source: Any  # QueueLogFile | QueueLogTable
    builder: CallBuilder
    pos: Any = None  # where this life's reading has got to (None: not read yet; resume from the state)
    passes: int = 0
    lines: int = 0
    malformed: int = 0
    last_pass_at: float | None = None
    last_error: str | None = None
    totals: dict[str, int] = field(default_factory=dict)


class Reconciler:
    def __init__(self, sources: list[Any], writer: StoreWriter, pbx: str, ring: RingConfig, interval: float,
                 stale_after: float) -> None:
        self.runs = [_Run(source, CallBuilder(pbx, ring, stale_after)) for source in sources]
        self.writer, self.interval = writer, interval
        self._wake = asyncio.Event()
        # Records the writer may hold before we wait for it: reading a big file at first start
        # must not pile the whole of it up in memory.
        self.backlog = 10 * writer.batch_size

    def wake(self) -> None:
        """Read now (AMI is back after a gap: what it missed is in queue_log)."""
        self._wake.set()

    def health(self) -> dict:
        return {run.source.kind: {
            "position": run.source.describe(run.pos), "passes": run.passes, "lines": run.lines,
            "malformed": run.malformed, "open_calls": len(run.builder.open), "last_error": run.last_error,
            "built": dict(run.builder.counts),
            "last_pass_age_s": None if run.last_pass_at is None else round(time.monotonic() - run.last_pass_at, 1),
            **run.totals} for run in self.runs}

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                for run in self.runs:
                    await self.reconcile(run)
                await wait_event(self._wake, self.interval)
                raise_if_cancelled()
        finally:
            for run in self.runs:
                close = getattr(run.source, "close", None)
                if close is not None:
                    await asyncio.shield(close())

    async def reconcile(self, run: _Run) -> bool:
        """One pass over one source; False if the source could not be read (reported, retried)."""
        first = run.passes == 0
        start = run.source.load_state() if run.pos is None else run.pos
        before = {name: self.writer.merged[name] for name in _COUNTED}
        lines = malformed = 0
        error: BaseException | None = None
        try:
            async for chunk in run.source.read(start):
                for line in chunk.lines:
                    for record in run.builder.feed(line):
                        self.writer.put(record)
                if chunk.lines:
                    run.builder.expire(chunk.lines[-1].time)
                lines += len(chunk.lines)
                malformed += chunk.malformed
                run.pos = chunk.end
                if len(self.writer.pending) > self.backlog:
                    await self.writer.wait_written()
        except Exception as exc:  # noqa: BLE001 - I/O or a database driver's error: reported, retried next pass
            error = exc
        if run.pos is None:
            run.pos = start  # nothing read yet: go on from the saved position
        await self.writer.wait_written()
        mark = run.builder.low_water() or run.pos
        if mark is not None:
            try:
                run.source.save_state(mark)
            except OSError as exc:
                log.warning("queue_log_state_not_saved", source=run.source.kind, error=repr(exc))
        self._account(run, before, lines, malformed, first, error)
        return error is None

    def _account(self, run: _Run, before: dict, lines: int, malformed: int, first: bool,
                 error: BaseException | None) -> None:
        done = {name: self.writer.merged[name] - before[name] for name in _COUNTED}
        run.passes += 1
        run.lines += lines
        run.malformed += malformed
        run.last_pass_at = time.monotonic()
        for name, value in done.items():
            run.totals[name] = run.totals.get(name, 0) + value
        if error is not None:
            text = repr(error)[:300]
            if text != run.last_error:  # once per change, not every pass
                log.warning("queue_log_unreadable", source=run.source.kind, error=text)
            run.last_error = text
        elif run.last_error is not None:
            log.info("queue_log_readable_again", source=run.source.kind)
            run.last_error = None
        if lines or malformed or (first and error is None):
            log.info("queue_log_reconciled", source=run.source.kind, lines=lines, malformed=malformed,
                     calls_inserted=done["queue_log_inserted"], incomplete_completed=done["queue_log_completed"],
                     already_recorded=done["queue_log_kept_better"] + done["queue_log_updated"],
                     offers_inserted=done["queue_log_offer_written"], open_calls=len(run.builder.open),
                     position=run.source.describe(run.pos))
