"""The agents' feature codes, served over FastAGI (dialplan: [pbx-bridge-agent-features]).

  *81  log in: 工号 then PIN, each ended with #      *82  log out
  *83  pause: then the reason key (1 break, 2 meal, 3 training, 4 meeting); *83N in one go
  *84  resume

A stranger learns nothing from the log-in menu: an unknown 工号, an agent removed from the rota and
a wrong PIN get the same words, and an unknown 工号 still costs one PIN hash check, so the answer
does not come back faster either. Digits are never logged. Wrong PINs count into the daemon's one
PIN lock-out (`pbx_bridge.pins`), which *86 (voicemail) shares.
"""

from __future__ import annotations

import structlog

from pbx_bridge.agents.sessions import AgentActionFailed, AgentSessions
from pbx_bridge.agents.settings import AgentsConfig
from pbx_bridge.agi.quoting import agi_command
from pbx_bridge.agi.server import AgiSession, Route
from pbx_bridge.calls.outbound import endpoint_of
from pbx_bridge.numbers import DialplanName
from pbx_bridge.pins import PinGate, Verdict

log = structlog.get_logger(__name__)

SAY_USER, SAY_PIN = "agent-user", "agent-pass"
SAY_OK, SAY_WRONG, SAY_LOCKED, SAY_BUSY = "agent-loginok", "agent-incorrect", "vm-goodbye", "please-try-call-later"
SAY_LOGGED_OFF, SAY_INVALID, SAY_FAILED, SAY_DONE = "agent-loggedoff", "invalid", "cannot-complete-as-dialed", "auth-thankyou"


def _phone(session: AgiSession) -> tuple[str, str]:
    """(`PJSIP/agent301`, `agent301`) for the phone this menu was dialled from."""
    full = endpoint_of(session.headers.get("agi_channel", ""))
    return full, full.partition("/")[2] or full


async def _say(session: AgiSession, sound: str) -> None:
    await session.command(agi_command("STREAM FILE", DialplanName(sound), ""))


async def _digits(session: AgiSession, prompt: str, max_digits: int) -> str:
    reply = await session.command(agi_command("GET DATA", DialplanName(prompt), 8000, max_digits))
    return reply.result if reply.result.isdigit() else ""


def login(cfg: AgentsConfig, sessions: AgentSessions, rota_holder, pins: PinGate) -> Route:
    async def route(session: AgiSession) -> None:
        phone, endpoint = _phone(session)
        await session.command("ANSWER")
        if pins.locked(phone):
            log.warning("agent_login_locked", phone=phone)
            await session.command("SET VARIABLE PBXB_AGENT_LOGIN locked")
            await _say(session, SAY_LOCKED)
            return
        for _ in range(cfg.pin_tries):
            employee_no = await _digits(session, SAY_USER, 16)
            pin = await _digits(session, SAY_PIN, 12)
            rota = rota_holder.current
            agent = rota.agent(employee_no) if employee_no else None
            verdict = await pins.check(phone, agent.employee_no if agent else employee_no,
                                       agent.pin_hash if agent else None, pin)
            if verdict is Verdict.OK:
                break
            if verdict is Verdict.BUSY:
                await session.command("SET VARIABLE PBXB_AGENT_LOGIN busy")
                await _say(session, SAY_BUSY)
                return
            log.warning("agent_login_refused", phone=phone, locked=verdict is Verdict.LOCKED)
            await session.command("SET VARIABLE PBXB_AGENT_LOGIN refused")
            await _say(session, SAY_WRONG)
            if verdict is Verdict.LOCKED:
                await _say(session, SAY_LOCKED)
                return
        else:
            await _say(session, SAY_LOCKED)
            return
        try:
            await sessions.login(agent.employee_no, agent.name, endpoint, rota.queues_of(agent, cfg.default_queues))
        except (AgentActionFailed, TimeoutError, ConnectionError, RuntimeError) as exc:
            log.error("agent_login_failed", agent=agent.name, error=repr(exc)[:200])
            await session.command("SET VARIABLE PBXB_AGENT_LOGIN failed")
            await _say(session, SAY_FAILED)
            return
        await session.command("SET VARIABLE PBXB_AGENT_LOGIN ok")
        await _say(session, SAY_OK)

    return route


async def _on_own_phone(session: AgiSession, sessions: AgentSessions):
    """Answer; the session logged in on this phone, or None after saying so."""
    _, endpoint = _phone(session)
    await session.command("ANSWER")
    current = sessions.on_phone(endpoint)
    if current is None:
        log.info("agent_menu_nobody_logged_in", phone=endpoint)
        await _say(session, SAY_INVALID)
    return current


async def _perform(session: AgiSession, what: str, agent: str, action, done: str) -> None:
    """Run a queue action; the agent hears `done`, or that it could not be done (never a false success)."""
    try:
        await action
    except (AgentActionFailed, TimeoutError, ConnectionError, RuntimeError) as exc:
        log.error(f"agent_{what}_failed", agent=agent, error=repr(exc)[:200])
        await _say(session, SAY_FAILED)
        return
    await _say(session, done)


def logout(sessions: AgentSessions) -> Route:
    async def route(session: AgiSession) -> None:
        if (current := await _on_own_phone(session, sessions)) is not None:
            await _perform(session, "logout", current.record.agent, sessions.logout(current, "phone"), SAY_LOGGED_OFF)

    return route


def pause(cfg: AgentsConfig, sessions: AgentSessions) -> Route:
    async def route(session: AgiSession) -> None:
        if (current := await _on_own_phone(session, sessions)) is None:
            return
        key = (session.args[0] if session.args else "")[:1] or await _digits(session, "beep", 1)
        reason = cfg.pause_reasons.get(key)
        if reason is None:
            await _say(session, SAY_INVALID)
            return
        await _perform(session, "pause", current.record.agent, sessions.pause(current, reason), SAY_DONE)

    return route


def resume(sessions: AgentSessions) -> Route:
    async def route(session: AgiSession) -> None:
        if (current := await _on_own_phone(session, sessions)) is not None:
            await _perform(session, "resume", current.record.agent, sessions.resume(current), SAY_DONE)

    return route


def agent_routes(cfg: AgentsConfig, sessions: AgentSessions, rota_holder, pins: PinGate) -> dict[str, Route]:
    """`pins`: the daemon's one PinGate, shared with every other PIN menu (one lock-out)."""
    return {"agent_login": login(cfg, sessions, rota_holder, pins), "agent_logout": logout(sessions),
            "agent_pause": pause(cfg, sessions), "agent_resume": resume(sessions)}
