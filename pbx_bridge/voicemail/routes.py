"""The voicemail-duty room's FastAGI routes: the duty call's playback and the *86 menu (added by wiring.py)."""

from __future__ import annotations

from datetime import datetime

import structlog

from pbx_bridge.agi.server import AgiSession, Route
from pbx_bridge.calls.outbound import endpoint_of
from pbx_bridge.pins import PinGate, Verdict

log = structlog.get_logger(__name__)


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


def voicemail_login(player, rota_holder, pins: PinGate) -> Route:
    """Feature code (e.g. *86): the duty agent starts the playback from their own phone.

    The phone identifies the agent (its endpoint is in the rota), the PIN confirms it. The same
    words are said whether the phone is unknown or the PIN wrong, and an unknown phone still costs
    one (decoy) hash check, so the menu tells a stranger nothing about who exists. `pins` is the
    daemon's one PIN gate: wrong PINs here lock *81 too, and the reverse.
    """

    async def route(session: AgiSession) -> None:
        from pbx_bridge.rota.duty import duty

        phone = endpoint_of(session.headers.get("agi_channel", ""))
        await session.command("ANSWER")
        if pins.locked(phone):
            log.warning("voicemail_login_locked", endpoint=phone)
            await session.command('STREAM FILE vm-goodbye ""')
            return
        for _ in range(PIN_TRIES):
            reply = await session.command("GET DATA vm-password 6000 12")
            pin = reply.result if reply.result.isdigit() else ""
            rota = rota_holder.current
            agent = rota.agent_by_endpoint(phone)
            verdict = await pins.check(phone, agent.employee_no if agent else "",
                                       agent.pin_hash if agent else None, pin)
            if verdict is Verdict.OK:
                break
            if verdict is Verdict.BUSY:
                await session.command('STREAM FILE please-try-call-later ""')
                return
            log.warning("voicemail_login_refused", endpoint=phone, locked=verdict is Verdict.LOCKED)
            await session.command('STREAM FILE vm-incorrect ""')
            if verdict is Verdict.LOCKED:
                break
        if verdict is not Verdict.OK:
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

