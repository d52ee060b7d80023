"""The duty caller: who is rung at a listening, in what order, and what is recorded."""

from datetime import datetime
from zoneinfo import ZoneInfo

from pbx_bridge.rota.load import load_rota
from pbx_bridge.rota.model import hash_pin
from pbx_bridge.rota.schedule import listenings
from pbx_bridge.voicemail.duty_caller import DutyCaller
from pbx_bridge.voicemail.player import VoicemailPlayer
from pbx_bridge.voicemail.records import ListeningRecord
from pbx_bridge.voicemail.spool import Spool
from tests.unit.test_voicemail_player import leave

TZ = ZoneInfo("Asia/Shanghai")


class Holder:
    def __init__(self, rota):
        self.current = rota


def make(tmp_path, answering: set[str], with_messages=True):
    today = datetime.now(TZ).date()
    pin = hash_pin("1357")
    path = tmp_path / "rota.yaml"
    path.write_text(f"""
start: {today}
calendar: {{kind: weekdays, extra_workdays: [{today}]}}
companies:
  - id: jingan
    name: 静安
    mailboxes: ["8001@default"]
    agents:
      - {{employee_no: "1", name: A, endpoint: PJSIP/a, pin_hash: "{pin}"}}
      - {{employee_no: "2", name: B, endpoint: PJSIP/b, pin_hash: "{pin}"}}
      - {{employee_no: "3", name: C, endpoint: PJSIP/c, pin_hash: "{pin}"}}
leave:
  - {{agent: "3", dates: [{today}]}}
""", encoding="utf-8")
    rota = load_rota(str(path))
    if with_messages:
        leave(tmp_path / "spool", "8001@default", 0, 1795460000, "<139>", "m1")
    records, rung = [], []

    async def send_action(action, timeout):
        rung.append(action["Channel"])
        ok = action["Channel"] in answering
        return [{"Response": "Success", "Message": "Originate successfully queued"},
                {"Event": "OriginateResponse", "Response": "Success" if ok else "Failure", "Reason": "4" if ok else "3"}]

    player = VoicemailPlayer("pbx1", Spool(tmp_path / "spool"), records.append, "pbx-bridge-callback")
    caller = DutyCaller("pbx1", Holder(rota), player, send_action, records.append, ring_timeout_s=6,
                        retry_minutes=0)
    return caller, listenings(rota, today)[0], records, rung


def final(records):
    return [r for r in records if isinstance(r, ListeningRecord)][-1]


async def test_the_duty_agent_is_rung_first_with_the_ring_twice_timeout(tmp_path):
    caller, listening, records, rung = make(tmp_path, {"PJSIP/a"})
    record = await caller.hold(listening)
    assert rung == ["PJSIP/a"]
    assert (record.status, record.agent, record.attempts) == ("taken", "A", 1)


async def test_no_answer_means_a_retry_then_the_next_agent_not_on_leave(tmp_path):
    caller, listening, records, rung = make(tmp_path, {"PJSIP/b"})
    record = await caller.hold(listening)
    assert rung == ["PJSIP/a", "PJSIP/a", "PJSIP/b"]
    assert (record.status, record.agent) == ("taken", "B")


async def test_a_listening_nobody_takes_is_recorded_as_missed(tmp_path):
    caller, listening, records, rung = make(tmp_path, set())
    record = await caller.hold(listening)
    assert "PJSIP/c" not in rung  # on leave
    assert final(records).status == "missed" and record.attempts == 3


async def test_nobody_is_rung_when_there_are_no_new_messages(tmp_path):
    caller, listening, records, rung = make(tmp_path, {"PJSIP/a"}, with_messages=False)
    assert (await caller.hold(listening)).status == "no-messages"
    assert rung == []
