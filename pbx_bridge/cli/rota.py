"""`pbx-bridge rota ...`: check, show and PIN hashes for the voicemail rota."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from pbx_bridge.cli.base import _day, cli

# --- rota (voicemail duty, rules §2) -------------------------------------------------------------

@cli.group("rota")
def rota_group() -> None:
    """The voicemail rota: who is on duty, and when the companies listen."""


def _rota_or_exit(path: str):
    from pbx_bridge.rota import RotaError, load_rota

    try:
        return load_rota(path)
    except RotaError as exc:
        click.echo(f"pbx-bridge: rota error: {exc}", err=True)
        sys.exit(2)


@rota_group.command("check")
@click.argument("path", metavar="FILE")
def rota_check(path: str) -> None:
    """Validate a rota; exit 2 with `file:line: key: problem` if it is wrong."""
    from pbx_bridge.rota.calendar import china_coverage, coverage_warnings

    loaded = _rota_or_exit(path)
    first, last = china_coverage()
    covers = f" (covers {first}–{last})" if loaded.calendar.kind == "china" else ""
    for warning in coverage_warnings(loaded.calendar, datetime.now(loaded.tz).date(), loaded.start):
        click.echo(f"pbx-bridge: warning: {path}: {warning}", err=True)
    click.echo(f"ok: {len(loaded.companies)} companies, {loaded.agent_count} agents, "
               f"{len(loaded.round_ids)} rounds, calendar {loaded.calendar.kind}{covers}")


@rota_group.command("show")
@click.option("-r", "--rota", "path", envvar="PBX_BRIDGE_ROTA", default="/etc/pbx-bridge/rota.yaml",
              show_default=True, help="The rota file.")
@click.option("--date", "day", default=None, help="Local day, YYYY-MM-DD (default: today in the rota's time zone).")
@click.option("--company", "company_id", default=None, help="Only this company (its id).")
def rota_show(path: str, day: str | None, company_id: str | None) -> None:
    """Who is on duty and why, and the day's listening times."""
    from pbx_bridge.rota import duty, listenings

    loaded = _rota_or_exit(path)
    when = _day(None, None, day) if day else datetime.now(loaded.tz).date()
    if company_id is not None and company_id not in {c.id for c in loaded.companies}:
        raise click.BadParameter(f"no company {company_id!r} in {path}", param_hint="--company")
    working, why = loaded.is_working_day(when)
    state = "working day" if working else "not a working day"
    click.echo(f"{when} {when:%A}: {why if why in ('working day', 'weekend') else f'{state} ({why})'}")
    ids = [company_id] if company_id else [c for members in loaded.round_ids for c in members]
    times: dict[str, list[str]] = {}
    for li in listenings(loaded, when):
        times.setdefault(li.company_id, []).append(f"{li.at:%H:%M}")
    shown_off = False
    for cid in ids:
        d = duty(loaded, cid, when)
        if d.days_off and not shown_off:
            click.echo("non-working days since the last working day: "
                       + ", ".join(f"{o} {o:%a} ({r})" for o, r in d.days_off))
            shown_off = True
        company = loaded.company(cid)
        click.echo(f"{cid} {company.name} (round {loaded.round_of(cid)}, {', '.join(company.mailboxes)})")
        if d.agent is not None:
            click.echo(f"  on duty: {d.agent} ({d.agent.endpoint})")
        else:
            click.echo("  on duty: nobody")
        if d.turn_of is not None:
            click.echo(f"  turn of: {d.turn_of}")
        for agent, reason in d.skipped:
            click.echo(f"  skipped: {agent} ({reason})")
        if d.standby:
            click.echo(f"  then:    {', '.join(str(a) for a in d.standby)}")
        click.echo(f"  why:     {d.reason}")
        click.echo(f"  listens: {' '.join(times.get(cid, [])) or '-'}")


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


