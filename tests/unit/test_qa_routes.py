"""Call monitoring's phone side (rules §4), driven over FastAGI by the fake Asterisk peer: who may
listen, that ChanSpy only ever gets a channel the route found and checked, that wrong PINs count
into the one lock-out, and that the score lands on the queued call's uniqueid."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from pbx_bridge.agi.server import FastAgiServer
from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.pins import PinGate, PinLockout
from pbx_bridge.qa import routes
from pbx_bridge.qa.desk import QaDesk
from pbx_bridge.qa.records import ScoreRecord, SessionRecord
from pbx_bridge.qa.settings import QaConfig
from pbx_bridge.rota.holder import RotaHolder
from pbx_bridge.rota.values import hash_pin
from tests.support.agi_peer import AGI_SECRET, AgiPeer

PIN = "246810"
PIN_HASH = hash_pin(PIN)
AGENT_CHANNEL = "PJSIP/agent301-0000000a"
CALL_UID = "1795471128.1"
SUPER = "PJSIP/super601"
SUPER_UID = "1795471200.7"


def rota_text() -> str:
    agent = '{{employee_no: "{no}", name: {name}, endpoint: PJSIP/agent{no3}, pin_hash: "{h}"}}'
    companies = []
    for cid, no, name in (("team", "0301", "彭建华"), ("other", "0302", "戴玲")):
        companies.append(f"  - id: {cid}\n    name: {cid}\n    mailboxes: [\"8{no[1:]}@default\"]\n"
                         f"    queues: [support]\n    agents:\n      - "
                         + agent.format(no=no, name=name, no3=no[1:], h=PIN_HASH) + "\n")
    return "start: 2026-01-05\ncalendar: weekdays\ncompanies:\n" + "".join(companies)


@dataclass
class Call:
    queue: str = "lab-sip"
    agent: str = "Agent 301"


def qa_config(**over) -> QaConfig:
    supervisor = {"name": "王主管", "endpoint": SUPER, "employee_no": "0601", "pin_hash": PIN_HASH,
                  "companies": ["team"], **over}
    return QaConfig(enabled=True, supervisors=[supervisor], score_wait_s=2)


@pytest.fixture
async def qa(tmp_path):
    rota_path = tmp_path / "rota.yaml"
    rota_path.write_text(rota_text(), encoding="utf-8")
    holder = RotaHolder(str(rota_path))
    holder.load()
    records, notices = [], []
    pins = PinGate(PinLockout(after=2, window_s=900, lock_s=900))
    state = {"cfg": qa_config()}
    servers = []

    async def dial(script: str, args: list[str], phone: str = SUPER, uniqueid: str = SUPER_UID, replies=None,
                   cfg: QaConfig | None = None) -> list[str]:
        cfg = cfg or state["cfg"]
        if "desk" not in state:
            state["desk"] = QaDesk(cfg, "pbx1", records.append, notices.append)
        desk = state["desk"]
        desk.cfg = cfg
        server = FastAgiServer(AgiConfig(host="127.0.0.1", port=0, header_timeout=1, command_timeout=2,
                                         max_sessions=5, secret=AGI_SECRET),
                               {"qa_spy": routes.spy(cfg, desk, holder, pins, {CALL_UID: Call()}.get),
                                "qa_score": routes.score(cfg, desk)})
        task = asyncio.create_task(server.run())
        servers.append(task)
        while not server.listening:
            await asyncio.sleep(0.01)
        peer = AgiPeer.fastagi(script, args, port=server.port, channel=f"{phone}-00000020", uniqueid=uniqueid,
                               replies=replies or {})
        return await asyncio.wait_for(peer.call_fastagi("127.0.0.1", server.port), 20)

    dial.records, dial.notices, dial.pins, dial.state = records, notices, pins, state
    yield dial
    for task in servers:
        task.cancel()
    await asyncio.gather(*servers, return_exceptions=True)


def on_the_pbx(channels: str = AGENT_CHANNEL, uid: str = CALL_UID, pin: str = PIN, **more) -> dict:
    """What the fake Asterisk answers: the agent's channels, the call id on them, the typed PIN."""
    return {'GET FULL VARIABLE "${CHANNELS(': f"200 result=1 ({channels})",
            'GET FULL VARIABLE "${PBXB_CALLER_UID}" ': f"200 result=1 ({uid})",
            "GET DATA agent-pass": f"200 result={pin}", **more}


async def test_a_supervisor_with_the_right_pin_spies_on_the_agents_queued_call_and_nothing_else(qa):
    commands = await qa("qa_spy", ["listen", "0301"], replies=on_the_pbx())
    assert 'GET FULL VARIABLE "${CHANNELS(^PJSIP/agent301-)}"' in commands
    assert f'GET FULL VARIABLE "${{PBXB_CALLER_UID}}" {AGENT_CHANNEL}' in commands
    assert f"SET VARIABLE PBXB_QA_SPY {AGENT_CHANNEL}" in commands
    assert 'SET VARIABLE PBXB_QA_OPTS "qbESX"' in commands
    assert commands[-1] == "SET VARIABLE PBXB_QA ok"
    [listen] = [r for r in qa.records if isinstance(r, SessionRecord)]
    assert (listen.call_uniqueid, listen.queue, listen.agent, listen.company, listen.supervisor, listen.whisper) == (
        CALL_UID, "lab-sip", "Agent 301", "team", "王主管", False)
    assert f"SET VARIABLE PBXB_QA_SESSION {listen.session_id}" in commands


@pytest.mark.parametrize("listed", [
    "PJSIP/agent3010-0000000b",  # another phone whose name starts alike
    "PJSIP/agent301-0000000a,w(x)",  # text that would add ChanSpy options
    "PJSIP/agent301-0000000a&PJSIP/agent302-1",
    "",
])
async def test_chanspy_never_gets_a_channel_the_route_did_not_find_and_check(qa, listed):
    commands = await qa("qa_spy", ["listen", "0301"], replies=on_the_pbx(channels=listed))
    assert not any(c.startswith("SET VARIABLE PBXB_QA_SPY") for c in commands)
    assert "SET VARIABLE PBXB_QA ok" not in commands
    assert 'STREAM FILE vm-nobodyavail ""' in commands or not listed
    assert not qa.records


async def test_a_channel_in_no_queued_call_or_with_a_forged_call_id_is_not_spied_on(qa):
    for uid in ("", "1795471128.1,qw", "abc"):
        commands = await qa("qa_spy", ["listen", "0301"], replies=on_the_pbx(uid=uid))
        assert "SET VARIABLE PBXB_QA ok" not in commands and 'STREAM FILE vm-nobodyavail ""' in commands
    assert not qa.records


async def test_a_phone_not_named_as_a_supervisors_is_refused_before_any_question(qa):
    commands = await qa("qa_spy", ["listen", "0301"], phone="PJSIP/agent302", replies=on_the_pbx())
    assert commands == ["ANSWER", 'STREAM FILE invalid ""']


async def test_an_agent_outside_the_supervisors_companies_is_refused_after_the_pin(qa):
    commands = await qa("qa_spy", ["listen", "0302"], replies=on_the_pbx())
    assert any(c.startswith("GET DATA agent-pass") for c in commands)
    assert commands[-1] == 'STREAM FILE invalid ""' and not qa.records


async def test_an_unknown_agent_sounds_the_same_as_one_out_of_scope(qa):
    unknown = await qa("qa_spy", ["listen", "0999"], replies=on_the_pbx())
    out_of_scope = await qa("qa_spy", ["listen", "0302"], replies=on_the_pbx())
    assert unknown == out_of_scope


async def test_wrong_pins_at_the_spy_code_count_into_the_one_pin_lock_out(qa):
    commands = await qa("qa_spy", ["listen", "0301"], replies=on_the_pbx(pin="111111"))
    assert commands.count('STREAM FILE agent-incorrect ""') == 2  # the 2nd wrong PIN locks (after=2)
    assert qa.pins.locked("PJSIP/super601")
    again = await qa("qa_spy", ["listen", "0301"], replies=on_the_pbx())
    assert again == ["ANSWER", 'STREAM FILE vm-goodbye ""'], "locked: no question, whatever the PIN"


async def test_whisper_only_for_a_supervisor_allowed_to(qa):
    refused = await qa("qa_spy", ["whisper", "0301"], replies=on_the_pbx())
    assert refused == ["ANSWER", 'STREAM FILE invalid ""']
    allowed = await qa("qa_spy", ["whisper", "0301"], replies=on_the_pbx(), cfg=qa_config(whisper=True))
    assert 'SET VARIABLE PBXB_QA_OPTS "qbESXw"' in allowed and allowed[-1] == "SET VARIABLE PBXB_QA ok"
    assert [r.whisper for r in qa.records if isinstance(r, SessionRecord)] == [True]


async def test_the_agent_number_is_asked_when_not_dialled_and_taken_as_digits_only(qa):
    commands = await qa("qa_spy", ["listen", "03x1"], replies=on_the_pbx(**{"GET DATA agent-user": "200 result=0301"}))
    assert any(c.startswith("GET DATA agent-user") for c in commands)
    assert commands[-1] == "SET VARIABLE PBXB_QA ok"


async def _listening(qa) -> SessionRecord:
    await qa("qa_spy", ["listen", "0301"], replies=on_the_pbx())
    return [r for r in qa.records if isinstance(r, SessionRecord)][-1]


async def test_a_key_pressed_during_the_listen_scores_the_queued_call_and_ends_the_listen(qa):
    listen = await _listening(qa)
    commands = await qa("qa_score", [listen.session_id, "4"])
    assert commands[-1] == 'STREAM FILE auth-thankyou ""'
    [score] = [r for r in qa.records if isinstance(r, ScoreRecord)]
    assert (score.call_uniqueid, score.score, score.scored_by, score.source, score.agent, score.session_id) == (
        CALL_UID, 4, "王主管", "phone", "Agent 301", listen.session_id)
    assert listen.ended_at is not None and listen.listened_s is not None
    assert qa.state["desk"].health()["listening"] == 0


async def test_after_the_call_ends_the_score_is_asked_and_a_wrong_key_asked_again(qa):
    listen = await _listening(qa)
    commands = await qa("qa_score", [listen.session_id], replies={1: "200 result=9", 3: "200 result=2"})
    assert [c for c in commands if c.startswith("GET DATA")] == ["GET DATA beep 2000 1"] * 2
    [score] = [r for r in qa.records if isinstance(r, ScoreRecord)]
    assert score.score == 2
    assert qa.notices == [{"type": "qa-low-score", "score": 2, "agent": "Agent 301", "company": "team",
                           "queue": "lab-sip", "uniqueid": CALL_UID, "by": "王主管"}]


async def test_no_score_key_ends_the_listen_unscored(qa):
    listen = await _listening(qa)
    commands = await qa("qa_score", [listen.session_id], replies={"GET DATA": "200 result="})
    assert commands.count("GET DATA beep 2000 1") == 2
    assert not [r for r in qa.records if isinstance(r, ScoreRecord)] and listen.ended_at is not None


async def test_a_score_for_a_listen_of_another_channel_is_refused(qa):
    listen = await _listening(qa)
    commands = await qa("qa_score", [listen.session_id, "5"], uniqueid="1795479999.1")
    assert commands == ['STREAM FILE invalid ""']
    assert not [r for r in qa.records if isinstance(r, ScoreRecord)]


async def test_the_supervisor_hanging_up_ends_the_listen(qa):
    listen = await _listening(qa)
    qa.state["desk"].handle({"Event": "Hangup", "Uniqueid": SUPER_UID})
    assert listen.ended_at is not None
    assert [r for r in qa.records if r is listen] == [listen, listen], "written at the start and again at the end"


def test_a_record_of_another_room_reaching_the_live_state_is_ignored_not_a_crash():
    """core.record hands every room's records to every on_record handler (core.py): the live state
    must take the calls and offers it counts and pass over a listen or a score."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from pbx_bridge.live.state import LiveState

    state = LiveState(ZoneInfo("Asia/Shanghai"))
    at = datetime(2026, 11, 2, 3, 0, tzinfo=timezone.utc)
    state.on_record(SessionRecord("s1", "pbx1", CALL_UID, "lab-sip", "Agent 301", "0301", "team", "王主管", SUPER,
                                  AGENT_CHANNEL, False, at))
    state.on_record(ScoreRecord("p1", "pbx1", CALL_UID, 4, "王主管", at, "phone"))
    assert not state.today and not state.dirty_queues
