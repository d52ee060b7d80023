"""`pbx-bridge callbacks list|cancel`: the CALL BACK list (rules §5: checked first thing each day)."""

from __future__ import annotations

from datetime import date, datetime

import click

from pbx_bridge.cli.base import _day, _load, cli, config_option
from pbx_bridge.cli.output import FORMAT, emit, table

FIELDS = ("id", "requested_at", "number", "caller_name", "queue", "position", "status", "attempts", "last_attempt_at",
          "agent", "result", "done_at", "pbx")


def _local(moment: datetime | None, tz) -> str:  # noqa: ANN001 - a ZoneInfo
    return "" if moment is None else moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


@cli.group()
def callbacks() -> None:
    """Callback requests: callers who pressed 1 to be called back (virtual hold)."""


@callbacks.command("list")
@config_option
@click.option("--status", "statuses", multiple=True,
              type=click.Choice(["pending", "dialling", "done", "answered-inbound", "failed", "cancelled", "all"]),
              help="Only these statuses (repeat the option). Default: the open ones (pending, dialling); "
                   "with --date: all.")
@click.option("--date", "day", default=None, help="Only requests made on this local day, YYYY-MM-DD.")
@FORMAT
@click.option("--pbx", default=None, help="Only this PBX host's requests.")
def callbacks_list(config_path: str, statuses: tuple[str, ...], day: str | None, fmt: str, pbx: str | None) -> None:
    """The CALL BACK list, oldest request first. Times are local (config timezone)."""
    from pbx_bridge.callbacks import store
    from pbx_bridge.callbacks.model import OPEN
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.rooms import upgrade

    cfg = _load(config_path)
    when: date | None = _day(None, None, day) if day else None
    wanted = None if "all" in statuses else (statuses or (None if when else OPEN))
    upgrade(cfg.store.url)
    engine = sync_engine(cfg.store.url)
    try:
        requests = store.listing(engine, wanted, when, cfg.tz, pbx)
    finally:
        engine.dispose()
    rows = [{f: getattr(r, f) for f in FIELDS} for r in requests]
    for row in rows:
        for key in ("requested_at", "last_attempt_at", "done_at"):
            row[key] = _local(row[key], cfg.tz)
    emit(rows, FIELDS, fmt, "no callback requests" + (f" on {when}" if when else " open"),
         as_table=lambda shown: table(shown, FIELDS[:-1]))


@callbacks.command("cancel")
@config_option
@click.argument("request_id", type=int)
def callbacks_cancel(config_path: str, request_id: int) -> None:
    """Cancel an open request (a callback already ringing goes on, but is not retried)."""
    from pbx_bridge.callbacks import store
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.rooms import upgrade

    cfg = _load(config_path)
    upgrade(cfg.store.url)
    engine = sync_engine(cfg.store.url)
    try:
        request = store.cancel(engine, request_id)
    finally:
        engine.dispose()
    if request is None:
        click.echo(f"pbx-bridge: no open callback request {request_id}", err=True)
        sys.exit(1)
    click.echo(f"callback {request.id} to {request.number} ({request.queue}) cancelled")
