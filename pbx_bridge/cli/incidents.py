"""`pbx-bridge incidents list|show|note`: the incident log the rules ask to keep and review (§8).

The daemon opens and closes incidents by itself; people add what they did (`note`), which the
review reads beside the daemon's own actions.
"""

from __future__ import annotations

import csv
import getpass
import json
import os
import sys
from datetime import date, datetime, time, timedelta

import click

from pbx_bridge.cli.base import _day, _load, cli, config_option
from pbx_bridge.cli.output import FORMAT, emit, table

FIELDS = ("incident_id", "nature", "place", "started_at", "ended_at", "duration_s", "calls_waiting", "calls_affected",
          "abandoned", "recorded_late", "agents_affected", "actions", "notes", "detail", "pbx")
NATURE_NAMES = ("ami", "database", "mqtt", "no-agents", "all-paused", "long-wait", "service-level")


def _engine(cfg):
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.rooms import upgrade

    upgrade(cfg.store.url)
    return sync_engine(cfg.store.url)


def _local(moment: datetime | None, tz) -> str:  # noqa: ANN001 - a ZoneInfo
    return "" if moment is None else moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "open"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _row(incident, tz, notes: int) -> dict:  # noqa: ANN001
    row = {f: incident.row.get(f) for f in FIELDS if f in incident.row}
    row["started_at"], row["ended_at"] = _local(incident.started_at, tz), _local(incident.ended_at, tz)
    row["actions"] = len(incident.decoded("actions"))
    row["notes"] = notes
    return {f: row.get(f) for f in FIELDS}


def _who(by: str | None) -> str:
    return by or os.environ.get("SUDO_USER") or getpass.getuser()


@cli.group()
def incidents() -> None:
    """Incidents (rules §8): AMI, database or MQTT lost, queues unstaffed, long waits, service level."""


@incidents.command("list")
@config_option
@click.option("--from", "first", default=None, callback=lambda c, p, v: v and _day(c, p, v),
              help="First local day, YYYY-MM-DD (default: 7 days ago).")
@click.option("--to", "last", default=None, callback=lambda c, p, v: v and _day(c, p, v),
              help="Last local day (included), YYYY-MM-DD (default: today).")
@click.option("--open", "open_only", is_flag=True, help="Only the incidents still open.")
@click.option("--nature", default=None, type=click.Choice(NATURE_NAMES), help="Only this nature.")
@FORMAT
@click.option("--pbx", default=None, help="Only this PBX host's incidents.")
def incidents_list(config_path: str, first: date | None, last: date | None, open_only: bool, nature: str | None,
                   fmt: str, pbx: str | None) -> None:
    """Incidents that overlap the given local days, oldest first. Times are local (config timezone)."""
    from pbx_bridge.incidents import store

    cfg = _load(config_path)
    today = datetime.now(cfg.tz).date()
    last = last or today
    first = first or (last - timedelta(days=7))
    if last < first:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    start = datetime.combine(first, time(), cfg.tz)
    end = datetime.combine(last + timedelta(days=1), time(), cfg.tz)
    engine = _engine(cfg)
    try:
        found = store.listing(engine, start, end, nature, open_only, pbx)
        notes = store.notes_count(engine, [(i.pbx, i.incident_id) for i in found])
    finally:
        engine.dispose()
    rows = [_row(i, cfg.tz, notes.get((i.pbx, i.incident_id), 0)) for i in found]

    def as_table(rows: list[dict]) -> None:
        for row in rows:
            row["duration_s"] = _duration(row["duration_s"])
        table(rows, ("incident_id", "nature", "place", "started_at", "duration_s", "calls_affected", "abandoned",
                     "recorded_late", "agents_affected", "actions", "notes"))

    emit(rows, FIELDS, fmt, f"no incidents from {first} to {last}" + (" open" if open_only else ""),
         as_table=as_table)


@incidents.command("show")
@config_option
@click.argument("incident_id")
@FORMAT
def incidents_show(config_path: str, incident_id: str, fmt: str) -> None:
    """One incident in full: what it affected, its trend, the daemon's actions and people's notes."""
    from pbx_bridge.incidents import store

    cfg = _load(config_path)
    engine = _engine(cfg)
    try:
        found = store.get(engine, incident_id)
    except store.UnknownIncident as exc:
        click.echo(f"pbx-bridge: {exc}", err=True)
        sys.exit(1)
    finally:
        engine.dispose()
    row = _row(found, cfg.tz, len(found.notes))
    trend, actions = found.decoded("trend"), found.decoded("actions")
    agents = found.decoded("agents")
    notes = [{"at": _local(n["noted_at"], cfg.tz), "by": n["by"], "text": n["text"]} for n in found.notes]
    if fmt == "json":
        click.echo(json.dumps({**row, "title": found.title, "severity": found.severity, "queue": found.queue,
                               "agents": agents, "trend": trend, "actions_taken": actions, "notes_added": notes},
                              ensure_ascii=False, indent=1))
        return
    if fmt == "csv":  # one line per event of the incident, in time order
        writer = csv.DictWriter(sys.stdout, fieldnames=("incident_id", "at", "kind", "what"), lineterminator="\n")
        writer.writeheader()
        lines = [{"at": row["started_at"], "kind": "opened", "what": f"{found.title}: {found.detail}"}]
        lines += [{"at": s.get("at", ""), "kind": "sample", "what": json.dumps(s, ensure_ascii=False)} for s in trend]
        lines += [{"at": a.get("at", ""), "kind": "action", "what": json.dumps(a, ensure_ascii=False)} for a in actions]
        lines += [{"at": n["at"], "kind": "note", "what": f"{n['by']}: {n['text']}"} for n in notes]
        if row["ended_at"]:
            lines.append({"at": row["ended_at"], "kind": "closed", "what": _duration(found.duration_s)})
        for line in lines:
            writer.writerow({"incident_id": found.incident_id, **line})
        return
    click.echo(f"incident {found.incident_id}  {found.title} ({found.severity})")
    click.echo(f"  place     {found.place}")
    click.echo(f"  started   {row['started_at']}")
    click.echo(f"  ended     {row['ended_at'] or 'still open'}  ({_duration(found.duration_s)})")
    click.echo(f"  detail    {found.detail or '-'}")
    click.echo(f"  affected  {found.calls_affected} calls ({found.abandoned} abandoned, {found.recorded_late} recorded "
               f"late), at most {found.calls_waiting} waiting, {found.agents_affected} agents"
               + (f": {', '.join(agents)}" if agents else ""))
    click.echo(f"  trend     {len(trend)} samples")
    for sample in trend:
        figures = ", ".join(f"{k} {v}" for k, v in sample.items() if k != "at")
        click.echo(f"    {sample.get('at', '')}  {figures}")
    click.echo(f"  actions   {len(actions) or 'none'}")
    for action in actions:
        click.echo(f"    {action.get('at', '')}  " + ", ".join(f"{k} {v}" for k, v in action.items() if k != "at"))
    click.echo(f"  notes     {len(notes) or 'none'}")
    for note in notes:
        click.echo(f"    {note['at']}  {note['by']}: {note['text']}")


@incidents.command("note")
@config_option
@click.argument("incident_id")
@click.argument("text")
@click.option("--by", default=None, help="Who did it (default: the user running the command).")
def incidents_note(config_path: str, incident_id: str, text: str, by: str | None) -> None:
    """Add what a person did about an incident, for the review."""
    from pbx_bridge.incidents import store

    if not text.strip():
        raise click.BadParameter("the note is empty", param_hint="TEXT")
    if len(text) > 4000:
        raise click.BadParameter("the note is longer than 4000 characters", param_hint="TEXT")
    cfg = _load(config_path)
    engine = _engine(cfg)
    try:
        found = store.add_note(engine, incident_id, _who(by), text.strip())
    except store.UnknownIncident as exc:
        click.echo(f"pbx-bridge: {exc}", err=True)
        sys.exit(1)
    finally:
        engine.dispose()
    click.echo(f"note added to incident {found.incident_id} ({found.title})")
