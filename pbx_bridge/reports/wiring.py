"""The reports room, in the daemon: the scheduler that writes the timed reports (the CLI writes them
on demand without it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pbx_bridge.core import Core



def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return cfg.reports.scheduler


def wire(core: Core):  # noqa: ANN201 - a ReportScheduler (imported here only when scheduled)
    from pbx_bridge.reports.scheduler import ReportScheduler

    scheduler = ReportScheduler(core.engine, core.cfg.reports, core.cfg.tz, core.cfg.pbx)
    core.add_task("reports", scheduler.run)
    core.add_health("reports", scheduler.health)
    return scheduler
