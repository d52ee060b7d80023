"""`pbx-bridge rota ...`: check, show and PIN hashes for the voicemail rota."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from pbx_bridge.cli.base import _day, cli
from pbx_bridge.cli.output import FORMAT, emit, prefixed

# --- rota (voicemail duty, rules §2) -------------------------------------------------------------

@cli.group("rota")
def rota_group() -> None:
    """The voicemail rota: who is on duty, and when the companies listen."""


def _rota_or_exit(path: str):
    from pbx_bridge.rota import RotaError, load_rota

    try:
        return load_rota(path)
    except RotaError as exc:
        click.echo(prefixed("rota error", exc), err=True)
        sys.exit(2)


@rota_group.command("check")
@click.argument("path", metavar="FILE")
def rota_check(path: str) -> None:
    """Validate a rota; exit 2 with `file:line: key: problem` for each error, exit 1 after the
    warnings (a year without a published 调休 schedule, a shift that holds no listening time)."""
    from pbx_bridge.rota.calendar import china_coverage, coverage_warnings
    from pbx_bridge.rota.schedule import shift_warnings

    loaded = _rota_or_exit(path)
    first, last = china_coverage()
    covers = f" (covers {first}–{last})" if loaded.calendar.kind == "china" else ""
    warnings = coverage_warnings(loaded.calendar, datetime.now(loaded.tz).date(), loaded.start)
    warnings += shift_warnings(loaded)
    for warning in warnings:
        click.echo(f"pbx-bridge: warning: {path}: {warning}", err=True)
    click.echo(f"ok: {len(loaded.companies)} companies, {loaded.agent_count} agents, "
               f"{len(loaded.round_ids)} rounds, calendar {loaded.calendar.kind}{covers}"
               + (f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else ""))
    if warnings:
        sys.exit(1)


SHOW_FIELDS = ("date", "weekday", "working_day", "calendar", "estimated", "company", "company_name", "round",
               "mailboxes", "on_duty", "endpoint", "turn_of", "skipped", "standby", "why", "listens")


@rota_group.command("show")
@click.option("-r", "--rota", "path", envvar="PBX_BRIDGE_ROTA", default="/etc/pbx-bridge/rota.yaml",
              show_default=True, help="The rota file.")
@click.option("--date", "day", default=None, help="Local day, YYYY-MM-DD (default: today in the rota's time zone).")
@click.option("--company", "company_id", default=None, help="Only this company (its id).")
@FORMAT
def rota_show(path: str, day: str | None, company_id: str | None, fmt: str) -> None:
    """Who is on duty and why, and the day's listening times (json/csv: one row per company)."""
    from pbx_bridge.rota import duty, listenings
    from pbx_bridge.rota.calendar import day_warnings, estimated

    loaded = _rota_or_exit(path)
    when = _day(None, None, day) if day else datetime.now(loaded.tz).date()
    if company_id is not None and company_id not in {c.id for c in loaded.companies}:
        raise click.BadParameter(f"no company {company_id!r} in {path}", param_hint="--company")
    working, why = loaded.is_working_day(when)
    guessed = estimated(loaded.calendar, when)
    if guessed:  # on stderr too, so that a script reading the JSON still sees it
        for warning in day_warnings(loaded.calendar, when):
            click.echo(f"pbx-bridge: warning: {path}: {warning}", err=True)
    ids = [company_id] if company_id else [c for members in loaded.round_ids for c in members]
    times: dict[str, list[str]] = {}
    for li in listenings(loaded, when):
        times.setdefault(li.company_id, []).append(f"{li.at:%H:%M}")
    rows, duties = [], []
    for cid in ids:
        d = duty(loaded, cid, when)
        duties.append(d)
        company = loaded.company(cid)
        rows.append({
            "date": when.isoformat(), "weekday": f"{when:%A}", "working_day": working, "calendar": why,
            "estimated": guessed, "company": cid, "company_name": company.name, "round": loaded.round_of(cid),
            "mailboxes": list(company.mailboxes),
            "on_duty": str(d.agent) if d.agent else None, "endpoint": d.agent.endpoint if d.agent else None,
            "turn_of": str(d.turn_of) if d.turn_of else None,
            "skipped": [f"{a} ({r})" for a, r in d.skipped], "standby": [str(a) for a in d.standby],
            "why": d.reason, "listens": times.get(cid, []),
        })
    if fmt != "table":
        emit(rows, SHOW_FIELDS, fmt)
        return
    state = "working day" if working else "not a working day"
    click.echo(f"{when} {when:%A}: {why if why in ('working day', 'weekend') else f'{state} ({why})'}")
    shown_off = False
    for d, row in zip(duties, rows):
        if d.days_off and not shown_off:
            click.echo("non-working days since the last working day: "
                       + ", ".join(f"{o} {o:%a} ({r})" for o, r in d.days_off))
            shown_off = True
        click.echo(f"{row['company']} {row['company_name']} (round {row['round']}, {', '.join(row['mailboxes'])})")
        click.echo(f"  on duty: {d.agent} ({d.agent.endpoint})" if d.agent is not None else "  on duty: nobody")
        if d.turn_of is not None:
            click.echo(f"  turn of: {d.turn_of}")
        for agent, reason in d.skipped:
            click.echo(f"  skipped: {agent} ({reason})")
        if d.standby:
            click.echo(f"  then:    {', '.join(str(a) for a in d.standby)}")
        click.echo(f"  why:     {d.reason}")
        click.echo(f"  listens: {' '.join(row['listens']) or '-'}")


@rota_group.command("hash-pin")
def rota_hash_pin() -> None:
    """Read a PIN (prompt, or one line on stdin) and print its argon2 hash for `pin_hash`."""
    import re

    from pbx_bridge.rota import hash_pin

    if sys.stdin.isatty():
        pin = click.prompt("PIN", hide_input=True, confirmation_prompt=True)
    else:
        pin = sys.stdin.readline().strip()
    if not re.fullmatch(r"[0-9]{4,12}", pin):
        click.echo("pbx-bridge: a PIN is 4 to 12 digits (it is typed on a phone keypad)", err=True)
        sys.exit(2)
    click.echo(hash_pin(pin))


