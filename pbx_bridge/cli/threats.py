"""`pbx-bridge threats list|show|ack|note`: the threatening calls (rules §6) and what was done.

Exit status: 0 done; 1 `ack` of a threat acknowledged already (the first acknowledgement stands);
2 refused (an unknown threat, a wrong argument, a broken config).
"""

from __future__ import annotations

import csv
import getpass
import json
import os
import sys
from datetime import datetime, time, timedelta, timezone

import click

from pbx_bridge.cli.base import _day, _load, cli, config_option
from pbx_bridge.cli.output import emit

FIELDS = ("threat_id", "marked_at", "number", "caller_name", "endpoint", "agent", "queue", "company", "status",
          "lead", "lead_told_at", "manager", "manager_told_at", "why_manager", "acknowledged_at", "acknowledged_by",
          "acknowledged_via", "recording", "recording_source", "pbx")
_TIMES = ("marked_at", "lead_told_at", "manager_told_at", "acknowledged_at", "at")


@cli.group("threats")
def threats_group() -> None:
    """Threatening calls: what the agents marked with *8, who was told, who acknowledged."""


def _store(cfg):
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.rooms import upgrade

    upgrade(cfg.store.url)
    return sync_engine(cfg.store.url)


def _local(row: dict, tz) -> dict:
    return {k: (v.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if k in _TIMES and v else
                ("" if v is None else v)) for k, v in row.items()}


def _who(by: str | None) -> str:
    return by or os.environ.get("SUDO_USER") or getpass.getuser()


def _emit(rows: list[dict], fmt: str, fields, table) -> None:  # noqa: ANN001 - the table printer
    emit(rows, fields, fmt, as_table=table)


def _find(cfg, engine, threat_id: str, pbx: str | None) -> dict:
    from pbx_bridge.threats import store

    row = store.find(engine, threat_id, pbx)
    if row is None:
        engine.dispose()
        click.echo(f"pbx-bridge: no threat {threat_id!r}" + (f" on {pbx}" if pbx else "")
                   + ": see `pbx-bridge threats list`", err=True)
        sys.exit(2)
    return row


@threats_group.command("list")
@config_option
@click.option("--from", "first", default=None, callback=lambda c, p, v: _day(c, p, v) if v else None,
              help="First local day, YYYY-MM-DD.")
@click.option("--to", "last", default=None, callback=lambda c, p, v: _day(c, p, v) if v else None,
              help="Last local day (included), YYYY-MM-DD.")
@click.option("--pbx", default=None, help="Only this PBX host's threats.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def threats_list(config_path: str, first, last, pbx: str | None, fmt: str) -> None:
    """Every threat, oldest first (times local, config timezone)."""
    from pbx_bridge.threats import store

    if first and last and last < first:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    cfg = _load(config_path)
    start = datetime.combine(first, time.min, cfg.tz) if first else None
    end = datetime.combine(last + timedelta(days=1), time.min, cfg.tz) if last else None
    engine = _store(cfg)
    try:
        rows = [_local({f: r.get(f) for f in FIELDS}, cfg.tz) for r in store.listing(engine, start, end, pbx)]
    finally:
        engine.dispose()

    def table(rows: list[dict]) -> None:
        click.echo(f"{'time (' + cfg.timezone + ')':<21} {'id':<20} {'number':<14} {'desk':<18} {'agent':<12} "
                   f"{'company':<10} status")
        for r in rows:
            click.echo(f"{r['marked_at']:<21} {r['threat_id']:<20} {r['number'] or '(none)':<14} {r['endpoint']:<18} "
                       f"{r['agent']:<12} {r['company']:<10} {r['status']}"
                       + (f" by {r['acknowledged_by']}" if r["acknowledged_by"] else ""))
        click.echo(f"{len(rows)} threat{'s' if len(rows) != 1 else ''}")

    _emit(rows, fmt, FIELDS, table)


@threats_group.command("show")
@config_option
@click.argument("threat_id")
@click.option("--pbx", default=None, help="The PBX host, if several share the store.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def threats_show(config_path: str, threat_id: str, pbx: str | None, fmt: str) -> None:
    """One threat: the evidence, who was told when, who acknowledged, the notes."""
    cfg = _load(config_path)
    engine = _store(cfg)
    try:
        row = _find(cfg, engine, threat_id, pbx)
    finally:
        engine.dispose()
    out = _local({f: row.get(f) for f in FIELDS}, cfg.tz)
    out["contacts"] = [_local(c, cfg.tz) for c in row["contacts"]]
    out["notes"] = [_local(n, cfg.tz) for n in row["notes"]]
    if fmt == "json":
        click.echo(json.dumps(out, ensure_ascii=False, indent=1))
        return
    if fmt == "csv":  # one line per event of the threat: marked, each contact, the acknowledgement, each note
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(("threat_id", "at", "what", "who", "detail"))
        writer.writerow((threat_id, out["marked_at"], "marked", out["agent"],
                         f"{out['number']} at {out['endpoint']}; recording {out['recording']}"))
        for c in out["contacts"]:
            writer.writerow((threat_id, c["at"], f"{c['how']} {c['role']}", c["name"], c["result"]))
        if out["acknowledged_at"]:
            writer.writerow((threat_id, out["acknowledged_at"], "acknowledged", out["acknowledged_by"],
                             out["acknowledged_via"]))
        for n in out["notes"]:
            writer.writerow((threat_id, n["at"], "note", n["by"], n["text"]))
        return
    for field in FIELDS:
        click.echo(f"{field:<18} {out[field]}")
    click.echo("told:")
    for c in out["contacts"]:
        click.echo(f"  {c['at']}  {c['how']:<6} {c['role']:<9} {c['name'] or '-':<12} {c['endpoint'] or '-':<18} "
                   f"{c['result']}")
    click.echo("notes:" if out["notes"] else "notes: none")
    for n in out["notes"]:
        click.echo(f"  {n['at']}  {n['by']}: {n['text']}")


@threats_group.command("ack")
@config_option
@click.argument("threat_id")
@click.option("--by", default=None, help="Who acknowledges (default: the login name).")
@click.option("--pbx", default=None, help="The PBX host, if several share the store.")
def threats_ack(config_path: str, threat_id: str, by: str | None, pbx: str | None) -> None:
    """Acknowledge a threat (the lead heard of it another way): the daemon stops calling within seconds."""
    from pbx_bridge.threats import store

    cfg = _load(config_path)
    engine = _store(cfg)
    try:
        row = _find(cfg, engine, threat_id, pbx)
        if row["acknowledged_at"] is not None or not store.acknowledge(
                engine, row["pbx"], threat_id, datetime.now(timezone.utc), _who(by)):
            again = store.find(engine, threat_id, row["pbx"])
            click.echo(f"{threat_id}: acknowledged already by {again['acknowledged_by']} "
                       f"({again['acknowledged_via']}) at {_local(again, cfg.tz)['acknowledged_at']}")
            sys.exit(1)
    finally:
        engine.dispose()
    click.echo(f"{threat_id}: acknowledged by {_who(by)}")


@threats_group.command("note")
@config_option
@click.argument("threat_id")
@click.argument("text")
@click.option("--by", default=None, help="Who writes the note (default: the login name).")
@click.option("--pbx", default=None, help="The PBX host, if several share the store.")
def threats_note(config_path: str, threat_id: str, text: str, by: str | None, pbx: str | None) -> None:
    """Add a note to a threat: what was said, what was done (police called, ...)."""
    from pbx_bridge.threats import store

    if not text.strip():
        raise click.BadParameter("the note is empty", param_hint="TEXT")
    cfg = _load(config_path)
    engine = _store(cfg)
    try:
        row = _find(cfg, engine, threat_id, pbx)
        store.add_note(engine, row["pbx"], threat_id, datetime.now(timezone.utc), _who(by), text.strip()[:4000])
    finally:
        engine.dispose()
    click.echo(f"{threat_id}: note added")
