"""What each page shows, from the same public functions the CLI calls for it (grep pbx_bridge/cli/):
the reports' modules for the figures, each room's store for its list. Nothing is computed here
that the CLI computes differently; these only choose the period and shape rows for a table.

Every function here is synchronous, on a sync engine, and runs in a worker thread (pages.py).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from pbx_bridge.web import render

MONTH_HELP = "a month of the form YYYY-MM"


class BadRequest(ValueError):
    """A parameter the page refuses (answered 400 with this text)."""


def _month(value: str | None, today: date, default_previous: bool) -> tuple[date, date, str]:
    from pbx_bridge.reports import monthly

    if not value:
        value = monthly.previous_month(today) if default_previous else f"{today:%Y-%m}"
    try:
        first, last = monthly.month_bounds(value)
    except ValueError:
        raise BadRequest(f"{value[:20]!r} is not {MONTH_HELP}") from None
    if not 2000 <= first.year <= 2100:
        raise BadRequest(f"{value[:20]!r}: a month between 2000 and 2100")
    return first, last, f"{first:%Y-%m}"


def _day(value: str | None, today: date) -> date:
    if not value:
        return today
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{value[:20]!r} is not a day of the form YYYY-MM-DD") from None
    if not 2000 <= day.year <= 2100:
        raise BadRequest(f"{value[:20]!r}: a day between 2000 and 2100")
    return day


def _local(moment: Any, tz) -> Any:  # noqa: ANN001 - a ZoneInfo
    if isinstance(moment, datetime):
        return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(tz).strftime(
            "%Y-%m-%d %H:%M:%S")
    return moment


def _span(first: date, last: date, tz) -> tuple[datetime, datetime]:  # noqa: ANN001
    return datetime.combine(first, time.min, tz), datetime.combine(last + timedelta(days=1), time.min, tz)


def monthly_page(engine, cfg, params: dict[str, str], top) -> tuple[str, str]:  # noqa: ANN001
    """(month, the page): reports/html.py's page with the navigation and month picker put in (`top(month)`)."""
    from pbx_bridge.reports import html, monthly
    from pbx_bridge.ring import two_rings_s

    first, last, month = _month(params.get("month"), datetime.now(cfg.tz).date(), True)
    rep = monthly.monthly(engine, first, last, cfg.tz, cfg.reports, two_rings_s(cfg.ring))
    return month, render.into_report(html.render(rep), top(month))


def intraday_page(engine, cfg, params: dict[str, str]) -> tuple[str, str]:  # noqa: ANN001
    from pbx_bridge.reports import intraday

    today = datetime.now(cfg.tz).date()
    day = _day(params.get("date"), today)
    rep = intraday.report(engine, day, cfg.tz, cfg.reports)
    rows = [*rep["companies"], rep["total"]]
    body = (render.picker(f"{render.BASE}/intraday", "date", "date", day.isoformat(), "Day")
            + f"<p>Calls that joined a queue on {rep['day']} until {rep['until']} ({rep['timezone']}).</p>"
            + render.table(rows, intraday.FIELDS, "intraday", "no calls") + f"<p>{render.escape(rep['note'])}</p>")
    return f"Intraday {day}", body


def ring_twice_page(engine, cfg, params: dict[str, str]) -> tuple[str, str]:  # noqa: ANN001
    from pbx_bridge.reports import ring_twice

    first, last, month = _month(params.get("month"), datetime.now(cfg.tz).date(), False)
    rows = [r.as_dict() for r in ring_twice.compliance(engine, first, last, cfg.tz, cfg.ring, "month")]
    fields = tuple(rows[0]) if rows else ("period", "agent")
    body = (render.picker(f"{render.BASE}/ring-twice", "month", "month", month, "Month")
            + render.table(rows, fields, "ring-twice", "no offers in this month"))
    return f"Ring-twice compliance {month}", body


CALLBACK_FIELDS = ("id", "requested_at", "number", "caller_name", "queue", "position", "status", "attempts",
                   "last_attempt_at", "agent", "result", "done_at")


def callbacks_page(engine, cfg, params: dict[str, str]) -> tuple[str, str]:  # noqa: ANN001
    from pbx_bridge.callbacks import store
    from pbx_bridge.callbacks.model import OPEN

    day = _day(params["date"], date.today()) if params.get("date") else None
    requests = store.listing(engine, None if day else OPEN, day, cfg.tz, None)
    rows = [{f: _local(getattr(r, f), cfg.tz) for f in CALLBACK_FIELDS} for r in requests]
    what = f"every request made on {day}" if day else "the open requests (pending, dialling), oldest first"
    body = (render.picker(f"{render.BASE}/callbacks", "date", "date", day.isoformat() if day else "",
                          "Requests made on")
            + f"<p>{render.escape(what)}.</p>" + render.table(rows, CALLBACK_FIELDS, "callbacks", "no callback requests"))
    return "CALL BACK list", body


def nuisance_page(engine, cfg, params: dict[str, str]) -> tuple[str, str]:  # noqa: ANN001
    from pbx_bridge.nuisance import store
    from pbx_bridge.nuisance.file import ScreeningFileError, load_file
    from pbx_bridge.nuisance.model import Rules, evaluate

    problem = ""
    loaded = None
    if cfg.nuisance.file is not None:
        try:
            loaded = load_file(str(cfg.nuisance.file), cfg.tz)
        except ScreeningFileError as exc:
            problem = f'<p class="error">screening file error: {render.escape(str(exc))}</p>'
    known = store.load_sync(engine)
    rules = Rules(cfg.nuisance.warnings_to_screen, cfg.nuisance.window, cfg.nuisance.screen_for)
    states = evaluate(known.warnings, known.admin, known.lifts, loaded.listed if loaded else [],
                      loaded.never if loaded else (), rules, datetime.now(timezone.utc))
    shown = sorted(states.values(), key=lambda s: (s.state != "screened", s.number))
    rows = []
    for s in shown:
        screen = s.screen or s.latest
        rows.append({"number": s.number, "state": s.state, "by": screen.source if screen else None,
                     "since": _local(screen.since, cfg.tz) if screen else None,
                     "until": ("permanent" if screen.until is None else _local(screen.until, cfg.tz)) if screen else None,
                     "warnings": s.warnings,
                     "reason": screen.reason if screen else (f"lifted {_local(s.lifted_at, cfg.tz)}" if s.lifted_at else "")})
    body = problem + render.table(rows, ("number", "state", "by", "since", "until", "warnings", "reason"), "nuisance",
                                  "no number on record")
    return "Nuisance screens", body


def nuisance_warnings_page(engine, cfg, params: dict[str, str]) -> tuple[str, str]:  # noqa: ANN001
    from pbx_bridge.nuisance import store

    first, last, month = _month(params.get("month"), datetime.now(cfg.tz).date(), False)
    start, end = _span(first, last, cfg.tz)
    fields = ("warned_at", "number", "agent", "endpoint", "call_uniqueid", "seq", "recording")
    rows = [{f: _local(r[f], cfg.tz) for f in fields} for r in store.warning_rows(engine, None, start, end)]
    body = (render.picker(f"{render.BASE}/nuisance/warnings", "month", "month", month, "Month")
            + render.table(rows, fields, "warnings", "no warnings in this month"))
    return f"Nuisance warnings {month}", body


THREAT_FIELDS = ("threat_id", "marked_at", "number", "caller_name", "endpoint", "agent", "queue", "company", "status",
                 "lead", "lead_told_at", "manager", "manager_told_at", "acknowledged_at", "acknowledged_by")


def threats_page(engine, cfg, params: dict[str, str]) -> tuple[str, str]:  # noqa: ANN001
    from pbx_bridge.threats import store

    first, last, month = _month(params.get("month"), datetime.now(cfg.tz).date(), False)
    start, end = _span(first, last, cfg.tz)
    rows = [{f: _local(r.get(f), cfg.tz) for f in THREAT_FIELDS} for r in store.listing(engine, start, end, None)]
    body = (render.picker(f"{render.BASE}/threats", "month", "month", month, "Month")
            + render.table(rows, THREAT_FIELDS, "threats", "no threats in this month"))
    return f"Threats {month}", body


INCIDENT_FIELDS = ("incident_id", "nature", "place", "started_at", "ended_at", "duration_s", "calls_waiting",
                   "calls_affected", "abandoned", "recorded_late", "agents_affected", "actions", "notes")


def incidents_page(engine, cfg, params: dict[str, str]) -> tuple[str, str]:  # noqa: ANN001
    from pbx_bridge.incidents import store

    first, last, month = _month(params.get("month"), datetime.now(cfg.tz).date(), False)
    start, end = _span(first, last, cfg.tz)
    found = store.listing(engine, start, end, None, False, None)
    notes = store.notes_count(engine, [(i.pbx, i.incident_id) for i in found])
    rows = []
    for i in found:
        row = {f: i.row.get(f) for f in INCIDENT_FIELDS}
        row["started_at"], row["ended_at"] = _local(i.started_at, cfg.tz), _local(i.ended_at, cfg.tz) or "open"
        row["actions"] = len(i.decoded("actions"))
        row["notes"] = notes.get((i.pbx, i.incident_id), 0)
        rows.append(row)
    body = (render.picker(f"{render.BASE}/incidents", "month", "month", month, "Month")
            + render.table(rows, INCIDENT_FIELDS, "incidents", "no incidents in this month"))
    return f"Incidents {month}", body
