"""One queue_log line, whichever way Asterisk stored it.

The file holds `epoch|callid|queue|agent|EVENT|data1|data2|...`; the realtime table holds the same
fields as columns (`time, callid, queuename, agent, event, data1..data5`). Both become a
`QueueLogLine`, so the builder knows nothing of where a line came from. A line that cannot be read
is None: the caller counts it and goes on, because one bad line must never stop the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Protocol


class Position(Protocol):
    """Where a source can resume reading; `order` compares positions of one source."""

    @property
    def order(self) -> tuple: ...


@dataclass(frozen=True, slots=True)
class QueueLogLine:
    time: float  # epoch seconds (whole seconds from the file)
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]
    pos: Any = None  # the source's Position of this line's start: reading again from it re-reads the line

    def field(self, index: int) -> str:
        return self.data[index] if 0 <= index < len(self.data) else ""


def parse_line(text: str, pos: Any = None) -> QueueLogLine | None:
    parts = text.rstrip("\r\n").split("|")
    if len(parts) < 5 or not parts[4]:
        return None
    try:
        when = float(parts[0])
    except ValueError:
        return None
    if math.isnan(when) or when <= 0:
        return None
    return QueueLogLine(when, parts[1], parts[2], parts[3], parts[4], tuple(parts[5:]), pos)


def _epoch(value: Any, zone: tzinfo) -> float | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.timestamp()


def from_row(row: dict, zone: tzinfo, pos: Any = None) -> QueueLogLine | None:
    """A realtime table row. Naive times are in `zone`: the server's local time, or UTC with
    logger.conf `queue_log_realtime_use_gmtime = yes`."""
    when = _epoch(row.get("time"), zone)
    event = (row.get("event") or "").strip()
    if when is None or not event:
        return None
    data = [("" if row.get(f"data{i}") is None else str(row[f"data{i}"])) for i in range(1, 6)]
    while data and data[-1] == "":
        data.pop()
    return QueueLogLine(when, row.get("callid") or "", row.get("queuename") or "", row.get("agent") or "", event,
                        tuple(data), pos)
