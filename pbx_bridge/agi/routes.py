"""The FastAGI routes the daemon serves, by agi_network_script."""

from __future__ import annotations

from datetime import datetime

import structlog

from pbx_bridge.agi.ring_twice import UnknownRole, plan
from pbx_bridge.agi.server import AgiSession, Route
from pbx_bridge.calls.outbound import endpoint_of
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


PIN_TRIES = 3


def voicemail_login(player, rota_holder) -> Route:
    """Feature code (e.g. *86): the duty agent starts the playback from their own phone.

    The phone identifies the agent (its endpoint is in the rota), the PIN confirms it. The same
    words are said whether the phone is unknown or the PIN wrong, so the menu tells a stranger
    nothing about who exists.
    """

    async def route(session: AgiSession) -> None:
        from pbx_bridge.rota.duty import duty

        rota = rota_holder.current
        agent = rota.agent_by_endpoint(endpoint_of(session.headers.get("agi_channel", "")))
        await session.command("ANSWER")
        for _ in range(PIN_TRIES):
            reply = await session.command("GET DATA vm-password 6000 12")
            pin = reply.result if reply.result.isdigit() else ""
            if agent is not None and pin and agent.verify_pin(pin):
                break
            log.warning("voicemail_login_refused", endpoint=endpoint_of(session.headers.get("agi_channel", "")))
            await session.command('STREAM FILE vm-incorrect ""')
        else:
            await session.command('STREAM FILE vm-goodbye ""')
            return
        company = rota.company_of(agent)
        today = datetime.now(rota.tz).date()
        on_duty = duty(rota, company.id, today).agent
        if on_duty is None or on_duty.employee_no != agent.employee_no:
            log.info("voicemail_login_not_on_duty", agent=agent.name, company=company.id)
            await session.command('STREAM FILE vm-goodbye ""')
            return
        log.info("voicemail_login", agent=agent.name, company=company.id)
        await player.play(session, company.id, list(company.mailboxes), agent.name)

    return route


def all_routes(cfg: Config, player=None, rota_holder=None, nuisance=None) -> dict[str, Route]:
    routes = {"ring_twice": ring_twice(cfg)}
    if player is not None:
        routes["voicemail"] = voicemail(player, rota_holder)
        routes["voicemail_login"] = voicemail_login(player, rota_holder)
    if nuisance is not None:
        from pbx_bridge.nuisance import routes as nuisance_routes

        routes["screen"] = nuisance_routes.screen(nuisance)
        routes["nuisance_warn"] = nuisance_routes.nuisance_warn(nuisance)
    return routes
