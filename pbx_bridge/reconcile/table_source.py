"""queue_log the realtime table, for sites whose Asterisk logs queue events to a database.

The table is Asterisk's own (contrib/ast-db-manage): `id` (auto-increment), `time`, `callid`,
`queuename`, `agent`, `event`, `data1`..`data5` (extconfig.conf `queue_log => ...` with
`queue_adaptive_realtime`, the default). Rows are read in `id` order after the last id seen, a
batch at a time. Naive times are the Asterisk host's local time (the site's `timezone`), or UTC
with logger.conf `queue_log_realtime_use_gmtime = yes` (our `utc_times`).

On a first start with no saved position, only the last day's rows are read: a table keeps years,
and older calls were either recorded then or are not this daemon's to invent now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import AsyncIterator

from sqlalchemy import column, func, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pbx_bridge.reconcile import state
from pbx_bridge.reconcile.file_source import Chunk
from pbx_bridge.reconcile.lines import QueueLogLine, from_row

COLUMNS = ("id", "time", "callid", "queuename", "agent", "event", "data1", "data2", "data3", "data4", "data5")
# Our drivers for the backends we ship; any other URL names its own async driver (mysql+aiomysql://).
_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
FIRST_START_S = 24 * 3600


@dataclass(frozen=True)
class RowPos:
    id: int  # the last row consumed: reading goes on with id > this

    @property
    def order(self) -> tuple:
        return (self.id,)


def source_engine(url: str) -> AsyncEngine:
    """An engine on Asterisk's database that only reads (no pragmas or settings of ours on it)."""
    parsed = make_url(url)
    if parsed.drivername in _DRIVERS:
        parsed = parsed.set(drivername=_DRIVERS[parsed.drivername])
    return create_async_engine(parsed, pool_pre_ping=True)


class QueueLogTable:
    kind = "table"

    def __init__(self, url: str, name: str, state_path: Path, zone: tzinfo, batch_rows: int = 5000) -> None:
        schema, _, bare = name.rpartition(".")
        self.table = table(bare, *(column(c) for c in COLUMNS), schema=schema or None)
        self.url, self.name, self.state_path, self.zone, self.batch_rows = url, name, Path(state_path), zone, batch_rows
        self._engine: AsyncEngine | None = None

    def load_state(self) -> RowPos | None:
        data = state.load(self.state_path)
        if not data or data.get("table") != self.name:
            return None
        try:
            return RowPos(int(data["last_id"]))
        except (KeyError, TypeError, ValueError):
            return None

    def save_state(self, pos: RowPos) -> None:
        state.save(self.state_path, {"table": self.name, "last_id": pos.id})

    def describe(self, pos: RowPos | None) -> dict:
        return {} if pos is None else {"last_id": pos.id}

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()

    async def _first_start(self, conn: AsyncConnection) -> RowPos:
        since = (datetime.now(timezone.utc) - timedelta(seconds=FIRST_START_S)).astimezone(self.zone)
        first = (await conn.execute(select(func.min(self.table.c.id)).where(
            self.table.c.time >= since.replace(tzinfo=None)))).scalar()
        if first is not None:
            return RowPos(int(first) - 1)
        last = (await conn.execute(select(func.max(self.table.c.id)))).scalar()
        return RowPos(int(last or 0))

    async def read(self, start: RowPos | None) -> AsyncIterator[Chunk]:
        if self._engine is None:
            self._engine = source_engine(self.url)
        t = self.table
        pos = start
        while True:
            async with self._engine.connect() as conn:
                if pos is None:
                    pos = await self._first_start(conn)
                query = select(*(t.c[c] for c in COLUMNS)).where(t.c.id > pos.id).order_by(t.c.id)
                rows = (await conn.execute(query.limit(self.batch_rows))).mappings().all()
            if not rows:
                return
            lines: list[QueueLogLine] = []
            malformed = 0
            for row in rows:
                line = from_row(dict(row), self.zone, RowPos(int(row["id"]) - 1))
                if line is None:
                    malformed += 1
                else:
                    lines.append(line)
            pos = RowPos(int(rows[-1]["id"]))
            yield Chunk(lines, malformed, pos)
            if len(rows) < self.batch_rows:
                return
