"""The voicemail playback AGI against a spool laid out as app_voicemail writes it."""

import asyncio
from pathlib import Path

import pytest

from pbx_bridge.agi.server import FastAgiServer
from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.voicemail.player import VoicemailPlayer
from pbx_bridge.voicemail.records import CallbackRecord, VoicemailMessageRecord
from pbx_bridge.voicemail.spool import Spool, parse_callerid
from tests.support.agi_peer import AGI_SECRET, AgiPeer

ASCII = {k: str(ord(k)) for k in "1234"}


def leave(root: Path, mailbox: str, number: int, origtime: int, callerid: str, msg_id: str):
    box, context = mailbox.split("@")
    inbox = root / context / box / "INBOX"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f"msg{number:04d}.txt").write_text(
        f";\n; Message Information file\n;\n[message]\norigmailbox={box}\ncontext=pbx-bridge-leave-message\n"
        f"callerid={callerid}\norigdate=Mon Nov 23 11:00:00 AM UTC 2026\norigtime={origtime}\n"
        f"category=\nmsg_id={msg_id}\nflag=\nduration=3\n", encoding="utf-8")
    (inbox / f"msg{number:04d}.wav").write_bytes(b"RIFF")


@pytest.fixture
def spool(tmp_path):
    leave(tmp_path, "8001@default", 0, 1795460000, '"张三丰" <13800138000>', "m-new")
    leave(tmp_path, "8001@default", 1, 1795450000, '"李四" <13900000001>', "m-old")
    leave(tmp_path, "8001@default", 2, 1795470000, "<13900000002>", "m-late")
    return Spool(tmp_path, "/var/spool/asterisk/voicemail")


async def session(player, replies, hangup_at=None):
    records_route = {"voicemail": lambda s: player.play(s, "jingan", ["8001@default"], "Agent 212", "L1")}
    server = FastAgiServer(AgiConfig(host="127.0.0.1", port=0, header_timeout=1, command_timeout=2,
                                     max_sessions=5, secret=AGI_SECRET), records_route)
    task = asyncio.create_task(server.run())
    while not server.listening:
        await asyncio.sleep(0.01)
    peer = AgiPeer.fastagi("voicemail", ["jingan"], port=server.port, replies=replies, hangup_at=hangup_at)
    commands = await asyncio.wait_for(peer.call_fastagi("127.0.0.1", server.port), 5)
    task.cancel()
    return commands


def test_caller_id_parsing():
    assert parse_callerid('"张三丰" <13800138000>') == ("13800138000", "张三丰")
    assert parse_callerid("<13900000002>") == ("13900000002", "")
    assert parse_callerid("13900000003") == ("13900000003", "")


async def test_messages_play_oldest_first_and_handled_ones_move_to_old(spool, tmp_path):
    records = []
    player = VoicemailPlayer("pbx1", spool, records.append, "pbx-bridge-callback")
    # key 4 (handled) on the oldest message's audio, 2 (next) for the second, 4 for the third
    replies = {"SAY DIGITS 13900000001": f"200 result={ASCII['4']}", "SAY DIGITS 13800138000": f"200 result={ASCII['2']}",
               "SAY DIGITS 13900000002": f"200 result={ASCII['4']}"}
    commands = await session(player, replies)
    said = [c for c in commands if c.startswith("SAY DIGITS")]
    assert said == ['SAY DIGITS 13900000001 "1234"', 'SAY DIGITS 13800138000 "1234"', 'SAY DIGITS 13900000002 "1234"']
    inbox = {m.msg_id for m in spool.messages("8001@default")}
    old = {m.msg_id for m in spool.messages("8001@default", "Old")}
    assert inbox == {"m-new"} and old == {"m-old", "m-late"}
    assert sorted(p.name for p in (tmp_path / "default/8001/INBOX").iterdir()) == ["msg0000.txt", "msg0000.wav"]
    handled = {r.msg_id: r.status for r in records if isinstance(r, VoicemailMessageRecord)}
    assert handled == {"m-old": "handled", "m-new": "new", "m-late": "handled"}


async def test_key_1_calls_the_customer_back_with_the_agent_on_the_line(spool):
    records = []
    player = VoicemailPlayer("pbx1", spool, records.append, "pbx-bridge-callback")
    replies = {"SAY DIGITS 13900000001": f"200 result={ASCII['1']}", "GET VARIABLE DIALSTATUS": "200 result=1 (ANSWER)",
               "SAY DIGITS": f"200 result={ASCII['2']}"}
    commands = await session(player, replies)
    assert "EXEC Dial Local/13900000001@pbx-bridge-callback/n,30,g" in commands
    callbacks = [r for r in records if isinstance(r, CallbackRecord)]
    assert [(c.number, c.dial_status, c.answered) for c in callbacks] == [("13900000001", "ANSWER", True)]
    assert {m.msg_id for m in spool.messages("8001@default", "Old")} == {"m-old"}
    message = next(r for r in records if isinstance(r, VoicemailMessageRecord) and r.msg_id == "m-old")
    assert message.status == "called-back" and message.first_callback_at is not None


async def test_a_hangup_in_the_middle_leaves_the_message_new(spool):
    player = VoicemailPlayer("pbx1", spool, [].append, "pbx-bridge-callback")
    await session(player, {}, hangup_at=3)
    assert len(spool.messages("8001@default")) == 3
    assert not player.claims


async def test_two_agents_never_get_the_same_message_at_once(spool):
    player = VoicemailPlayer("pbx1", spool, [].append, "pbx-bridge-callback")
    player.claims.add("8001@default/m-old")  # another agent is on it
    commands = await session(player, {"SAY DIGITS": f"200 result={ASCII['2']}"})
    assert 'SAY DIGITS 13900000001 "1234"' not in commands


class _Holder:
    def __init__(self, rota):
        self.current = rota


def login_rota(tmp_path, today):
    from pbx_bridge.rota.load import load_rota
    from pbx_bridge.rota.model import hash_pin

    pin = hash_pin("2468")
    text = f"""
start: {today}
calendar: {{kind: weekdays, extra_workdays: [{today}]}}
companies:
  - id: jingan
    name: 静安
    mailboxes: ["8001@default"]
    agents:
      - {{employee_no: "001", name: 王一, endpoint: PJSIP/agent301, pin_hash: "{pin}"}}
      - {{employee_no: "002", name: 王二, endpoint: PJSIP/agent302, pin_hash: "{pin}"}}
"""
    path = tmp_path / "rota.yaml"
    path.write_text(text, encoding="utf-8")
    return _Holder(load_rota(str(path)))


async def login_session(player, holder, channel, replies, pins=None):
    from pbx_bridge.agents.settings import AgentsConfig
    from pbx_bridge.voicemail.routes import voicemail_login
    from pbx_bridge.pins import PinGate

    server = FastAgiServer(AgiConfig(host="127.0.0.1", port=0, header_timeout=1, command_timeout=2, max_sessions=5,
                                     secret=AGI_SECRET),
                           {"voicemail_login": voicemail_login(player, holder, pins or PinGate.from_settings(AgentsConfig()))})
    task = asyncio.create_task(server.run())
    while not server.listening:
        await asyncio.sleep(0.01)
    peer = AgiPeer.fastagi("voicemail_login", [], port=server.port, channel=channel, replies=replies)
    commands = await asyncio.wait_for(peer.call_fastagi("127.0.0.1", server.port), 10)
    task.cancel()
    return commands


async def test_the_duty_agent_starts_playback_from_their_phone_with_the_pin(spool, tmp_path):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    holder = login_rota(tmp_path, datetime.now(ZoneInfo("Asia/Shanghai")).date())
    player = VoicemailPlayer("pbx1", spool, [].append, "pbx-bridge-callback")
    commands = await login_session(player, holder, "PJSIP/agent301-0000001a",
                                   {"GET DATA": "200 result=2468", "SAY DIGITS": f"200 result={ASCII['2']}"})
    assert sum(c.startswith("SAY DIGITS") for c in commands) == 3


async def test_a_wrong_pin_and_an_unknown_phone_sound_the_same(spool, tmp_path):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    holder = login_rota(tmp_path, datetime.now(ZoneInfo("Asia/Shanghai")).date())
    player = VoicemailPlayer("pbx1", spool, [].append, "pbx-bridge-callback")
    wrong = await login_session(player, holder, "PJSIP/agent301-0000001a", {"GET DATA": "200 result=1111"})
    stranger = await login_session(player, holder, "PJSIP/intruder-0000001b", {"GET DATA": "200 result=2468"})
    assert wrong == stranger
    assert not any(c.startswith("SAY DIGITS") for c in wrong)


async def test_an_agent_not_on_duty_today_is_not_played_the_messages(spool, tmp_path):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    holder = login_rota(tmp_path, datetime.now(ZoneInfo("Asia/Shanghai")).date())
    player = VoicemailPlayer("pbx1", spool, [].append, "pbx-bridge-callback")
    commands = await login_session(player, holder, "PJSIP/agent302-0000001c", {"GET DATA": "200 result=2468"})
    assert not any(c.startswith("SAY DIGITS") for c in commands)
