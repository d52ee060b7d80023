"""The voicemail playback AGI: the duty agent hears the company's new messages, oldest first.

For each message: the caller's number and the time it was left, then the message; the agent
presses 1 to call the customer back now (the agent stays on the line while the customer is
dialled), 2 for the next message, 3 to hear it again, 4 when it is handled without a call. Every
prompt can be cut short by a key. A message moves to Old only once handled (4, or a callback the
customer answered); a hangup in the middle leaves it New. A message is claimed while it is being
played, so two agents never get the same message at once.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

import structlog

from pbx_bridge.agi.quoting import agi_command, agi_exec
from pbx_bridge.agi.server import AgiSession
from pbx_bridge.numbers import ChannelName, DialplanName
from pbx_bridge.voicemail.records import CallbackRecord, VoicemailMessageRecord
from pbx_bridge.voicemail.spool import Message, Spool

log = structlog.get_logger(__name__)

KEYS = "1234"
NO_KEY_REPLAYS = 1  # a message nobody reacts to is played once more, then left New


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _digit(result: str) -> str | None:
    try:
        code = int(result)
    except ValueError:
        return None
    return chr(code) if code > 0 and chr(code) in KEYS else None


CALLBACK_MAX_S = 4 * 3600  # the AGI waits through the whole call back (Dial returns when it ends)


class VoicemailPlayer:
    def __init__(self, pbx: str, spool: Spool, sink: Callable[[object], None], callback_context: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.pbx, self.spool, self.sink, self.clock = pbx, spool, sink, clock
        self.callback_context = DialplanName(callback_context)
        self.claims: set[str] = set()
        self.known: dict[str, VoicemailMessageRecord] = {}
        self.on_played: list[Callable[[str, int], None]] = []

    # --- records -------------------------------------------------------------------------
    def note_message(self, company: str, message: Message) -> VoicemailMessageRecord:
        """The record of a message, created the first time the daemon sees it."""
        record = self.known.get(message.msg_id)
        if record is None:
            record = VoicemailMessageRecord(
                msg_id=message.msg_id, pbx=self.pbx, company=company, mailbox=message.mailbox,
                caller_num=message.caller_num or "", caller_name=message.caller_name, left_at=_utc(message.origtime))
            self.known[message.msg_id] = record
            self.sink(record)
        return record

    def new_messages(self, company: str, mailboxes: list[str]) -> list[Message]:
        messages = sorted((m for box in mailboxes for m in self.spool.messages(box)), key=lambda m: m.origtime)
        for message in messages:
            self.note_message(company, message)
        return messages

    # --- the AGI route -------------------------------------------------------------------
    async def play(self, session: AgiSession, company: str, mailboxes: list[str], agent: str | None,
                   listening_id: str | None = None) -> int:
        played = 0
        with structlog.contextvars.bound_contextvars(company=company, agent=agent):
            try:
                for message in self.new_messages(company, mailboxes):
                    if message.key in self.claims:
                        continue  # another agent has it right now
                    self.claims.add(message.key)
                    try:
                        played += 1
                        await self._one(session, company, message, agent)
                    finally:
                        self.claims.discard(message.key)
                await session.command('STREAM FILE vm-nomore ""')
                await session.command('STREAM FILE vm-goodbye ""')
            finally:
                log.info("voicemail_playback_ended", played=played)
                for hook in self.on_played:
                    hook(listening_id or "", played)
        return played

    async def _one(self, session: AgiSession, company: str, message: Message, agent: str | None) -> None:
        silent_rounds = 0
        while True:
            key = await self._present(session, message)
            if key == "3":
                continue
            if key == "2":
                return
            if key == "4":
                self._handled(message, agent, "handled")
                return
            if key == "1":
                if await self._call_back(session, company, message, agent):
                    self._handled(message, agent, "called-back")
                    return
                continue  # not reached: back to the message, the agent decides again
            silent_rounds += 1
            if silent_rounds > NO_KEY_REPLAYS:
                return

    async def _present(self, session: AgiSession, message: Message) -> str | None:
        steps = []
        if message.caller_num:
            steps.append(agi_command("SAY DIGITS", message.caller_num, KEYS))
        steps.append(agi_command("SAY DATETIME", message.origtime, KEYS))
        steps.append(agi_command("STREAM FILE", self.spool.asterisk_path(message), KEYS))
        steps.append("WAIT FOR DIGIT 6000")
        for step in steps:
            # the message itself plays as long as it is: its own duration, with a margin
            timeout = message.duration + 30 if step.startswith("STREAM FILE") else None
            key = _digit((await session.command(step, timeout=timeout)).result)
            if key:
                return key
        return None

    async def _call_back(self, session: AgiSession, company: str, message: Message, agent: str | None) -> bool:
        record = self.known[message.msg_id]
        started = self.clock()
        if message.caller_num is None:  # anonymous, or a caller ID that was not a number
            await session.command('STREAM FILE privacy-unident ""')
            return False
        log.info("voicemail_callback_dialling", msg_id=message.msg_id, number=message.caller_num)
        # g: when the customer hangs up, the agent stays in the playback for the next message
        dial = agi_exec("Dial", ChannelName.local(message.caller_num, self.callback_context), 30, "g")
        await session.command(dial, timeout=CALLBACK_MAX_S)
        status = (await session.command("GET VARIABLE DIALSTATUS")).data or "UNKNOWN"
        answered = status == "ANSWER"
        self.sink(CallbackRecord(
            callback_id=f"{message.msg_id}/{int(started * 1000)}", pbx=self.pbx, msg_id=message.msg_id,
            company=company, agent=agent, number=message.caller_num, started_at=_utc(started),
            dial_status=status, answered=answered))
        if record.first_callback_at is None:
            record.first_callback_at = _utc(started)
            self.sink(record)
        log.info("voicemail_callback_ended", msg_id=message.msg_id, dial_status=status)
        return answered

    def _handled(self, message: Message, agent: str | None, status: str) -> None:
        moved = self.spool.move_to_old(message.mailbox, message.msg_id)
        record = self.known[message.msg_id]
        record.status, record.handled_at, record.handled_by = status, _utc(self.clock()), agent
        self.sink(record)
        log.info("voicemail_message_handled", msg_id=message.msg_id, status=status, moved=moved is not None)
