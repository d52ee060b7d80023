"""Hostile caller IDs through every route that turns a caller's number or name into a command.

A caller ID is whatever the far end sends. Whatever it says, the daemon must dial only
`Local/<digits>@<the callback context>`, add no second channel (`&`), no Dial options of the
caller's (`,`), never start a second AGI command (CR, LF, NUL), and never end an AMI header early.
Each route is driven the way production drives it: the AGI routes through a real AgiSession
talking to the AGI peer (tests/support/agi_peer.py), the Originates through their own code with
a recording `send_action`.

This file imports only modules that existed before pbx_bridge.numbers, so it also runs (and
fails) against the code before the fix.
"""

from __future__ import annotations

import asyncio
import time
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pbx_bridge.agi.server import AgiSession
from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.callbacks import routes as callback_routes
from pbx_bridge.callbacks.model import Request
from pbx_bridge.callbacks.placer import CallbackPlacer
from pbx_bridge.callbacks.settings import CallbacksConfig
from pbx_bridge.nuisance.routes import nuisance_warn, screen
from pbx_bridge.ring import RingConfig
from pbx_bridge.voicemail.duty_caller import DutyCaller
from pbx_bridge.voicemail.player import VoicemailPlayer
from pbx_bridge.voicemail.spool import Spool
from tests.support.agi_peer import AgiPeer

CONTEXT = "pbx-bridge-callback"
DIGITS = re.compile(r"\+?[0-9]{1,32}")
# What the voicemail playback may send, and nothing else.
PLAYBACK_SHAPES = [re.compile(p) for p in (
    r'SAY DIGITS \+?[0-9]{1,32} "1234"', r'SAY DATETIME [0-9]+ "1234"', r'STREAM FILE "?[A-Za-z0-9/_.-]+"? "1234"',
    r'STREAM FILE [a-z-]+ ""', r"WAIT FOR DIGIT 6000", r"GET VARIABLE DIALSTATUS",
    rf"EXEC Dial Local/\+?[0-9]{{1,32}}@{CONTEXT}/n,30,g")]
CALLER_ID_VALUE = re.compile(r'"[^"\\<>\x00-\x1f\x7f]*"( <\+?[0-9]{1,32}>)?')

_PIECES = ["@", "&", ",", "(", ")", "^", "/", '"', "'", "\\", "\n", "\r", "\0", " ", "|", ";", "<", ">", "+",
           "0", "1", "9", "00900123", "from-internal", "Local/1", "n,30,U(evil^s^1)", "１２３", "٣٤", "x"]
HOSTILE = st.one_of(
    st.lists(st.sampled_from(_PIECES), max_size=12).map("".join),
    st.text(max_size=80),
    st.integers(33, 400).map(lambda n: "1" * n),
    st.just("00900123@from-internal/n,30,U(evil^s^1)&Local/1"),
)
ON_ONE_LINE = HOSTILE.map(lambda s: s.replace("\n", "").replace("\r", ""))
CALLBACKS = CallbacksConfig(enabled=True, offer_after=0, idle_after=10, retry_after=300, max_attempts=2,
                            dial_timeout=30, poll_interval=1, max_parallel=2,
                            customer_context="pbx-bridge-callback-customer")
FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def oracle_number(text: str) -> str | None:
    """An independent reading of what may be dialled: ASCII digits with an optional leading +."""
    text = text.strip()
    return text if DIGITS.fullmatch(text) else None


class _Wire:
    """The AgiSession's writer: each line written reaches the peer, its answer the reader."""

    def __init__(self, peer: AgiPeer, reader: asyncio.StreamReader) -> None:
        self.peer, self.reader, self.pending = peer, reader, b""

    def write(self, data: bytes) -> None:
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            self.reader.feed_data(self.peer.answer(line + b"\n"))

    async def drain(self) -> None:
        return None


def wired(peer: AgiPeer) -> AgiSession:
    """A real AgiSession talking to the peer in memory (no socket per hypothesis example)."""
    reader = asyncio.StreamReader()
    headers = dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
                   for line in peer.header().decode().splitlines() if line)
    cfg = AgiConfig(host="127.0.0.1", port=0, header_timeout=1, command_timeout=2, max_sessions=5)
    return AgiSession({k: v.strip() for k, v in headers.items()}, reader, _Wire(peer, reader), cfg)


def drive(peer: AgiPeer, route) -> AgiSession:
    """Run one route on a wired session, in a loop of its own; the session, for its headers."""

    async def run() -> AgiSession:
        session = wired(peer)
        await route(session)
        return session

    return asyncio.run(run())


def leave(root: Path, callerid: str) -> None:
    inbox = root / "default" / "8001" / "INBOX"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "msg0000.txt").write_text(
        f"[message]\norigmailbox=8001\ncallerid={callerid}\norigtime=1795460000\nmsg_id=m1\nduration=3\n",
        encoding="utf-8")
    (inbox / "msg0000.wav").write_bytes(b"RIFF")


class PressOneThenNext(AgiPeer):
    """The agent presses 1 at the first prompt, then 2 (next message) at any later one."""

    pressed = False

    def _reply(self, command: str, position: int) -> str:
        if command.startswith(("SAY DIGITS", "SAY DATETIME")):
            key, self.pressed = ("2" if self.pressed else "1"), True
            return f"200 result={ord(key)}"
        return super()._reply(command, position)


def play_pressing_1(callerid: str) -> list[str]:
    """Leave one message with this caller ID; the agent presses 1 at the first prompt."""
    with tempfile.TemporaryDirectory() as tmp:
        leave(Path(tmp), callerid)
        player = VoicemailPlayer("pbx1", Spool(tmp, "/var/spool/asterisk/voicemail"), lambda r: None, CONTEXT)
        peer = PressOneThenNext.fastagi("voicemail", ["jingan"], replies={
            "GET VARIABLE DIALSTATUS": "200 result=1 (ANSWER)"})

        async def run():
            try:
                await player.play(wired(peer), "jingan", ["8001@default"], "Agent 212")
            except ValueError:
                pass  # refusing to send is a fine answer; what was sent is checked below

        asyncio.run(run())
        return peer.commands


@FAST
@given(HOSTILE, st.sampled_from(['"x" <{}>', "<{}>", "{}", '"{}" <13800138000>']))
def test_voicemail_callback_never_dials_outside_the_callback_context(number, form):
    callerid = form.format(number)
    commands = play_pressing_1(callerid)
    for command in commands:
        assert any(shape.fullmatch(command) for shape in PLAYBACK_SHAPES), f"{callerid!r} made {command!r}"
    dials = [c for c in commands if c.startswith("EXEC Dial")]
    assert all("&" not in c and c.count(",") == 2 and c.count("@") == 1 for c in dials)
    if form == '"{}" <13800138000>' and "\n" not in number and "\r" not in number:
        assert dials == [f"EXEC Dial Local/13800138000@{CONTEXT}/n,30,g"], "the name is text; the number still dials"


def test_the_reported_caller_id_is_never_dialled_and_the_message_says_no_number():
    commands = play_pressing_1('"x" <00900123@from-internal/n,30,U(evil^s^1)&Local/1>')
    assert not [c for c in commands if c.startswith(("EXEC", "SAY DIGITS"))]
    assert 'STREAM FILE privacy-unident ""' in commands


def test_a_normal_number_is_still_called_back():
    commands = play_pressing_1('"张三丰" <+8613800138000>')
    assert 'SAY DIGITS +8613800138000 "1234"' in commands
    assert f"EXEC Dial Local/+8613800138000@{CONTEXT}/n,30,g" in commands


@pytest.mark.parametrize("line", ["NOOP\nEXEC Dial Local/1@from-internal", "NOOP\rx", "NOOP\0x"])
def test_an_agi_command_with_a_line_break_or_nul_is_refused_not_sent(line):
    peer = AgiPeer.fastagi("voicemail", [])

    async def run():
        with pytest.raises(ValueError):
            await wired(peer).command(line)

    asyncio.run(run())
    assert peer.commands == []


@FAST
@given(ON_ONE_LINE, ON_ONE_LINE)
def test_nuisance_warn_redirects_only_a_channel_name_into_the_notice_context(channel, number):
    warned = []

    class Desk:
        def recording_path(self, uid):
            return f"/var/spool/asterisk/monitor/pbx-bridge-evidence/nuisance-pbx1-{uid}.wav"

        async def warn(self, uid, num, chan, agent_chan, recording=""):
            warned.append(num)
            return SimpleNamespace(seq=2, number=num, agent="A", endpoint="PJSIP/agent301")

    peer = AgiPeer.fastagi("nuisance_warn", [], channel="PJSIP/agent301-0000000a", replies={
        "GET VARIABLE PBXB_CALLER_UID": "200 result=1 (1795471128.1)",
        "GET VARIABLE PBXB_CALLER_NUM": f"200 result=1 ({number})",
        "GET VARIABLE PBXB_CALLER_CHAN": f"200 result=1 ({channel})",
        "GET VARIABLE CHANNELREDIRECT_STATUS": "200 result=1 (SUCCESS)"})
    drive(peer, nuisance_warn(Desk()))
    for command in peer.commands:
        if command.startswith("EXEC"):
            assert re.fullmatch(r"EXEC ChannelRedirect [A-Za-z0-9_]+/[A-Za-z0-9_.@;/:+#*-]+,"
                                r"pbx-bridge-nuisance-notice,warned,1", command), command
    assert all(n is None or n == "" or DIGITS.fullmatch(n) for n in warned), warned


@FAST
@given(ON_ONE_LINE)
def test_screen_looks_up_only_a_phone_number(callerid):
    asked = []

    class Desk:
        def check(self, number):
            asked.append(number)
            return None

    peer = AgiPeer.fastagi("screen", [], caller_num=callerid)
    drive(peer, screen(Desk()))
    assert peer.commands == ["SET VARIABLE PBXB_SCREENED 0"]
    assert all(n is None or DIGITS.fullmatch(n) for n in asked), asked


@FAST
@given(ON_ONE_LINE, ON_ONE_LINE)
@example("00900123", "00900123@from-internal/n,30,U(evil^s^1)&Local/1")  # a valid number is still stored
def test_a_callback_request_stores_only_a_phone_number(callerid, name):
    stored = []

    async def add_request(engine, pbx, uniqueid, number, caller_name, queue, position, at):
        stored.append(number)
        return 1, False

    cfg = CALLBACKS
    peer = AgiPeer.fastagi("callback_request", ["support", "3"], caller_num=callerid, caller_name=name,
                           replies={"GET VARIABLE PBXB_MAXWAIT": "200 result=1 (600)"})
    with mock.patch.object(callback_routes.store, "add_request", add_request):
        # the call joined an hour ago (a wait the daemon does not know is refused before any number is looked at)
        session = drive(peer, callback_routes.callback_request(cfg, "pbx1", None, lambda uid: time.time() - 3600))
    assert all(DIGITS.fullmatch(n) for n in stored), stored
    expected = oracle_number(session.headers["agi_callerid"])
    assert bool(stored) == (expected is not None and len(expected.lstrip("+")) >= 3)


def _no_line_breaks(action: dict) -> bool:
    values = [v for value in action.values() for v in (value if isinstance(value, list) else [value])]
    return not any(ch in str(v) for v in values for ch in "\r\n\0")


@FAST
@given(HOSTILE)
def test_a_callback_originate_carries_the_callers_name_only_inside_its_quotes(name):
    sent = []

    async def send(action, timeout):
        sent.append(action)
        return [{"Response": "Success"}, {"Event": "OriginateResponse", "Response": "Success", "Reason": "4"}]

    ring = RingConfig(cadence="cn", two_rings="end_of_second_ring")
    placer = CallbackPlacer(CALLBACKS, "pbx1", None, send, lambda r: None, ring, 6.0, lambda: 1, set)
    request = Request(id=7, pbx="pbx1", uniqueid="1.1", number="13800138000", queue="support",
                      requested_at=datetime.now(timezone.utc), caller_name=name)
    member = SimpleNamespace(name="Agent 201", interface="Local/201@agents/n")
    asyncio.run(placer._originate(request, member, "7-1-abcd"))
    (action,) = sent
    assert CALLER_ID_VALUE.fullmatch(action["CallerID"]), action["CallerID"]
    assert action["CallerID"].endswith(" <13800138000>") and action["Exten"] == "13800138000"
    assert _no_line_breaks(action)


@FAST
@given(HOSTILE)
def test_the_duty_callers_originate_carries_the_company_name_only_inside_its_quotes(name):
    sent = []

    async def send(action, timeout):
        sent.append(action)
        return [{"Response": "Success", "Event": "OriginateResponse"}]

    with tempfile.TemporaryDirectory() as tmp:
        player = VoicemailPlayer("pbx1", Spool(tmp), lambda r: None, CONTEXT)
        caller = DutyCaller("pbx1", None, player, send, lambda r: None, 6.0, 1)
        company = SimpleNamespace(id="jingan", name=name, mailboxes=("8001@default",))
        agent = SimpleNamespace(name="A", endpoint="PJSIP/a", employee_no="1")
        asyncio.run(caller._ring(agent, company, "jingan/2026-12-01/1"))
    (action,) = sent
    assert CALLER_ID_VALUE.fullmatch(action["CallerID"]), action["CallerID"]
    assert _no_line_breaks(action)


@FAST
@given(ON_ONE_LINE, ON_ONE_LINE, ON_ONE_LINE)
@example("1795471128.1,evil", "Local/s@x;2", "13900000000")
@example("1795471128.1", "PJSIP/x,b(evil^s^1)", "139")
def test_threat_mark_starts_a_recording_only_under_its_own_directory(uid, channel, number):
    from pbx_bridge.threats.desk import ThreatDesk
    from pbx_bridge.threats.routes import CallInfo, threat_mark
    from pbx_bridge.threats.settings import ThreatsConfig

    cfg = ThreatsConfig.model_validate({"companies": {"a": {"queues": ["support"],
                                                              "lead": {"name": "L", "endpoint": "PJSIP/lead"},
                                                              "manager": {"name": "M", "endpoint": "PJSIP/m"}}}})
    live = SimpleNamespace(on_notice=lambda n: None, stand=lambda k, n: None, clear=lambda k: None)

    async def no_ami(action, timeout):
        return [{"Event": "OriginateResponse", "Response": "Failure", "Reason": "3"}]

    records = []
    desk = ThreatDesk(cfg, "pbx1", records.append, no_ami, live, 6.0)
    peer = AgiPeer.fastagi("threat_mark", [], channel="PJSIP/agent301-0000000a", replies={
        "GET VARIABLE PBXB_CALLER_UID": f"200 result=1 ({uid})",
        "GET VARIABLE PBXB_CALLER_NUM": f"200 result=1 ({number})",
        "GET VARIABLE PBXB_CALLER_CHAN": f"200 result=1 ({channel})"})
    drive(peer, threat_mark(desk, lambda _: CallInfo("support", "", True), {}.get))
    for command in peer.commands:
        if command.startswith("SET VARIABLE"):
            assert re.fullmatch(r'SET VARIABLE PBXB_EVIDENCE(_START)? "/var/spool/asterisk/monitor/'
                                r'pbx-bridge-evidence/threat-pbx1-[A-Za-z0-9._-]{1,64}\.wav"', command), command
        assert not command.startswith("EXEC"), command
    assert all(r.number == "" or DIGITS.fullmatch(r.number) for r in records if hasattr(r, "number"))
