"""`pbx-bridge nuisance ...`: screens in force, the warnings (evidence), and the admins' screens
and lifts (rules §6).

Exit status: 0 done; 1 done, but the number stays screened by the admins' file (a lift cannot
undo the file: edit it); 2 refused (a wrong argument, a number the file says never to screen, a
broken config or screening file). The daemon applies a change within `nuisance.refresh_interval`.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from datetime import datetime, time, timedelta, timezone

import click

from pbx_bridge.cli.base import _day, _load, cli, config_option
from pbx_bridge.cli.output import FORMAT, emit, prefixed


@cli.group("nuisance")
def nuisance_group() -> None:
    """Nuisance calls: screened numbers, the agents' warnings, admins' screens and lifts."""


def _store(cfg):
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.rooms import upgrade

    upgrade(cfg.store.url)
    return sync_engine(cfg.store.url)


def _file(cfg):
    """The admins' screening file as it is now, or None; exit 2 if it is broken."""
    from pbx_bridge.nuisance.file import ScreeningFileError, load_file

    if cfg.nuisance.file is None:
        return None
    try:
        return load_file(str(cfg.nuisance.file), cfg.tz)
    except ScreeningFileError as exc:
        click.echo(prefixed("screening file error", exc), err=True)
        sys.exit(2)


def _states(cfg, engine, now: datetime):
    from pbx_bridge.nuisance import store
    from pbx_bridge.nuisance.model import Rules, evaluate

    known = store.load_sync(engine)
    loaded = _file(cfg)
    rules = Rules(cfg.nuisance.warnings_to_screen, cfg.nuisance.window, cfg.nuisance.screen_for)
    return evaluate(known.warnings, known.admin, known.lifts, loaded.listed if loaded else [],
                    loaded.never if loaded else (), rules, now), loaded


def _local(moment: datetime | None, tz) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _number(value: str) -> str:
    from pbx_bridge.nuisance.model import valid_number

    try:
        return valid_number(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="NUMBER") from None


def _who(by: str | None) -> str:
    return by or os.environ.get("SUDO_USER") or getpass.getuser()


LIST_FIELDS = ("number", "state", "by", "since", "until", "warnings", "reason")


@nuisance_group.command("list")
@config_option
@click.option("--all", "show_all", is_flag=True, help="Also numbers not screened now: warned, released, lifted.")
@FORMAT
def nuisance_list(config_path: str, show_all: bool, fmt: str) -> None:
    """Screened numbers: why, since and until when, and their warnings within the window."""
    cfg = _load(config_path)
    now = datetime.now(timezone.utc)
    engine = _store(cfg)
    try:
        states, _ = _states(cfg, engine, now)
    finally:
        engine.dispose()
    shown = sorted((s for s in states.values() if show_all or s.screen is not None),
                   key=lambda s: (s.state != "screened", s.number))
    rows = []
    for s in shown:
        screen = s.screen or s.latest
        until = "permanent" if screen is not None and screen.until is None else _local(screen.until if screen else None,
                                                                                        cfg.tz)
        reason = screen.reason if screen else f"lifted {_local(s.lifted_at, cfg.tz)}" if s.lifted_at else ""
        rows.append({"number": s.number, "state": s.state, "by": screen.source if screen else None,
                     "since": _local(screen.since if screen else None, cfg.tz) if screen else None,
                     "until": None if until == "-" else until, "warnings": s.warnings, "reason": reason})

    def table(rows: list[dict]) -> None:
        click.echo(f"{'number':<16} {'state':<12} {'by':<9} {'since':<16} {'until':<16} {'warnings':>8}  reason")
        for r in rows:
            click.echo(f"{r['number']:<16} {r['state']:<12} {r['by'] or '-':<9} {r['since'] or '-':<16} "
                       f"{r['until'] or '-':<16} {r['warnings']:>8}  {r['reason']}")

    emit(rows, LIST_FIELDS, fmt, "no number is screened" + ("" if show_all else " (--all: every number on record)"),
         as_table=table)


@nuisance_group.command("warnings")
@config_option
@click.option("--number", default=None, help="Only this number's warnings.")
@click.option("--from", "first", default=None, callback=lambda c, p, v: _day(c, p, v) if v else None,
              help="First local day, YYYY-MM-DD.")
@click.option("--to", "last", default=None, callback=lambda c, p, v: _day(c, p, v) if v else None,
              help="Last local day (included), YYYY-MM-DD.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "jsonl"]), default="table",
              show_default=True, help="json: one array; jsonl: one object a line (as before).")
def nuisance_warnings(config_path: str, number: str | None, first, last, fmt: str) -> None:
    """The evidence: every warning an agent gave (number, time, agent, call), oldest first."""
    from pbx_bridge.nuisance import store

    if first and last and last < first:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    cfg = _load(config_path)
    start = datetime.combine(first, time.min, cfg.tz) if first else None
    end = datetime.combine(last + timedelta(days=1), time.min, cfg.tz) if last else None
    engine = _store(cfg)
    try:
        rows = store.warning_rows(engine, _number(number) if number else None, start, end)
    finally:
        engine.dispose()
    fields = ("warned_at", "number", "agent", "endpoint", "call_uniqueid", "seq", "recording", "pbx")
    if fmt == "table":
        click.echo(f"{'time (' + cfg.timezone + ')':<22} {'number':<16} {'agent':<16} {'call':<22} warning")
        for r in rows:
            click.echo(f"{r['warned_at'].astimezone(cfg.tz):%Y-%m-%d %H:%M:%S}    {r['number'] or '(none)':<16} "
                       f"{r['agent']:<16} {r['call_uniqueid']:<22} {r['seq']}")
        click.echo(f"{len(rows)} warning{'s' if len(rows) != 1 else ''}")
        return
    out = [{f: (r[f].isoformat().replace("+00:00", "Z") if f == "warned_at" else r[f]) for f in fields} for r in rows]
    if fmt == "jsonl":
        for row in out:
            click.echo(json.dumps(row, ensure_ascii=False))
    else:
        emit(out, fields, fmt)


def _until(cfg, now: datetime, for_: str | None, until: str | None, permanent: bool) -> datetime | None:
    from pbx_bridge.nuisance.settings import parse_duration

    if sum(bool(x) for x in (for_, until, permanent)) > 1:
        raise click.UsageError("give at most one of --for, --until, --permanent")
    if permanent:
        return None
    if until:
        for form in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
            try:
                parsed = datetime.strptime(until, form)
            except ValueError:
                continue
            if form == "%Y-%m-%d":  # a day: through the end of it
                parsed += timedelta(days=1)
            moment = parsed.replace(tzinfo=cfg.tz)
            if moment <= now:
                raise click.BadParameter(f"{until} is already past", param_hint="--until")
            return moment
        raise click.BadParameter(f"{until!r} is not YYYY-MM-DD or 'YYYY-MM-DD HH:MM'", param_hint="--until")
    try:
        return now + (parse_duration(for_) if for_ else cfg.nuisance.screen_for)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None


@nuisance_group.command("add")
@config_option
@click.argument("number")
@click.option("--for", "for_", default=None, help="How long: 7d, 12h, 90m (default: nuisance.screen_for).")
@click.option("--until", default=None, help="Until a local day (included) or 'YYYY-MM-DD HH:MM'.")
@click.option("--permanent", is_flag=True, help="Until lifted.")
@click.option("--reason", required=True, help="Why (kept with the screen as the record).")
@click.option("--by", default=None, help="Who decided (default: the user running the command).")
def nuisance_add(config_path: str, number: str, for_: str | None, until: str | None, permanent: bool, reason: str,
                 by: str | None) -> None:
    """Screen NUMBER at the inbound entry: its calls hear the notice and never reach a queue."""
    from pbx_bridge.nuisance import store

    number = _number(number)
    if not reason.strip():
        raise click.BadParameter("say why", param_hint="--reason")
    cfg = _load(config_path)
    now = datetime.now(timezone.utc)
    end = _until(cfg, now, for_, until, permanent)
    loaded = _file(cfg)
    if loaded is not None and number in loaded.never:
        click.echo(f"pbx-bridge: {number} is in never_screen of {loaded.path}; remove it there first", err=True)
        sys.exit(2)
    engine = _store(cfg)
    try:
        store.add_screen(engine, number, now, end, reason.strip(), _who(by))
    finally:
        engine.dispose()
    click.echo(f"{number} screened {'until lifted' if end is None else 'until ' + _local(end, cfg.tz)} "
               f"({cfg.timezone}): {reason.strip()}")


@nuisance_group.command("lift")
@config_option
@click.argument("number")
@click.option("--reason", required=True, help="Why (kept as the record).")
@click.option("--by", default=None, help="Who decided (default: the user running the command).")
def nuisance_lift(config_path: str, number: str, reason: str, by: str | None) -> None:
    """End any screen of NUMBER now; its earlier warnings no longer count (new ones may screen it again)."""
    from pbx_bridge.nuisance import store

    number = _number(number)
    if not reason.strip():
        raise click.BadParameter("say why", param_hint="--reason")
    cfg = _load(config_path)
    now = datetime.now(timezone.utc)
    engine = _store(cfg)
    try:
        before, _ = _states(cfg, engine, now)
        store.add_lift(engine, number, now, reason.strip(), _who(by))
        after, _ = _states(cfg, engine, now + timedelta(microseconds=1))
    finally:
        engine.dispose()
    was, still = before.get(number), after.get(number)
    if still is not None and still.screen is not None:
        click.echo(f"pbx-bridge: lift recorded, but {number} stays screened by the screening file: "
                   f"{still.screen.reason}; remove it there", err=True)
        sys.exit(1)
    if was is not None and was.screen is not None:
        click.echo(f"{number} lifted: it was screened ({was.screen.source}: {was.screen.reason})")
    else:
        counted = len(was.warning_times) if was is not None else 0
        click.echo(f"{number} was not screened; lift recorded ({counted} earlier warning"
                   f"{'s' if counted != 1 else ''} no longer count)")


@nuisance_group.command("check")
@click.argument("path", metavar="FILE")
def nuisance_check(path: str) -> None:
    """Validate a screening file; exit 2 with `file:line: key: problem` if it is wrong."""
    from zoneinfo import ZoneInfo

    from pbx_bridge.nuisance.file import ScreeningFileError, load_file

    try:
        loaded = load_file(path, ZoneInfo("UTC"))  # the zone only places `until`, not checked here
    except ScreeningFileError as exc:
        click.echo(prefixed("screening file error", exc), err=True)
        sys.exit(2)
    click.echo(f"ok: {loaded.summary()}")
