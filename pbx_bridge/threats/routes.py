"""FastAGI routes of threatening calls (rules §6).

`threat_mark` runs on the agent's phone channel when the agent presses *8 in a call
(features_pbx_bridge.conf): the caller's identity reaches that channel through the variables the
inbound context set with `__` (PBXB_CALLER_UID, PBXB_CALLER_NUM, PBXB_CALLER_CHAN), as for *7.
The recording is started by the dialplan right after this route (MixMonitor on the agent's channel:
both parties), from the path the route puts in PBXB_EVIDENCE_START: the route decides, the channel
records, and no AMI right is needed. PBXB_EVIDENCE keeps the path on the channel, so a second code
in the same call (*8 again, or *7 before or after) links the same recording instead of starting
another.

`threat_notice` runs on the lead's (or manager's) phone that the daemon rang: it names the desk and
waits for the acknowledgement key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from pbx_bridge.agi.quoting import agi_command
from pbx_bridge.agi.server import AgiSession, Route
from pbx_bridge.calls.outbound import endpoint_of
from pbx_bridge.numbers import ChannelName, DialplanName, InvalidValue, phone_number_or_none, shown
from pbx_bridge.threats.desk import ThreatDesk, desk_name

log = structlog.get_logger(__name__)

BEEP, WRONG = "beep", "beeperr"
EVIDENCE, EVIDENCE_START = "PBXB_EVIDENCE", "PBXB_EVIDENCE_START"
_UNIQUEID = re.compile(r"[A-Za-z0-9._-]{1,64}")
NOTICE_ROUNDS = 3
WAIT_FOR_KEY_MS = 5000


@dataclass(frozen=True)
class CallInfo:
    """What the call tracker knows of a queued call."""

    queue: str
    caller_name: str
    answered: bool


async def _variable(session: AgiSession, name: str) -> str:
    reply = await session.command(agi_command("GET VARIABLE", DialplanName(name)))
    return reply.data if reply.result == "1" else ""


async def _refuse(session: AgiSession, event: str, **fields) -> None:
    log.warning(event, agent_channel=session.headers.get("agi_channel", ""), **fields)
    await session.command(agi_command("STREAM FILE", DialplanName(WRONG), ""))


async def _site_recording(session: AgiSession, desk: ThreatDesk, caller_channel: ChannelName) -> str:
    """The site's own recording of this call: on the agent's channel, or on the caller's (app_queue's
    recording runs there)."""
    variable = DialplanName(desk.cfg.site_recording_variable)
    found = await _variable(session, variable)
    if not found:
        reply = await session.command(agi_command("GET FULL VARIABLE", f"${{IMPORT({caller_channel},{variable})}}"))
        found = reply.data if reply.result == "1" else ""
    return found.strip()[:400]


def threat_mark(desk: ThreatDesk, call_of: Callable[[str], CallInfo | None],
                name_of: Callable[[str], str | None]) -> Route:
    """agi://127.0.0.1:4573/threat_mark (the agent's *8): record, start the recording, tell the lead."""

    async def route(session: AgiSession) -> None:
        agent_channel = session.headers.get("agi_channel", "")
        call_uid = await _variable(session, "PBXB_CALLER_UID")
        raw_channel = await _variable(session, "PBXB_CALLER_CHAN")
        try:
            caller_channel = ChannelName(raw_channel) if raw_channel else None
        except InvalidValue:
            log.warning("threat_mark_bad_caller_channel", caller_channel=shown(raw_channel))
            caller_channel = None
        if not call_uid or caller_channel is None:
            return await _refuse(session, "threat_mark_outside_call")
        if not _UNIQUEID.fullmatch(call_uid):
            return await _refuse(session, "threat_mark_bad_call_id", call=shown(call_uid))
        if agent_channel == caller_channel:
            return await _refuse(session, "threat_mark_not_an_agent_channel", call=call_uid)
        info = call_of(call_uid)
        if info is not None and not info.answered:
            return await _refuse(session, "threat_mark_call_not_answered", call=call_uid)
        number = phone_number_or_none(await _variable(session, "PBXB_CALLER_NUM"), source="threat_mark") or ""
        with structlog.contextvars.bound_contextvars(uniqueid=call_uid):
            kept = (await _variable(session, EVIDENCE)).strip()[:400]
            start = ""
            if kept:
                recording, source = kept, "call"
            elif desk.cfg.site_records_calls and (site := await _site_recording(session, desk, caller_channel)):
                recording, source = site, "site"
            else:
                recording = start = desk.recording_path(call_uid)
                source = "threat"
            endpoint = endpoint_of(agent_channel)
            threat, new = desk.mark(
                call_uid, number=number, caller_name=info.caller_name if info else "",
                queue=info.queue if info else "", agent=name_of(endpoint) or endpoint, endpoint=endpoint,
                agent_channel=agent_channel, caller_channel=caller_channel, recording=recording,
                recording_source=source)
            if new and start:
                await session.command(agi_command("SET VARIABLE", DialplanName(EVIDENCE), start))
                await session.command(agi_command("SET VARIABLE", DialplanName(EVIDENCE_START), start))
            elif not new:
                log.info("threat_already_marked", threat=call_uid)
            await session.command(agi_command("STREAM FILE", DialplanName(BEEP), ""))

    return route


def _digit(result: str) -> str | None:
    try:
        code = int(result)
    except ValueError:
        return None
    return chr(code) if 0 < code < 128 else None


def threat_notice(desk: ThreatDesk) -> Route:
    """agi://127.0.0.1:4573/threat_notice: on the called person's phone, the desk, and the key to acknowledge."""

    async def route(session: AgiSession) -> None:
        threat_id = await _variable(session, "PBXB_THREAT")
        role = await _variable(session, "PBXB_THREAT_ROLE")
        threat = desk.open.get(threat_id)
        if threat is None or threat.company is None or role not in ("lead", "manager"):
            log.warning("threat_notice_unknown", threat=shown(threat_id), role=shown(role))
            await session.command(agi_command("STREAM FILE", DialplanName("vm-goodbye"), ""))
            return
        person = threat.company.lead if role == "lead" else threat.company.manager
        key = desk.cfg.ack_key
        prompt = [*(("STREAM FILE", DialplanName(s)) for s in desk.cfg.notice_sounds),
                  ("SAY ALPHA", desk_name(threat.record.endpoint)), ("STREAM FILE", DialplanName("vm-press")),
                  ("SAY DIGITS", int(key))]
        with structlog.contextvars.bound_contextvars(threat=threat_id):
            log.info("threat_notice_playing", role=role, name=person.name)
            for _ in range(NOTICE_ROUNDS):
                if threat.acked.is_set():
                    break
                for verb, what in prompt:
                    if _digit((await session.command(agi_command(verb, what, key))).result) == key:
                        return await _acknowledged(session, desk, threat_id, person.name)
                reply = await session.command(agi_command("WAIT FOR DIGIT", WAIT_FOR_KEY_MS),
                                              timeout=WAIT_FOR_KEY_MS / 1000 + 5)
                if _digit(reply.result) == key:
                    return await _acknowledged(session, desk, threat_id, person.name)
            log.info("threat_notice_not_acknowledged", role=role, name=person.name)
            await session.command(agi_command("STREAM FILE", DialplanName("vm-goodbye"), ""))

    return route


async def _acknowledged(session: AgiSession, desk: ThreatDesk, threat_id: str, by: str) -> None:
    desk.acknowledge(threat_id, by, "phone")
    await session.command(agi_command("STREAM FILE", DialplanName("auth-thankyou"), ""))
