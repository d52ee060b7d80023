"""The agents room: log-in, pauses and log-out from the phone (*81), their sessions stored, and
agents taken out of the rota leaving the queues. Uses the rota room's `core.rota` and `core.pins`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from pbx_bridge.agents.recovery import recover
from pbx_bridge.agents.routes import agent_routes
from pbx_bridge.agents.sessions import AgentSessions
from pbx_bridge.agents.store import load_open
from pbx_bridge.ami.client import AmiClient, AmiError
from pbx_bridge.agents import records
from pbx_bridge.store.registry import RecordKinds

if TYPE_CHECKING:
    from pbx_bridge.core import Core

log = structlog.get_logger(__name__)

EVENTS = ("QueueMemberPause",)


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return cfg.agents.enabled


def wire(core: Core) -> AgentSessions:
    cfg, rota = core.cfg, core.rota
    agents = AgentSessions(cfg.pbx, cfg.agents, core.send_action, core.writer.put)
    agents.restore(*load_open(cfg.store.url, cfg.pbx))
    rota.subscribe(lambda current: agents.on_rota(lambda no: current.agent(no) is not None))
    for name, route in agent_routes(cfg.agents, agents, rota, core.pins).items():
        core.add_route(name, route)
    core.subscribe(EVENTS, agents.handle)

    async def enforce_rota(ami: AmiClient, gap_s: float | None) -> None:
        """At each AMI connection: agents taken out of the rota while we were down leave the queues."""
        current = rota.current
        removed = await agents.remove_departed(lambda no: current.agent(no) is not None)
        if removed:
            log.info("agents_removed_at_start", count=removed)

    async def repair_queues(ami: AmiClient, gap_s: float | None) -> None:
        """At each AMI connection, after the rota's departures: the queues made to match the sessions
        (members and pauses an Asterisk restart lost), each repair told as a `recovery` notice."""
        if not agents.by_employee:
            return
        try:
            await recover(agents, core.send_action, core.notice, gap_s)
        except (TimeoutError, ConnectionError, AmiError) as exc:
            log.warning("recovery_failed", error=repr(exc)[:200])

    core.on_connected(enforce_rota)
    core.on_connected(repair_queues)
    core.add_health("agents", agents.health)
    return agents


def register_records(kinds: RecordKinds) -> None:
    records.register_records(kinds)
