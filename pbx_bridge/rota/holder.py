"""The rota in force, reloaded on demand (SIGHUP, wired by the daemon) and when the file changes.

A new rota that fails to load is refused: the old one stays in force and the error line is logged
(`rota_reload_refused`); the daemon never stops because of an edit. The mechanism is the one every
admin file shares (`pbx_bridge.admin_file`); this module only names the rota's parts of it.

At start and at each reload the new rota is also checked against the calendar: a year whose
调休 schedule is not published (this year, the next, the anchor's) is logged as a warning
(`rota_calendar_estimated`), because its duty days are computed from the statutory holidays alone
and the admin has to add the schedule or upgrade a package before it matters.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Callable

import structlog

from pbx_bridge.admin_file import AdminFile
from pbx_bridge.rota.calendar import coverage_warnings, estimated_years
from pbx_bridge.rota.load import RotaError, load_rota
from pbx_bridge.rota.model import Rota

log = structlog.get_logger(__name__)


def _summary(rota: Rota) -> str:
    return f"{len(rota.companies)} companies, {rota.agent_count} agents, {len(rota.round_ids)} rounds"


def _parse(path: str, text: str) -> Rota:
    return load_rota(path, text=text)


def warn_calendar(rota: Rota, path: str, today: date | None = None) -> list[str]:
    """Log (and return) the calendar warnings of the rota in force; what the daemon calls at start
    and after each reload."""
    today = today or datetime.now(rota.tz).date()
    warnings = coverage_warnings(rota.calendar, today, rota.start)
    for warning in warnings:
        log.warning("rota_calendar_estimated", path=path,
                    years=estimated_years(rota.calendar, today, rota.start), warning=warning)
    return warnings


class RotaHolder(AdminFile[Rota]):
    def __init__(self, path: str, on_change: Callable[[Rota], None] | None = None) -> None:
        super().__init__(path, _parse, RotaError, summary=_summary, events="rota", noun="rota", on_change=on_change)

    @property
    def current(self) -> Rota:
        if self._value is None:
            raise RuntimeError("the rota is not loaded yet")
        return self._value

    def load(self) -> Rota:
        rota = super().load()
        warn_calendar(rota, self.path)
        return rota

    def reload(self) -> tuple[bool, str]:
        ok, line = super().reload()
        if ok:  # a refused edit leaves the rota whose warnings were logged when it came in force
            warn_calendar(self.current, self.path)
        return ok, line
