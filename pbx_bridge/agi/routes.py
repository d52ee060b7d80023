"""The FastAGI routes the daemon serves, by agi_network_script."""

from __future__ import annotations

import structlog

from pbx_bridge.agi.ring_twice import UnknownRole, plan
from pbx_bridge.agi.server import AgiSession, Route
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


def voicemail(player, rota_holder) -> Route:
    """agi://127.0.0.1:4573/voicemail,<company>,<listening>,<employee_no> (the duty call)."""

    async def route(session: AgiSession) -> None:
        args = session.args + ["", "", ""]
        company_id, listening_id, employee_no = args[0], args[1], args[2]
        rota = rota_holder.current
        try:
            company = rota.company(company_id)
        except KeyError:
            log.warning("voicemail_unknown_company", company=company_id)
            await session.command('STREAM FILE vm-goodbye ""')
            return
        agent = rota.agent(employee_no) if employee_no else None
        await player.play(session, company.id, list(company.mailboxes), agent.name if agent else employee_no or None,
                          listening_id or None)

    return route


def all_routes(cfg: Config, player=None, rota_holder=None) -> dict[str, Route]:
    routes = {"ring_twice": ring_twice(cfg)}
    if player is not None:
        routes["voicemail"] = voicemail(player, rota_holder)
    return routes
