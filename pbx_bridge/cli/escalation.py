"""`pbx-bridge escalation status|history`: where each queue stands on its ladder, and what the ladder did.

`status` reads the state file the daemon writes at every look (escalation.state_file): no AMI
login, no port, and it answers while the AMI link is down. A file older than a few intervals is
said to be stale (the daemon stopped, or cannot write it): exit 1, the figures shown as they were.
`history` reads the records (the escalation_steps table).
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone

import click

from pbx_bridge.cli.base import _day, _load, cli, config_option
from pbx_bridge.cli.output import emit as _emit

STATUS_FIELDS = ("queue", "step", "step_name", "of", "waiting", "longest_wait", "service_level", "calls_in_window",
                 "next_step", "next_thresholds", "calm_for_so_far", "calm_for", "reason", "updated")
HISTORY_FIELDS = ("at", "queue", "step", "step_name", "action", "detail", "reason")


@cli.group("escalation")
def escalation_group() -> None:
    """Escalation when the queue swells (rules §3): the ladder per queue."""


def _thresholds(step: dict | None) -> str:
    if not step:
        return ""
    parts = []
    if step.get("waiting") is not None:
        parts.append(f"waiting>={step['waiting']}")
    if step.get("longest_wait") is not None:
        parts.append(f"longest>={step['longest_wait']:g}s")
    if step.get("service_level_below") is not None:
        parts.append(f"SL<{step['service_level_below']:.0%}")
    return " or ".join(parts)


@escalation_group.command("status")
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def escalation_status(config_path: str, fmt: str) -> None:
    """Per queue: the step it is on, the figures it was judged on, and what the next step needs."""
    from pbx_bridge.escalation import state

    cfg = _load(config_path)
    esc = cfg.escalation
    if not esc.enabled or not esc.queues:
        click.echo("pbx-bridge: escalation is not enabled (escalation.enabled, escalation.queues)", err=True)
        sys.exit(1)
    try:
        data = state.read(esc.state_file)
    except (OSError, ValueError) as exc:
        click.echo(f"pbx-bridge: {esc.state_file}: cannot read: {exc}", err=True)
        sys.exit(2)
    if data is None:
        click.echo(f"pbx-bridge: {esc.state_file}: no state yet (is the daemon running?)", err=True)
        sys.exit(1)
    written = float(data.get("written_at") or 0)
    stale = time.time() - written > max(3 * float(data.get("interval") or esc.interval), 10)
    updated = datetime.fromtimestamp(written, timezone.utc).astimezone(cfg.tz).strftime("%Y-%m-%d %H:%M:%S")
    rows = []
    for queue in esc.queues:
        saved = (data.get("queues") or {}).get(queue) or {}
        steps, level = saved.get("steps") or [], int(saved.get("step") or 0)
        figures = saved.get("figures") or {}
        nxt = steps[level] if level < len(steps) else None
        rows.append({
            "queue": queue, "step": level, "step_name": saved.get("step_name") or "", "of": len(steps),
            "waiting": figures.get("waiting"), "longest_wait": figures.get("longest_wait"),
            "service_level": figures.get("service_level"), "calls_in_window": figures.get("calls_in_window"),
            "next_step": nxt["name"] if nxt else "", "next_thresholds": _thresholds(nxt),
            "calm_for_so_far": saved.get("calm_for_so_far"), "calm_for": saved.get("calm_for"),
            "reason": ("queue unknown to Asterisk" if saved.get("known") is False else saved.get("reason") or ""),
            "updated": updated + (" (stale)" if stale else ""),
        })
    _emit(rows, STATUS_FIELDS, fmt, "no queues")
    if stale:
        click.echo(f"pbx-bridge: {esc.state_file} was written at {updated}: the daemon is not updating it", err=True)
        sys.exit(1)


@escalation_group.command("history")
@config_option
@click.option("--from", "first", required=True, callback=_day, help="First local day, YYYY-MM-DD.")
@click.option("--to", "last", required=True, callback=_day, help="Last local day, YYYY-MM-DD.")
@click.option("--queue", default=None, help="Only this queue.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def escalation_history(config_path: str, first, last, queue: str | None, fmt: str) -> None:  # noqa: ANN001
    """Every action the ladders took between two local days, oldest first."""
    from datetime import time as dtime
    from datetime import timedelta

    from sqlalchemy import select

    from pbx_bridge.escalation.tables import escalation_steps as t
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.rooms import upgrade

    cfg = _load(config_path)
    start = datetime.combine(first, dtime(), cfg.tz).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=1), dtime(), cfg.tz).astimezone(timezone.utc)
    upgrade(cfg.store.url)
    engine = sync_engine(cfg.store.url)
    try:
        query = select(t).where(t.c.at >= start, t.c.at < end).order_by(t.c.at)
        if queue:
            query = query.where(t.c.queue == queue)
        with engine.connect() as conn:
            found = [dict(row._mapping) for row in conn.execute(query)]
    finally:
        engine.dispose()
    rows = []
    for row in found:
        at = row["at"] if row["at"].tzinfo else row["at"].replace(tzinfo=timezone.utc)
        rows.append({**{f: row[f] for f in HISTORY_FIELDS}, "at": at.astimezone(cfg.tz).strftime("%Y-%m-%d %H:%M:%S")})
    _emit(rows, HISTORY_FIELDS, fmt, "no escalation steps")
