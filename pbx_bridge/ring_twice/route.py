"""The `ring_twice` FastAGI route: the plan (plan.py) sent to Asterisk, by the role the dialplan names."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from pbx_bridge.agi.server import AgiSession, Route
from pbx_bridge.ring_twice.plan import UnknownRole, plan

if TYPE_CHECKING:
    from pbx_bridge.config import Config

log = structlog.get_logger(__name__)


def ring_twice(cfg: Config) -> Route:
    async def route(session: AgiSession) -> None:
        role = session.args[0] if session.args else ""
        try:
            lines = plan(role, cfg.ring)
        except UnknownRole:
            log.warning("ring_twice_unknown_role", role=role)
            await session.command('VERBOSE "pbx-bridge: ring_twice needs the role inbound or agent" 1')
            await session.command("SET VARIABLE PBXB_RING_TWICE error")
            return
        for line in lines:
            await session.command(line)
        log.info("ring_twice_applied", role=role)

    return route
