"""FastAGI routes for nuisance calls (rules §6).

`screen` runs first in [pbx-bridge-inbound], on the caller's channel. `nuisance_warn` runs on the
agent's phone channel when the agent presses *7 in a call (features_pbx_bridge.conf); the caller's
identity reaches that channel through variables the inbound context set with `__` (inherited
through Queue and the Local member): PBXB_CALLER_UID, PBXB_CALLER_NUM, PBXB_CALLER_CHAN.

At the second warning of a call the caller is moved with ChannelRedirect, run through this same
AGI session, rather than with an AMI Redirect: it needs no AMI connection (it works while the AMI
link is reconnecting) and no extra manager rights, and its result is known before the session ends.
"""

from __future__ import annotations

import re

import structlog

from pbx_bridge.agi.quoting import agi_command, agi_exec
from pbx_bridge.agi.server import AgiHangup, AgiSession, Route
from pbx_bridge.nuisance.desk import NuisanceDesk
from pbx_bridge.nuisance.model import normalise
from pbx_bridge.numbers import ChannelName, DialplanName, InvalidValue, shown

log = structlog.get_logger(__name__)

WARNINGS_TO_END_CALL = 2  # rules §6: "hangs up after the second warning"
NOTICE_CONTEXT = "pbx-bridge-nuisance-notice"
BEEP = "beep"  # first warning: the agent alone hears that it was recorded
WRONG = "beeperr"  # *7 outside a queued call: nothing to record
EVIDENCE, EVIDENCE_START = "PBXB_EVIDENCE", "PBXB_EVIDENCE_START"  # the call's recording (see the dialplan)
_UNIQUEID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def screen(desk: NuisanceDesk) -> Route:
    """agi://127.0.0.1:4573/screen: sets PBXB_SCREENED to 1 (notice, no queue) or 0."""

    async def route(session: AgiSession) -> None:
        number = normalise(session.headers.get("agi_callerid"), source="screen")
        hit = desk.check(number)
        if hit is None:
            await session.command("SET VARIABLE PBXB_SCREENED 0")
            return
        log.info("inbound_screened", number=number, source=hit.source, reason=hit.reason,
                 until=hit.until.isoformat() if hit.until else "permanent")
        desk.screened(session.headers.get("agi_uniqueid", ""), number, hit)
        await session.command("SET VARIABLE PBXB_SCREENED 1")

    return route


async def _variable(session: AgiSession, name: str) -> str:
    reply = await session.command(agi_command("GET VARIABLE", DialplanName(name)))
    return reply.data if reply.result == "1" else ""


def nuisance_warn(desk: NuisanceDesk) -> Route:
    """agi://127.0.0.1:4573/nuisance_warn (the agent's *7): record, then beep or end the call."""

    async def route(session: AgiSession) -> None:
        agent_channel = session.headers.get("agi_channel", "")
        call_uid = await _variable(session, "PBXB_CALLER_UID")
        number = normalise(await _variable(session, "PBXB_CALLER_NUM"), source="nuisance_warn")
        raw_channel = await _variable(session, "PBXB_CALLER_CHAN")
        try:
            caller_channel = ChannelName(raw_channel) if raw_channel else None
        except InvalidValue:
            log.warning("nuisance_warn_bad_caller_channel", caller_channel=shown(raw_channel))
            caller_channel = None
        if not call_uid or caller_channel is None:
            log.warning("nuisance_warn_outside_queued_call", agent_channel=agent_channel)
            await session.command(agi_command("STREAM FILE", DialplanName(WRONG), ""))
            return
        with structlog.contextvars.bound_contextvars(uniqueid=call_uid):
            # The evidence: the call is recorded from its first warning (MixMonitor, started by the
            # dialplan from PBXB_EVIDENCE_START); a recording the call has already (an earlier *7, a
            # threat's *8) is linked instead of a second one.
            recording = (await _variable(session, EVIDENCE)).strip()[:400]
            if not recording and _UNIQUEID.fullmatch(call_uid):
                recording = desk.recording_path(call_uid)
                await session.command(agi_command("SET VARIABLE", DialplanName(EVIDENCE), recording))
                await session.command(agi_command("SET VARIABLE", DialplanName(EVIDENCE_START), recording))
            record = await desk.warn(call_uid, number, caller_channel, agent_channel, recording)
            log.info("nuisance_warning_recorded", number=record.number, agent=record.agent, seq=record.seq,
                     endpoint=record.endpoint)
            await session.command(agi_command("STREAM FILE", DialplanName(BEEP), ""))
            if record.seq < WARNINGS_TO_END_CALL:
                return
            redirect = agi_exec("ChannelRedirect", caller_channel, DialplanName(NOTICE_CONTEXT), "warned", 1)
            await session.command(redirect)
            try:
                status = await _variable(session, "CHANNELREDIRECT_STATUS")
            except AgiHangup:
                status = "SUCCESS"  # the agent's leg is already gone: the caller left the bridge
            if status == "SUCCESS":
                log.info("nuisance_call_ended", number=record.number, agent=record.agent, warnings=record.seq)
            else:  # NOCHANNEL: the caller had hung up already
                log.warning("nuisance_call_end_failed", number=record.number, caller_channel=caller_channel,
                            status=status or "unknown")

    return route
