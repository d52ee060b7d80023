"""The reconciliation room: what AMI did not deliver (daemon down, AMI gap) is read back from
Asterisk's queue_log, a file or a realtime table; an AMI gap wakes it at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx_bridge.reconcile.reconciler import Reconciler

if TYPE_CHECKING:
    from pbx_bridge.core import Core


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return cfg.reconcile.enabled


def wire(core: Core) -> Reconciler | None:
    cfg = core.cfg
    sources = []
    if cfg.reconcile.queue_log is not None:
        from pbx_bridge.reconcile.file_source import QueueLogFile

        sources.append(QueueLogFile(cfg.reconcile.queue_log, cfg.reconcile.state_dir / "queue_log.state"))
    if cfg.reconcile.realtime is not None:
        from zoneinfo import ZoneInfo

        from pbx_bridge.reconcile.table_source import QueueLogTable

        realtime = cfg.reconcile.realtime
        sources.append(QueueLogTable(realtime.url, realtime.table, cfg.reconcile.state_dir / "queue_log_table.state",
                                     ZoneInfo("UTC") if realtime.utc_times else cfg.tz))
    if not sources:
        return None
    reconciler = Reconciler(sources, core.writer, cfg.pbx, cfg.ring, cfg.reconcile.interval, cfg.tracking.stale_after)
    core.on_gap(reconciler.wake)
    core.add_task("queue-log", reconciler.run)
    core.add_health("queue_log", reconciler.health)
    return reconciler
