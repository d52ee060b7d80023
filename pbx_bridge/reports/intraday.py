"""The intraday inbound report (rules §5: "at 11:30 and 16:30 the center reports the inbound call
count so far"): offered, answered and abandoned since local midnight, per company and in total.

A report for a set time counts the calls that joined before that time, so a run made late (the
daemon was down at 11:30) gives the figures of 11:30, not of the moment it ran.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from pbx_bridge.reports import from_rollups
from pbx_bridge.reports.kpi import intraday_query
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.store.days import utc_bounds

FIELDS = ("company", "offered", "answered", "abandoned", "other")
NOTE = "calls still waiting are not counted; other = timeouts, emptied queues, exits by key, unknown"


def bounds(day: date, until: time | None, tz: ZoneInfo, now: datetime | None = None) -> tuple[datetime, datetime]:
    """UTC [local midnight, the set time) — or up to now, for a report asked for by hand."""
    start = datetime.combine(day, time.min, tz).astimezone(timezone.utc)
    if until is not None:
        end = datetime.combine(day, until, tz).astimezone(timezone.utc)
    else:
        end = min(now or datetime.now(timezone.utc), utc_bounds(day, day, tz)[1])
    return start, end


def build(rows: Iterable, day: date, until: datetime, tz: ZoneInfo, settings: ReportsConfig) -> dict:
    lines = {c: {"company": c, "offered": 0, "answered": 0, "abandoned": 0, "other": 0}
             for c in set(settings.companies.values())}
    for r in rows:
        lines[r.company] = {"company": r.company, "offered": int(r.offered), "answered": int(r.answered or 0),
                            "abandoned": int(r.abandoned or 0), "other": int(r.other or 0)}
    companies = [lines[c] for c in sorted(lines)]
    total = {k: sum(r[k] for r in companies) for k in FIELDS[1:]}
    local = until.astimezone(tz)
    label = "24:00" if local.date() > day else local.strftime("%H:%M")
    return {"day": day.isoformat(), "until": label, "timezone": tz.key,
            "companies": companies, "total": {"company": "(all)", **total}, "note": NOTE}


def report(engine, day: date, tz: ZoneInfo, settings: ReportsConfig, until: time | None = None,
           pbx: str | None = None, now: datetime | None = None, source: str = "auto") -> dict:
    """On a sync engine (the CLI). `source`: "rollups", "raw" or "auto" (the rollups when they match)."""
    start, end = bounds(day, until, tz, now)
    dialect = engine.dialect.name
    with engine.connect() as conn:
        split = _split(conn.execute(from_rollups.state_query()).all(), source, day, end, tz, pbx)
        if split is None:
            rows = conn.execute(intraday_query(dialect, start, end, settings, pbx)).all()
        else:
            halves, partial = split
            rows = from_rollups.intraday_rows(
                conn.execute(from_rollups.intraday_query(day, halves, pbx)).all(),
                conn.execute(intraday_query(dialect, partial, end, settings, pbx)).all() if partial < end else [],
                settings.company_of)
    return build(rows, day, end, tz, settings)


async def report_async(engine: AsyncEngine, day: date, tz: ZoneInfo, settings: ReportsConfig,
                       until: time | None = None, pbx: str | None = None, now: datetime | None = None,
                       source: str = "auto") -> dict:
    """On the daemon's async engine: a few sums of the rollups (or one GROUP BY over today's rows)."""
    start, end = bounds(day, until, tz, now)
    dialect = engine.dialect.name
    async with engine.connect() as conn:
        split = _split((await conn.execute(from_rollups.state_query())).all(), source, day, end, tz, pbx)
        if split is None:
            rows = (await conn.execute(intraday_query(dialect, start, end, settings, pbx))).all()
        else:
            halves, partial = split
            raw = (await conn.execute(intraday_query(dialect, partial, end, settings, pbx))).all() \
                if partial < end else []
            rows = from_rollups.intraday_rows(
                (await conn.execute(from_rollups.intraday_query(day, halves, pbx))).all(), raw, settings.company_of)
    return build(rows, day, end, tz, settings)


def _split(states, source: str, day: date, end: datetime, tz: ZoneInfo, pbx: str | None):
    if source == "raw" or (source == "auto" and not from_rollups.usable(states, tz, None, None, pbx)):
        return None
    return from_rollups.intraday_split(day, end, tz)


def as_table(rep: dict) -> str:
    body = [tuple(str(r[f]) for f in FIELDS) for r in [*rep["companies"], rep["total"]]]
    widths = [max([len(f)] + [len(b[i]) for b in body]) for i, f in enumerate(FIELDS)]
    out = [f"Inbound calls {rep['day']} 00:00–{rep['until']} ({rep['timezone']})",
           "  ".join(f.ljust(w) for f, w in zip(FIELDS, widths)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(b, widths)).rstrip() for b in body]
    out.append(f"({rep['note']})")
    return "\n".join(out)


def as_json(rep: dict) -> str:
    return json.dumps(rep, ensure_ascii=False, indent=1)
