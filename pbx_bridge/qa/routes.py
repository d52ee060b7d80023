"""The supervisors' codes, served over FastAGI (dialplan: [pbx-bridge-qa]).

  *85<工号>  listen to the agent's call      *87<工号>  listen and whisper (supervisors with whisper: true)
  (*85 or *87 alone asks for the 工号.) Then the supervisor's PIN, ended with #.

The route decides everything and hands the dialplan one thing to spy on: the agent's channel, as
a `ChannelName` found on the PBX by a pattern built from the rota's endpoint, never from the
digits dialled. The digits only pick an agent in the rota; the PIN is asked before that, so a
stranger at a supervisor's phone learns nothing about which 工号 exist. Wrong PINs count into the
daemon's one PIN lock-out (`pbx_bridge.pins`), shared with *81 and *86.

The call is named by `PBXB_CALLER_UID` on the agent's channel: the caller's uniqueid, set with
`__` at the inbound entry and inherited through Queue (and Local members), which is the uniqueid
of the call in the `calls` table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import structlog

from pbx_bridge.agi.quoting import agi_command
from pbx_bridge.agi.server import AgiSession, Route
from pbx_bridge.calls.outbound import endpoint_of
from pbx_bridge.numbers import ChannelName, DialplanName, InvalidValue
from pbx_bridge.pins import PinGate, Verdict
from pbx_bridge.qa.desk import QaDesk, Target
from pbx_bridge.qa.settings import QaConfig, endpoint_pattern

log = structlog.get_logger(__name__)

SAY_USER, SAY_PIN = "agent-user", "agent-pass"
SAY_WRONG, SAY_GOODBYE, SAY_BUSY = "agent-incorrect", "vm-goodbye", "please-try-call-later"
SAY_INVALID, SAY_NO_CALL, SAY_THANKS = "invalid", "vm-nobodyavail", "auth-thankyou"
SPY_OPTIONS = "qbESX"  # quiet, bridged calls only, end with the call, stop when gone, 1-5 exit to the score
WHISPER = "w"
MAX_CHANNELS = 8  # an agent's phone has one or two channels; more is not a phone
_DIGITS = re.compile(r"[0-9]{1,16}")
_UNIQUEID = re.compile(r"[0-9]{1,20}\.[0-9]{1,10}")
_SCORE_KEY = re.compile(r"[1-5]")

CallOf = Callable[[str], Any]  # uniqueid -> the tracker's CallRecord of a call in progress, or None


async def _say(session: AgiSession, sound: str) -> None:
    await session.command(agi_command("STREAM FILE", DialplanName(sound), ""))


async def _digits(session: AgiSession, prompt: str, max_digits: int, timeout_ms: int = 8000) -> str:
    reply = await session.command(agi_command("GET DATA", DialplanName(prompt), timeout_ms, max_digits))
    return reply.result if reply.result.isdigit() else ""


async def _value(session: AgiSession, expression: str, channel: ChannelName | None = None) -> str:
    args = (expression, channel) if channel is not None else (expression,)
    reply = await session.command(agi_command("GET FULL VARIABLE", *args))
    return reply.data if reply.result == "1" else ""


async def find_call(session: AgiSession, endpoint: str, call_of: CallOf) -> tuple[ChannelName, str, Any] | None:
    """(the agent's channel, the queued call's uniqueid, the tracker's record or None), or None
    when the agent's phone is in no queued call."""
    listed = await _value(session, "${CHANNELS(" + endpoint_pattern(endpoint) + ")}")
    for raw in listed.split()[:MAX_CHANNELS]:
        try:
            channel = ChannelName(raw)
        except InvalidValue:
            continue
        if endpoint_of(channel) != endpoint:
            continue
        uniqueid = await _value(session, "${PBXB_CALLER_UID}", channel)
        if _UNIQUEID.fullmatch(uniqueid):
            return channel, uniqueid, call_of(uniqueid)
    return None


async def _pin_ok(session: AgiSession, cfg: QaConfig, pins: PinGate, phone: str, supervisor) -> bool:  # noqa: ANN001
    for _ in range(cfg.pin_tries):
        pin = await _digits(session, SAY_PIN, 12)
        verdict = await pins.check(phone, supervisor.employee_no, supervisor.pin_hash, pin)
        if verdict is Verdict.OK:
            return True
        if verdict is Verdict.BUSY:
            await _say(session, SAY_BUSY)
            return False
        log.warning("qa_listen_refused", phone=phone, reason="wrong PIN", locked=verdict is Verdict.LOCKED)
        await _say(session, SAY_WRONG)
        if verdict is Verdict.LOCKED:
            break
    await _say(session, SAY_GOODBYE)
    return False


def spy(cfg: QaConfig, desk: QaDesk, rota_holder, pins: PinGate, call_of: CallOf) -> Route:  # noqa: ANN001
    """agi://.../qa_spy,<listen|whisper>[,<工号>]: sets PBXB_QA=ok and PBXB_QA_SPY/_SESSION/_OPTS."""

    async def route(session: AgiSession) -> None:
        phone = endpoint_of(session.headers.get("agi_channel", ""))
        args = session.args
        whisper = (args[0] if args else "") == "whisper"
        await session.command("ANSWER")
        if pins.locked(phone):
            log.warning("qa_listen_refused", phone=phone, reason="PIN locked")
            await _say(session, SAY_GOODBYE)
            return
        supervisor = cfg.supervisor_at(phone)
        if supervisor is None or (whisper and not supervisor.whisper):
            log.warning("qa_listen_refused", phone=phone, whisper=whisper,
                        reason="not a supervisor's phone" if supervisor is None else "whisper not allowed")
            await _say(session, SAY_INVALID)
            return
        wanted = args[1] if len(args) > 1 and _DIGITS.fullmatch(args[1]) else ""
        wanted = wanted or await _digits(session, SAY_USER, 16)
        if not await _pin_ok(session, cfg, pins, phone, supervisor):
            return
        rota = rota_holder.current
        agent = rota.agent(wanted) if wanted else None
        company = rota.company_of(agent).id if agent is not None else ""
        if agent is None or not supervisor.may_listen_to(company):
            log.warning("qa_listen_refused", phone=phone, supervisor=supervisor.name,
                        reason="no such agent" if agent is None else f"agent of {company}, not in scope")
            await _say(session, SAY_INVALID)
            return
        try:
            found = await find_call(session, agent.endpoint, call_of)
        except ValueError:  # an endpoint the pattern cannot name (settings.ENDPOINT)
            log.warning("qa_listen_refused", supervisor=supervisor.name, agent=agent.name,
                        reason="endpoint cannot be spied on")
            found = None
        if found is None:
            log.info("qa_listen_no_call", supervisor=supervisor.name, agent=agent.name)
            await _say(session, SAY_NO_CALL)
            return
        channel, uniqueid, call = found
        target = Target(uniqueid, str(channel), (call.agent if call is not None and call.agent else agent.name),
                        agent.employee_no, company, call.queue if call is not None else "")
        listen = desk.start(supervisor, target, whisper, session.headers.get("agi_uniqueid", ""))
        await session.command(agi_command("SET VARIABLE", DialplanName("PBXB_QA_SPY"), channel))
        await session.command(agi_command("SET VARIABLE", DialplanName("PBXB_QA_SESSION"),
                                          DialplanName(listen.session_id)))
        await session.command(agi_command("SET VARIABLE", DialplanName("PBXB_QA_OPTS"),
                                          SPY_OPTIONS + (WHISPER if whisper else "")))
        await session.command("SET VARIABLE PBXB_QA ok")

    return route


def score(cfg: QaConfig, desk: QaDesk) -> Route:
    """agi://.../qa_score,<session>[,<key>]: the key pressed during the listen, or asked for now."""

    async def route(session: AgiSession) -> None:
        args = session.args
        listen = desk.session_of(args[0] if args else "", session.headers.get("agi_uniqueid", ""))
        if listen is None:
            log.warning("qa_score_without_listen", channel=session.headers.get("agi_channel", ""))
            await _say(session, SAY_INVALID)
            return
        key = args[1] if len(args) > 1 else ""
        for attempt in range(3):  # the key pressed during the listen, then two asks
            if _SCORE_KEY.fullmatch(key):
                desk.score(listen, int(key))
                await _say(session, SAY_THANKS)
                return
            if attempt == 2:
                break
            if key:
                await _say(session, SAY_INVALID)
            key = await _digits(session, cfg.score_prompt, 1, cfg.score_wait_s * 1000)
        desk.end(listen.session_id)
        log.info("qa_listen_not_scored", session=listen.session_id, supervisor=listen.supervisor)

    return route
