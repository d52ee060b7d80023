"""`pbx-bridge report ...` and `pbx-bridge voicemail report`: what the center is run by."""

from __future__ import annotations

import sys
from datetime import date, datetime

import click

from pbx_bridge.cli.base import _day, _load, cli, config_option
from pbx_bridge.cli.output import emit, table

@cli.group()
def report() -> None:
    """Reports the center is run by."""


@report.command("ring-twice")
@config_option
@click.option("--from", "first", required=True, callback=_day, help="First local day, YYYY-MM-DD.")
@click.option("--to", "last", required=True, callback=_day, help="Last local day (included), YYYY-MM-DD.")
@click.option("--by", type=click.Choice(["day", "month"]), default="day", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--pbx", default=None, help="Only this PBX host's records.")
def report_ring_twice(config_path: str, first: date, last: date, by: str, fmt: str, pbx: str | None) -> None:
    """Per agent: offers answered within two rings, rings per offer, misses, calls ended first."""

    from pbx_bridge.reports import ring_twice
    from pbx_bridge.ring import two_rings_s
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.rooms import upgrade

    cfg = _load(config_path)
    upgrade(cfg.store.url)
    engine = sync_engine(cfg.store.url)
    try:
        rows = ring_twice.compliance(engine, first, last, cfg.tz, cfg.ring, by, pbx)
    finally:
        engine.dispose()
    if fmt == "table":
        click.echo(ring_twice.as_table(rows, two_rings_s(cfg.ring)))
    else:
        dicts = [r.as_dict() for r in rows]
        emit(dicts, list(dicts[0]) if dicts else ["period", "agent"], fmt)


@report.command("rebuild-rollups")
@config_option
@click.option("--pbx", default=None, help="Only this PBX host's rollups (default: every PBX in the store).")
def report_rebuild_rollups(config_path: str, pbx: str | None) -> None:
    """Rebuild the reports' rollups from the stored calls and offers (docs/reports.md)."""
    import asyncio

    from pbx_bridge.rollups.keeper import rebuild_store
    from pbx_bridge.rollups.wiring import basis
    from pbx_bridge.rooms import upgrade

    cfg = _load(config_path)
    upgrade(cfg.store.url)
    for name, rows in asyncio.run(rebuild_store(cfg.store.url, basis(cfg), pbx)).items():
        click.echo(f"{name}: {rows} rollup rows")


@cli.group("voicemail")
def voicemail_group() -> None:
    """Voicemail duty (rules §2)."""


@voicemail_group.command("report")
@config_option
@click.option("--from", "first", required=True, callback=_day, help="First local day, YYYY-MM-DD.")
@click.option("--to", "last", required=True, callback=_day, help="Last local day (included), YYYY-MM-DD.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def voicemail_report(config_path: str, first: date, last: date, fmt: str) -> None:
    """Per company per day: messages left, handled, time to first callback, listenings missed."""
    from pbx_bridge.reports import voicemail
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.rooms import upgrade

    cfg = _load(config_path)
    upgrade(cfg.store.url)
    engine = sync_engine(cfg.store.url)
    try:
        rows = voicemail.daily(engine, first, last, cfg.tz)
    finally:
        engine.dispose()
    emit(rows, voicemail.FIELDS, fmt, as_table=lambda shown: table(shown, voicemail.FIELDS))



# --- KPI reports (issue 5: rules §3–§5) ----------------------------------------------------------

def _hhmm(_ctx, param, value: str | None):  # noqa: ANN001 - click callback
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%H:%M").time()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a time of the form HH:MM", param=param) from None


@report.command("monthly")
@config_option
@click.option("--month", default=None, help="YYYY-MM (default: last month).")
@click.option("--from", "first", default=None, help="First local day, YYYY-MM-DD (instead of --month).")
@click.option("--to", "last", default=None, help="Last local day (included), YYYY-MM-DD.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "html"]), default="table",
              show_default=True)
@click.option("-o", "--output", default=None, help="Write to this file instead of standard output.")
@click.option("--pbx", default=None, help="Only this PBX host's records.")
def report_monthly(config_path: str, month: str | None, first: str | None, last: str | None, fmt: str,
                   output: str | None, pbx: str | None) -> None:
    """Monthly operations report per company and agent, each figure against its target (rules §4)."""
    import json

    from pbx_bridge.reports import monthly
    from pbx_bridge.ring import two_rings_s
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.rooms import upgrade

    cfg = _load(config_path)
    if first or last:
        if not (first and last):
            raise click.BadParameter("give both --from and --to", param_hint="--from")
        start, end = _day(None, None, first), _day(None, None, last)
        if end < start:
            raise click.BadParameter("--to is before --from", param_hint="--to")
    else:
        try:
            start, end = monthly.month_bounds(month or monthly.previous_month(datetime.now(cfg.tz).date()))
        except ValueError:
            raise click.BadParameter(f"{month!r} is not a month of the form YYYY-MM", param_hint="--month") from None
    upgrade(cfg.store.url)
    engine = sync_engine(cfg.store.url)
    try:
        rep = monthly.monthly(engine, start, end, cfg.tz, cfg.reports, two_rings_s(cfg.ring), pbx)
    finally:
        engine.dispose()
    if fmt == "table":
        text = monthly.as_table(rep)
    elif fmt == "csv":
        text = monthly.as_csv(rep)
    elif fmt == "json":
        text = json.dumps(rep.as_dict(), ensure_ascii=False, indent=1)
    else:
        from pbx_bridge.reports import html

        text = html.render(rep)
    if output:
        from pathlib import Path

        Path(output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        click.echo(f"{output}: monthly report {start} – {end} ({fmt})", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))


@report.command("intraday")
@config_option
@click.option("--date", "day", default=None, help="Local day, YYYY-MM-DD (default: today).")
@click.option("--until", "until", default=None, callback=_hhmm,
              help="Count calls that joined before this local time, HH:MM (default: now).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--pbx", default=None, help="Only this PBX host's records.")
def report_intraday(config_path: str, day: str | None, until, fmt: str, pbx: str | None) -> None:  # noqa: ANN001
    """Inbound calls so far today per company: offered, answered, abandoned (rules §5)."""
    import csv

    from pbx_bridge.reports import intraday
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.rooms import upgrade

    cfg = _load(config_path)
    when = _day(None, None, day) if day else datetime.now(cfg.tz).date()
    upgrade(cfg.store.url)
    engine = sync_engine(cfg.store.url)
    try:
        rep = intraday.report(engine, when, cfg.tz, cfg.reports, until, pbx)
    finally:
        engine.dispose()
    if fmt == "table":
        click.echo(intraday.as_table(rep))
    elif fmt == "json":
        click.echo(intraday.as_json(rep))
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=("day", "until") + intraday.FIELDS, lineterminator="\n")
        writer.writeheader()
        for line in [*rep["companies"], rep["total"]]:
            writer.writerow({"day": rep["day"], "until": rep["until"], **line})


@report.command("handover")
@config_option
@click.option("--date", "day", default=None,
              help="Local day of the records, YYYY-MM-DD (default: handover_days_back days ago, 3).")
@click.option("--dir", "directory", default=None, help="Directory to write to (default: reports.handover_dir).")
@click.option("--pbx", default=None, help="Only this PBX host's records.")
def report_handover(config_path: str, day: str | None, directory: str | None, pbx: str | None) -> None:
    """Write a day's call records as calls-YYYY-MM-DD.csv for the follow-up department (rules §5)."""
    from pathlib import Path

    from pbx_bridge.reports import handover
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.rooms import upgrade

    cfg = _load(config_path)
    settings = cfg.reports
    when = _day(None, None, day) if day else handover.day_for(datetime.now(cfg.tz).date(),
                                                               settings.handover_days_back)
    upgrade(cfg.store.url)
    engine = sync_engine(cfg.store.url)
    try:
        path, count = handover.write(engine, Path(directory or settings.handover_dir), when, cfg.tz, pbx)
    finally:
        engine.dispose()
    click.echo(f"{path}: {count} call records of {when}")

