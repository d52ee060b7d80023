"""The threats room: the agent's *8, the recording kept, the lead and then the manager told.

Uses the call tracker (which queue, which caller, answered?), `core.outbound`'s phone book (the
agent's name), `core.live` (alert and standing notice) and AMI Originate (ring-twice timeout)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx_bridge.ring import two_rings_s
from pbx_bridge.store.registry import RecordKinds
from pbx_bridge.threats import model, routes
from pbx_bridge.threats.desk import ThreatDesk

if TYPE_CHECKING:
    from pbx_bridge.core import Core


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return cfg.threats.enabled


def wire(core: Core) -> ThreatDesk:
    cfg = core.cfg
    desk = ThreatDesk(cfg.threats, cfg.pbx, core.writer.put, core.send_action, core.live, two_rings_s(cfg.ring),
                      engine=core.engine, tz=cfg.tz)

    def call_of(uniqueid: str) -> routes.CallInfo | None:
        known = core.tracker.call_of(uniqueid)
        return None if known is None else routes.CallInfo(*known)

    phones = core.outbound.phones if core.outbound is not None else {}
    core.add_route("threat_mark", routes.threat_mark(desk, call_of, phones.get))
    core.add_route("threat_notice", routes.threat_notice(desk))
    core.add_task("threats", desk.run)
    core.add_health("threats", desk.health)
    return desk


def register_records(kinds: RecordKinds) -> None:
    model.register_records(kinds)
