"""Voicemail duty per company per day: messages left and handled, how long customers waited for
the first callback, and listenings nobody took (rules §2)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from statistics import mean
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from pbx_bridge.store.days import db_bound, utc_bounds
from pbx_bridge.voicemail.tables import vm_listenings, vm_messages

FIELDS = ("day", "company", "messages_left", "handled", "called_back", "first_callback_avg_min",
          "first_callback_max_min", "listenings", "listenings_missed")


def _day(moment, tz: ZoneInfo) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(tz).strftime("%Y-%m-%d")


def daily(engine: Engine, first: date, last: date, tz: ZoneInfo) -> list[dict]:
    start, end = (db_bound(b, engine.dialect.name) for b in utc_bounds(first, last, tz))
    rows: dict[tuple[str, str], dict] = defaultdict(lambda: {"left": 0, "handled": 0, "called_back": 0, "waits": [],
                                                            "listenings": 0, "missed": 0})
    with engine.connect() as conn:
        for company, left_at, status, first_cb in conn.execute(
                select(vm_messages.c.company, vm_messages.c.left_at, vm_messages.c.status,
                       vm_messages.c.first_callback_at).where(vm_messages.c.left_at >= start,
                                                              vm_messages.c.left_at < end)):
            row = rows[(_day(left_at, tz), company)]
            row["left"] += 1
            row["handled"] += status in ("handled", "called-back")
            row["called_back"] += status == "called-back"
            if first_cb is not None:
                row["waits"].append((first_cb - left_at).total_seconds() / 60)
        for company, scheduled_at, status in conn.execute(
                select(vm_listenings.c.company, vm_listenings.c.scheduled_at, vm_listenings.c.status).where(
                    vm_listenings.c.scheduled_at >= start, vm_listenings.c.scheduled_at < end)):
            row = rows[(_day(scheduled_at, tz), company)]
            row["listenings"] += status != "no-messages"
            row["missed"] += status == "missed"
    out = []
    for (day, company), row in sorted(rows.items()):
        waits = row["waits"]
        out.append({"day": day, "company": company, "messages_left": row["left"], "handled": row["handled"],
                    "called_back": row["called_back"],
                    "first_callback_avg_min": round(mean(waits), 1) if waits else None,
                    "first_callback_max_min": round(max(waits), 1) if waits else None,
                    "listenings": row["listenings"], "listenings_missed": row["missed"]})
    return out
