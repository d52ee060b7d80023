"""`pbx-bridge qa list|show|score`: call monitoring (rules §4), the listens and the scores."""

from __future__ import annotations

import getpass
import json
import os
import sys
from datetime import date, datetime, timedelta

import click

from pbx_bridge.cli.base import _day, _load, cli, config_option
from pbx_bridge.cli.output import FORMAT
from pbx_bridge.cli.output import emit as _emit

LIST_FIELDS = ("at", "kind", "uniqueid", "agent", "company", "queue", "by", "listened_s", "score", "note", "pbx")


@cli.group("qa")
def qa_group() -> None:
    """Call monitoring: supervisors' listens (*85, *87) and the scores they gave."""


def _engine(cfg):  # noqa: ANN001, ANN202 - a Config; a sync Engine
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.rooms import upgrade

    upgrade(cfg.store.url)
    return sync_engine(cfg.store.url)


def _local(moment: datetime | None, tz) -> str:  # noqa: ANN001 - a ZoneInfo
    return "" if moment is None else moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _who() -> str:
    return os.environ.get("SUDO_USER") or getpass.getuser() or "cli"


@qa_group.command("list")
@config_option
@click.option("--from", "first", default=None, callback=lambda c, p, v: v and _day(c, p, v),
              help="First local day, YYYY-MM-DD (default: 6 days before --to).")
@click.option("--to", "last", default=None, callback=lambda c, p, v: v and _day(c, p, v),
              help="Last local day, YYYY-MM-DD (default: today).")
@FORMAT
@click.option("--pbx", default=None, help="Only this PBX host's.")
def qa_list(config_path: str, first: date | None, last: date | None, fmt: str, pbx: str | None) -> None:
    """Listens and scores, oldest first: one row per listen (with the score given at its end) and
    one per score given with `qa score`. Times are local (config timezone)."""
    from pbx_bridge.qa import store
    from pbx_bridge.store.days import utc_bounds

    cfg = _load(config_path)
    last = last or datetime.now(cfg.tz).date()
    first = first or last - timedelta(days=6)
    if first > last:
        raise click.BadParameter(f"--from {first} is after --to {last}", param_hint="--from")
    engine = _engine(cfg)
    try:
        rows = store.listing(engine, *utc_bounds(first, last, cfg.tz), pbx)
    finally:
        engine.dispose()
    for row in rows:
        row["at"] = _local(row["at"], cfg.tz)
    _emit(rows, LIST_FIELDS, fmt, f"no listens or scores from {first} to {last}")


@qa_group.command("show")
@config_option
@click.argument("uniqueid")
@FORMAT
@click.option("--pbx", default=None, help="The call of this PBX host (when several share the store).")
def qa_show(config_path: str, uniqueid: str, fmt: str, pbx: str | None) -> None:
    """One call: what the store knows of it, who listened, and the scores it was given."""
    from pbx_bridge.qa import store

    cfg = _load(config_path)
    engine = _engine(cfg)
    try:
        found = store.of_call(engine, uniqueid, pbx)
    finally:
        engine.dispose()
    if found is None:
        click.echo(f"pbx-bridge: no call {uniqueid!r} in the store (see `pbx-bridge calls export`)", err=True)
        sys.exit(1)
    call = found["call"]
    call["joined_at"] = _local(call["joined_at"], cfg.tz)
    for row in found["listens"]:
        row["started_at"], row["ended_at"] = _local(row["started_at"], cfg.tz), _local(row["ended_at"], cfg.tz)
    for row in found["scores"]:
        row["scored_at"] = _local(row["scored_at"], cfg.tz)
    if fmt == "json":
        click.echo(json.dumps(found, ensure_ascii=False, indent=1))
        return
    if fmt == "csv":
        rows = ([{"what": "listen", "at": r["started_at"], "by": r["supervisor"], "listened_s": r["listened_s"],
                  "whisper": r["whisper"]} for r in found["listens"]]
                + [{"what": "score", "at": r["scored_at"], "by": r["scored_by"], "score": r["score"],
                    "note": r["note"], "source": r["source"]} for r in found["scores"]])
        _emit(rows, ("what", "at", "by", "listened_s", "whisper", "score", "note", "source"), "csv", "")
        return
    click.echo(f"call {uniqueid}: queue {call['queue'] or '-'}, agent {call['agent'] or '-'}, "
               f"caller {call['caller_num'] or '-'}, joined {call['joined_at'] or '-'}, {call['outcome'] or '-'}")
    for r in found["listens"]:
        length = "-" if r["listened_s"] is None else f"{r['listened_s']:g} s"
        click.echo(f"  {r['started_at']}  {'whispered' if r['whisper'] else 'listened'}: {r['supervisor']}, {length}")
    for r in found["scores"]:
        click.echo(f"  {r['scored_at']}  score {r['score']} by {r['scored_by']} ({r['source']})"
                   + (f": {r['note']}" if r["note"] else ""))
    if not found["listens"] and not found["scores"]:
        click.echo("  not monitored, not scored")


@qa_group.command("score")
@config_option
@click.argument("uniqueid")
@click.option("--score", "score", type=click.IntRange(1, 5), required=True, help="1 (poor) to 5 (excellent).")
@click.option("--note", default="", help="Why (kept with the score, shown in the monthly report).")
@click.option("--by", default=None, help="Who scores (default: the user running the command).")
@click.option("--pbx", default=None, help="The call of this PBX host (when several share the store).")
def qa_score(config_path: str, uniqueid: str, score: int, note: str, by: str | None, pbx: str | None) -> None:
    """Score a call the store knows (by its uniqueid, as in `calls export` and `qa list`)."""
    from pbx_bridge.qa import store

    cfg = _load(config_path)
    engine = _engine(cfg)
    try:
        record = store.add_score(engine, uniqueid, score, note, by or _who(), pbx)
    except store.UnknownCall:
        click.echo(f"pbx-bridge: no call {uniqueid!r} in the store: nothing scored "
                   "(the uniqueid is the call's, as `pbx-bridge calls export` or `qa list` shows it)", err=True)
        sys.exit(1)
    finally:
        engine.dispose()
    click.echo(f"call {uniqueid} scored {record.score} by {record.scored_by}"
               + (f" (agent {record.agent})" if record.agent else ""))
