"""The qa room: supervisors listen to live calls (ChanSpy behind *85/*87) and score them (rules §4).

Uses the rota (who is whose agent, in which company) and the one PIN gate, both set by the rota
room, which is on whenever this room is; reads the call tracker's calls in progress to name a
call's queue and agent as the `calls` table will."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx_bridge.qa import records, routes
from pbx_bridge.qa.desk import QaDesk
from pbx_bridge.store.registry import RecordKinds

if TYPE_CHECKING:
    from pbx_bridge.core import Core


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return cfg.qa.enabled


def wire(core: Core) -> QaDesk:
    if core.rota is None or core.pins is None:
        raise RuntimeError("qa is enabled but the rota room is not wired before it (rooms order)")
    desk = QaDesk(core.cfg.qa, core.cfg.pbx, core.record, core.live.on_notice if core.live is not None else None)
    core.add_route("qa_spy", routes.spy(core.cfg.qa, desk, core.rota, core.pins, core.tracker.in_progress))
    core.add_route("qa_score", routes.score(core.cfg.qa, desk))
    core.subscribe(["Hangup"], desk.handle, name="qa")
    core.add_health("qa", desk.health)
    return desk


def register_records(kinds: RecordKinds) -> None:
    records.register_records(kinds)
