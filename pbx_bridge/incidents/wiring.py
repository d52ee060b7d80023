"""The incidents room (rules §8): incidents the daemon sees first, opened and closed by itself.

It reads what the daemon already knows (`core.health()`, the live state, the call records, the
rota's shift hours) in a periodic check, and hears the other rooms' automatic actions as notices
(`core.on_notice`): the agents room's `recovery` after an AMI gap, and any notice that names an
`incident_action` (e.g. an escalation step), recorded as actions of the incident they answer.
Wired after the live and rota rooms (it reads `core.live`, `core.rota`) and before the agents room,
so that at an AMI login the incident of the gap is open before the repairs are told.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import structlog

from pbx_bridge.ami.client import AmiClient, AmiError
from pbx_bridge.incidents.model import Book
from pbx_bridge.incidents.records import register_records as register_records  # noqa: PLC0414 - rooms.py reads it here
from pbx_bridge.incidents.watch import Watcher

if TYPE_CHECKING:
    from pbx_bridge.core import Core

log = structlog.get_logger(__name__)

_ACTION_FIELDS = ("action", "kind", "queue", "interface", "agent", "employee_no", "reason", "step", "detail")


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return cfg.incidents.enabled


def wire(core: Core) -> Book:
    cfg = core.cfg
    settings = cfg.incidents
    live = core.live
    book = Book(cfg.pbx, settings, core.record, core.notice, live.stand, live.clear, tz=cfg.tz)
    rota_holder = core.rota
    watcher = Watcher(book, settings, cfg.tz, cfg.reports.targets.timely_rate, cfg.reports.timely_threshold_s,
                      core.health, live, lambda: rota_holder.current if rota_holder is not None else None,
                      default_queues=cfg.agents.default_queues)
    core.on_record(watcher.on_record)
    startup: dict[str, str] = {}

    async def ami_back(ami: AmiClient, gap_s: float | None) -> None:
        """At each AMI login: the gap's incident, started when AMI was lost (the client measured it),
        and whether Asterisk restarted meanwhile (its startup time changed)."""
        restarted = None
        try:
            status = await ami.send_action({"Action": "CoreStatus"}, timeout=5)
            started = f"{status.get('CoreStartupDate', '')} {status.get('CoreStartupTime', '')}".strip()
            if startup.get("at") and started and started != startup["at"]:
                restarted = started
            startup["at"] = started or startup.get("at", "")
        except (TimeoutError, ConnectionError, AmiError, AttributeError) as exc:
            log.warning("incidents_core_status_failed", error=repr(exc)[:200])
        if gap_s is None:
            return
        now = time.time()
        incident = book.open.get("ami")
        if incident is None and (gap_s >= settings.open_after_s or restarted):
            incident = book.start("ami", "ami", None, now - gap_s, "AMI connection lost",
                                  watcher._system_sample(core.health()), watcher._agents(None))
        if incident is not None:
            incident.started = min(incident.started, now - gap_s)
            if restarted:
                incident.detail = f"Asterisk restarted (up since {restarted})"

    def gap_closed() -> None:
        """The calls of the gap are closed: the AMI incident ends at the login (when AMI came back)."""
        gone = book.open.get("ami")
        if gone is not None:
            book.end("ami", time.time())

    def heard(notice: dict) -> None:
        if notice.get("type") == "recovery":
            action = {k: notice[k] for k in _ACTION_FIELDS if notice.get(k) not in (None, "")}
            if book.act("ami", None, action) is None:
                log.info("recovery_without_incident", **action)
        elif notice.get("incident_action"):
            action = {k: notice[k] for k in _ACTION_FIELDS if notice.get(k) not in (None, "")}
            action.setdefault("action", str(notice["incident_action"]))
            book.act(None, notice.get("queue"), action)

    core.on_connected(ami_back)
    core.on_gap(gap_closed)
    core.on_notice(heard)
    # the periodic check: a run that raises is logged and counted (health()["jobs"]), the next runs
    core.every("incidents", settings.check_interval, watcher.check)
    core.add_health("incidents", book.health)
    return book
