"""The `pbx-bridge` command: the daemon, and the admin's tools around its store."""

from __future__ import annotations

import asyncio
import sys
from datetime import date, datetime

import click

from pbx_bridge import logs
from pbx_bridge.config import DEFAULT_CONFIG_PATH, SECRET_ENV, Config, ConfigError, load_config

config_option = click.option(
    "-c", "--config", "config_path", envvar="PBX_BRIDGE_CONFIG", default=DEFAULT_CONFIG_PATH, show_default=True,
    help="The YAML configuration file.",
)


def _load(config_path: str) -> Config:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        click.echo(f"pbx-bridge: config error: {exc}", err=True)
        sys.exit(2)


def _day(_ctx, param, value: str) -> date:  # noqa: ANN001 - click callback
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date of the form YYYY-MM-DD", param=param) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pbx-bridge")
def cli() -> None:
    """pbx-bridge: keeps an Asterisk call center's house rules and counts its numbers."""


@cli.command()
@config_option
def run(config_path: str) -> None:
    """Run the daemon in the foreground (systemd starts it this way)."""
    cfg = _load(config_path)
    if cfg.ami.secret is None:
        click.echo(
            f"pbx-bridge: config error: {config_path}: ami.secret: no AMI secret: "
            f"set ami.secret_file or the environment variable {SECRET_ENV}", err=True,
        )
        sys.exit(2)
    secret = cfg.ami.secret.get_secret_value()
    logs.register_secret(secret)
    logs.configure(cfg.logging.format, cfg.logging.level)
    from pbx_bridge.daemon import main as daemon_main
    from pbx_bridge.rota.load import RotaError

    try:
        asyncio.run(daemon_main(cfg, secret))
    except RotaError as exc:
        click.echo(f"pbx-bridge: rota error: {exc}", err=True)
        sys.exit(2)


@cli.group()
def config() -> None:
    """Check a configuration file."""


@config.command("check")
@config_option
def config_check(config_path: str) -> None:
    """Validate the file; exit 2 with `file:line: key: problem` if it is wrong."""
    cfg = _load(config_path)
    click.echo(f"{config_path}: ok (pbx {cfg.pbx}, AMI {cfg.ami.host}:{cfg.ami.port})")


@cli.group()
def db() -> None:
    """The SQL store."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: str) -> None:
    """Create or migrate the store's tables to the current schema."""
    from pbx_bridge.store.engine import safe_url
    from pbx_bridge.store.migrate import upgrade

    cfg = _load(config_path)
    upgrade(cfg.store.url)
    click.echo(f"store {safe_url(cfg.store.url)} is at the current schema")


def _export_command(kind: str):
    @click.command("export")
    @config_option
    @click.option("--from", "first", required=True, callback=_day, help="First local day, YYYY-MM-DD.")
    @click.option("--to", "last", required=True, callback=_day, help="Last local day (included), YYYY-MM-DD.")
    @click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
    @click.option("--pbx", default=None, help="Only this PBX host's records (default: every host in the store).")
    def export(config_path: str, first: date, last: date, fmt: str, pbx: str | None) -> None:
        from pbx_bridge.reports import export as exporter
        from pbx_bridge.store.engine import sync_engine
        from pbx_bridge.store.migrate import upgrade

        if last < first:
            raise click.BadParameter("--to is before --from", param_hint="--to")
        cfg = _load(config_path)
        upgrade(cfg.store.url)
        engine = sync_engine(cfg.store.url)
        try:
            exporter.write(exporter.rows(engine, kind, first, last, cfg.tz, pbx), kind, fmt, sys.stdout)
        finally:
            engine.dispose()

    export.help = f"Print the {kind[:-1]} records of the given local days."
    return export


@cli.group()
def calls() -> None:
    """Call records: one per queued call."""


@cli.group()
def offers() -> None:
    """Offer records: one per time an agent's phone rang for a queued call."""


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
    import csv
    import json

    from pbx_bridge.reports import ring_twice
    from pbx_bridge.ring import two_rings_s
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.store.migrate import upgrade

    cfg = _load(config_path)
    upgrade(cfg.store.url)
    engine = sync_engine(cfg.store.url)
    try:
        rows = ring_twice.compliance(engine, first, last, cfg.tz, cfg.ring, by, pbx)
    finally:
        engine.dispose()
    if fmt == "table":
        click.echo(ring_twice.as_table(rows, two_rings_s(cfg.ring)))
    elif fmt == "json":
        click.echo(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=1))
    else:
        dicts = [r.as_dict() for r in rows]
        writer = csv.DictWriter(sys.stdout, fieldnames=list(dicts[0]) if dicts else ["period", "agent"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(dicts)


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
    import csv
    import json

    from pbx_bridge.reports import voicemail
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.store.migrate import upgrade

    cfg = _load(config_path)
    upgrade(cfg.store.url)
    engine = sync_engine(cfg.store.url)
    try:
        rows = voicemail.daily(engine, first, last, cfg.tz)
    finally:
        engine.dispose()
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=voicemail.FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        widths = {f: max([len(f)] + [len(str(r[f])) for r in rows]) for f in voicemail.FIELDS}
        click.echo("  ".join(f.ljust(widths[f]) for f in voicemail.FIELDS))
        for row in rows:
            click.echo("  ".join(str("-" if row[f] is None else row[f]).ljust(widths[f]) for f in voicemail.FIELDS))


calls.add_command(_export_command("calls"))
offers.add_command(_export_command("offers"))


def main() -> None:
    cli(prog_name="pbx-bridge")


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


# --- KPI reports (issue 5: rules §3–§5) ----------------------------------------------------------

def _reports_settings(cfg: Config):
    from pbx_bridge.reports.settings import ReportsConfig

    return getattr(cfg, "reports", None) or ReportsConfig()


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
    from pbx_bridge.store.migrate import upgrade

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
        rep = monthly.monthly(engine, start, end, cfg.tz, _reports_settings(cfg), two_rings_s(cfg.ring), pbx)
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
    from pbx_bridge.store.migrate import upgrade

    cfg = _load(config_path)
    when = _day(None, None, day) if day else datetime.now(cfg.tz).date()
    upgrade(cfg.store.url)
    engine = sync_engine(cfg.store.url)
    try:
        rep = intraday.report(engine, when, cfg.tz, _reports_settings(cfg), until, pbx)
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
    from pbx_bridge.store.migrate import upgrade

    cfg = _load(config_path)
    settings = _reports_settings(cfg)
    when = _day(None, None, day) if day else handover.day_for(datetime.now(cfg.tz).date(),
                                                               settings.handover_days_back)
    upgrade(cfg.store.url)
    engine = sync_engine(cfg.store.url)
    try:
        path, count = handover.write(engine, Path(directory or settings.handover_dir), when, cfg.tz, pbx)
    finally:
        engine.dispose()
    click.echo(f"{path}: {count} call records of {when}")
