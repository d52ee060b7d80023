"""Call and offer records out of the store, as CSV or JSON lines, for a range of local dates.

Dates are the site's calendar days (config `timezone`), both ends included, because that is how a
supervisor asks: "the calls of the 3rd to the 5th".
"""

from __future__ import annotations

import csv
import json
from datetime import date
from typing import IO, Iterable, Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Table, select

from pbx_bridge.calls.records import CALL_EXPORT_FIELDS, OFFER_EXPORT_FIELDS, iso_utc
from pbx_bridge.store.days import db_bound, utc_bounds
from pbx_bridge.calls.tables import calls, offers

KINDS: dict[str, tuple[Table, str, tuple[str, ...], tuple[str, ...]]] = {
    "calls": (calls, "joined_at", CALL_EXPORT_FIELDS, ("joined_at", "uniqueid", "seq")),
    "offers": (offers, "offered_at", OFFER_EXPORT_FIELDS, ("offered_at", "uniqueid", "offer_id")),
}


def rows(engine: Engine, kind: str, first: date, last: date, tz: ZoneInfo, pbx: str | None = None) -> Iterator[dict]:
    table, time_col, fields, order = KINDS[kind]
    start, end = utc_bounds(first, last, tz)
    column = table.c[time_col]
    query = (
        select(*(table.c[f] for f in fields))
        .where(column >= db_bound(start, engine.dialect.name), column < db_bound(end, engine.dialect.name))
        .order_by(*(table.c[c] for c in order))
    )
    if pbx is not None:
        query = query.where(table.c.pbx == pbx)
    with engine.connect() as conn:
        for row in conn.execute(query).mappings():
            out = dict(row)
            out[time_col] = iso_utc(out[time_col])
            yield out


def write(records: Iterable[dict], kind: str, fmt: str, out: IO[str]) -> int:
    fields = KINDS[kind][2]
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow(record)
            count += 1
    else:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
