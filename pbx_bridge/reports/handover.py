"""The morning handover (rules §5): the full call records of the day three days earlier, as CSV,
for the after-sales follow-up department.

The file is `calls-YYYY-MM-DD.csv` (the local day of the records) in the configured directory,
with exactly the columns and rows of `pbx-bridge calls export --format csv` for that day. It is
written to a temporary file beside it, synced, then renamed over the final name: a reader never
sees half a file, and writing the same day again replaces it with the same content.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Select, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pbx_bridge.calls.records import iso_utc
from pbx_bridge.reports.export import KINDS
from pbx_bridge.store.days import db_bound, utc_bounds

CHUNK = 1000


def day_for(today: date, days_back: int = 3) -> date:
    return today - timedelta(days=days_back)


def path_for(directory: Path, day: date) -> Path:
    return Path(directory) / f"calls-{day.isoformat()}.csv"


def query(dialect: str, day: date, tz: ZoneInfo, pbx: str | None = None) -> Select:
    """The same statement `calls export` runs for one day."""
    table, time_col, fields, order = KINDS["calls"]
    start, end = utc_bounds(day, day, tz)
    column = table.c[time_col]
    q = (select(*(table.c[f] for f in fields))
         .where(column >= db_bound(start, dialect), column < db_bound(end, dialect))
         .order_by(*(table.c[c] for c in order)))
    return q if pbx is None else q.where(table.c.pbx == pbx)


def _csv(rows: Iterable, header: bool) -> str:
    fields = KINDS["calls"][2]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(fields)
    for row in rows:
        out = dict(row._mapping)
        out["joined_at"] = iso_utc(out["joined_at"])
        writer.writerow(["" if out[f] is None else out[f] for f in fields])
    return buf.getvalue()


class _Atomic:
    """A file that appears under its name only once it is complete."""

    def __init__(self, final: Path) -> None:
        self.final = Path(final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.final.with_name(f".{self.final.name}.{os.getpid()}.tmp")
        self.file = open(self.tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed by commit/abort

    def write(self, text: str) -> None:
        self.file.write(text)

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.final)
        dir_fd = os.open(self.final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "_Atomic":
        return self

    def __exit__(self, kind, _value, _tb) -> None:  # noqa: ANN001 - context manager protocol
        self.abort() if kind is not None else self.commit()


def write(engine: Engine, directory: Path, day: date, tz: ZoneInfo, pbx: str | None = None) -> tuple[Path, int]:
    """On a sync engine (the CLI). Returns the file and the number of records."""
    count = 0
    with _Atomic(path_for(directory, day)) as out:
        out.write(_csv((), header=True))
        with engine.connect() as conn:
            result = conn.execution_options(yield_per=CHUNK).execute(query(engine.dialect.name, day, tz, pbx))
            for part in result.partitions():
                out.write(_csv(part, header=False))
                count += len(part)
    return out.final, count


async def write_async(engine: AsyncEngine, directory: Path, day: date, tz: ZoneInfo,
                      pbx: str | None = None) -> tuple[Path, int]:
    """On the daemon's async engine: rows streamed in chunks, the loop free between them."""
    count = 0
    with _Atomic(path_for(directory, day)) as out:
        out.write(_csv((), header=True))
        async with engine.connect() as conn:
            result = await conn.stream(query(engine.dialect.name, day, tz, pbx))
            async for part in result.partitions(CHUNK):
                out.write(_csv(part, header=False))
                count += len(part)
    return out.final, count
