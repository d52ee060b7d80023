"""Threatening calls (rules §6): the agent's *8 and the notice call against the AGI peer, the
escalation from the lead to the manager with a scripted AMI, and the config that refuses a lead
without a phone."""

import asyncio
from datetime import timedelta

import pytest
import yaml
from structlog.testing import capture_logs

from pbx_bridge.agi.server import FastAgiServer
from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.config import ConfigError, load_config
from pbx_bridge.threats import routes
from pbx_bridge.threats.desk import ThreatDesk
from pbx_bridge.threats.model import AckRecord, ContactRecord, ThreatRecord
from pbx_bridge.threats.settings import ThreatsConfig
from tests.support.agi_peer import AGI_SECRET, AgiPeer

CALLER = "Local/s@pbx-bridge-inbound-00000007;2"
AGENT = "PJSIP/agent301-0000000a"
UID = "1795471128.1"


def threats_cfg(**over) -> ThreatsConfig:
    data = {"enabled": True, "poll_interval": 0.05, "ack_timeout": "0.4s", "ring_again_after": "0.1s",
            "manager_attempts": 2,
            "companies": {"jingan": {"queues": ["support"], "lead": {"name": "组长王", "endpoint": "PJSIP/lead401"},
                                     "manager": {"name": "经理李", "endpoint": "13900000402"}},
                          "baoshan": {"queues": ["sales"], "lead": {"name": "组长张", "endpoint": "PJSIP/lead501"},
                                      "manager": {"name": "经理赵", "endpoint": "PJSIP/manager502"}}}}
    data.update(over)
    return ThreatsConfig.model_validate(data)


class Live:
    def __init__(self):
        self.alerts, self.standing, self.cleared = [], {}, []

    def on_notice(self, notice):
        self.alerts.append(notice)

    def stand(self, key, notice):
        self.standing[key] = notice

    def clear(self, key):
        self.standing.pop(key, None)
        self.cleared.append(key)


class Ami:
    """Answers each Originate with the OriginateResponse scripted for the phone it rings."""

    def __init__(self, reasons=None):
        self.reasons = reasons or {}
        self.sent = []

    async def __call__(self, action, timeout):
        self.sent.append((action, timeout))
        reason = self.reasons.get(str(action["Channel"]), "4")
        return [{"Response": "Success", "Message": "Originate successfully queued"},
                {"Event": "OriginateResponse", "Response": "Success" if reason == "4" else "Failure",
                 "Reason": reason}]

    def rung(self):
        return [str(a["Channel"]) for a, _ in self.sent]


def make_desk(cfg=None, ami=None):
    records = []
    desk = ThreatDesk(cfg or threats_cfg(), "pbx1", records.append, ami or Ami(), Live(), ring_timeout_s=6.0)
    desk.records = records
    return desk


def call_vars(uid=UID, number="13911112222", channel=CALLER, **extra):
    return {"GET VARIABLE PBXB_CALLER_UID": f"200 result=1 ({uid})",
            "GET VARIABLE PBXB_CALLER_NUM": f"200 result=1 ({number})",
            "GET VARIABLE PBXB_CALLER_CHAN": f"200 result=1 ({channel})", **extra}


ANSWERED = routes.CallInfo("support", "恐吓者", True)


async def agi(desk, script, call=ANSWERED, **peer):
    server = FastAgiServer(AgiConfig(host="127.0.0.1", port=0, header_timeout=1, command_timeout=2, max_sessions=5,
                                     secret=AGI_SECRET),
                           {"threat_mark": routes.threat_mark(desk, lambda uid: call, {"PJSIP/agent301": "王五"}.get),
                            "threat_notice": routes.threat_notice(desk)})
    task = asyncio.create_task(server.run())
    while not server.listening:
        await asyncio.sleep(0.01)
    commands = await asyncio.wait_for(AgiPeer.fastagi(script, [], port=server.port, **peer)
                                      .call_fastagi("127.0.0.1", server.port), 10)
    task.cancel()
    return commands


def of(records, kind):
    """Each record once (a threat is written again, same object, as it goes on)."""
    return list({id(r): r for r in records if isinstance(r, kind)}.values())


async def settle(desk):
    while desk.tasks:
        await asyncio.gather(*desk.tasks, return_exceptions=True)


# --- *8 ------------------------------------------------------------------------------------------

async def test_star8_records_the_threat_starts_the_recording_tells_the_board_and_rings_the_lead():
    ami = Ami()
    desk = make_desk(threats_cfg(ack_timeout="15m", ring_again_after="2m"), ami)
    commands = await agi(desk, "threat_mark", channel=AGENT, replies=call_vars())
    path = "/var/spool/asterisk/monitor/pbx-bridge-evidence/threat-pbx1-1795471128.1.wav"
    assert f'SET VARIABLE PBXB_EVIDENCE_START "{path}"' in commands, "the dialplan starts MixMonitor on this path"
    assert commands[-1] == 'STREAM FILE beep ""'
    [threat] = of(desk.records, ThreatRecord)
    assert (threat.threat_id, threat.number, threat.caller_name, threat.endpoint, threat.agent, threat.queue,
            threat.company, threat.recording, threat.recording_source, threat.lead) == (
        UID, "13911112222", "恐吓者", "PJSIP/agent301", "王五", "support", "jingan", path, "threat", "组长王")
    [alert] = desk.live.alerts
    assert alert["type"] == "threat" and alert["desk"] == "PJSIP/agent301" and alert["number"] == "13911112222"
    standing = desk.live.standing[f"threat-{UID}"]
    assert standing["severity"] == "critical" and "PJSIP/agent301" in standing["text"] and "王五" in standing["text"]
    await asyncio.sleep(0.05)
    [(originate, _)] = ami.sent
    assert originate["Channel"] == "PJSIP/lead401" and originate["Context"] == "pbx-bridge-threat-notice"
    assert originate["Timeout"] == "6000", "two rings (ring-twice), as every call the daemon places"
    assert f"PBXB_THREAT={UID}" in originate["Variable"] and "PBXB_THREAT_ROLE=lead" in originate["Variable"]
    for task in desk.tasks:
        task.cancel()
    await settle(desk)


async def test_a_second_star8_in_the_call_links_the_same_threat_and_starts_no_second_recording():
    desk = make_desk(threats_cfg(ack_timeout="15m", ring_again_after="2m"))
    await agi(desk, "threat_mark", channel=AGENT, replies=call_vars())
    path = desk.recording_path(UID)
    with capture_logs() as logs:
        again = await agi(desk, "threat_mark", channel=AGENT,
                          replies=call_vars(**{"GET VARIABLE PBXB_EVIDENCE": f"200 result=1 ({path})"}))
    assert not any(c.startswith("SET VARIABLE PBXB_EVIDENCE_START") for c in again)
    assert len(of(desk.records, ThreatRecord)) == 1 and len(desk.live.alerts) == 1
    assert any(e["event"] == "threat_already_marked" for e in logs)
    for task in desk.tasks:
        task.cancel()
    await settle(desk)


async def test_a_call_warned_with_star7_first_keeps_that_recording_for_the_threat():
    desk = make_desk(threats_cfg(ack_timeout="15m", ring_again_after="2m"))
    warned = "/var/spool/asterisk/monitor/pbx-bridge-evidence/nuisance-pbx1-1795471128.1.wav"
    commands = await agi(desk, "threat_mark", channel=AGENT,
                         replies=call_vars(**{"GET VARIABLE PBXB_EVIDENCE": f"200 result=1 ({warned})"}))
    assert not any(c.startswith("SET VARIABLE PBXB_EVIDENCE") for c in commands)
    [threat] = of(desk.records, ThreatRecord)
    assert (threat.recording, threat.recording_source) == (warned, "call")
    for task in desk.tasks:
        task.cancel()
    await settle(desk)


async def test_a_site_that_records_every_call_keeps_its_own_recording_linked_to_the_threat():
    desk = make_desk(threats_cfg(ack_timeout="15m", ring_again_after="2m", site_records_calls=True))
    site = "/var/spool/asterisk/monitor/2026/12/02/q-support-1795471128.1.wav"
    commands = await agi(desk, "threat_mark", channel=AGENT, replies=call_vars(
        **{"GET FULL VARIABLE": f"200 result=1 ({site})"}))
    assert f'GET FULL VARIABLE "${{IMPORT({CALLER},MIXMONITOR_FILENAME)}}"' in commands, "app_queue records the caller"
    assert not any(c.startswith("SET VARIABLE PBXB_EVIDENCE") for c in commands), "no second recording"
    [threat] = of(desk.records, ThreatRecord)
    assert (threat.recording, threat.recording_source) == (site, "site")
    for task in desk.tasks:
        task.cancel()
    await settle(desk)


@pytest.mark.parametrize("replies, call, event", [
    ({}, ANSWERED, "threat_mark_outside_call"),
    (call_vars(channel=AGENT), ANSWERED, "threat_mark_not_an_agent_channel"),
    (call_vars(), routes.CallInfo("support", "", False), "threat_mark_call_not_answered"),
    (call_vars(channel="Local/s@x,evil"), ANSWERED, "threat_mark_outside_call"),
])
async def test_star8_outside_an_answered_call_or_off_an_agent_leg_is_an_error_tone_and_records_nothing(
        replies, call, event):
    ami = Ami()
    desk = make_desk(ami=ami)
    with capture_logs() as logs:
        commands = await agi(desk, "threat_mark", call=call, channel=AGENT, replies=replies)
    assert commands[-1] == 'STREAM FILE beeperr ""'
    assert not any(c.startswith("SET VARIABLE") for c in commands), "no recording started"
    assert desk.records == [] and desk.live.alerts == [] and desk.live.standing == {} and ami.sent == []
    assert any(e["event"] == event and e["log_level"] == "warning" for e in logs)


# --- telling people -------------------------------------------------------------------------------

def mark(desk, queue="support"):
    threat, new = desk.mark(UID, number="13911112222", caller_name="", queue=queue, agent="王五",
                            endpoint="PJSIP/agent301", agent_channel=AGENT, caller_channel=CALLER,
                            recording=desk.recording_path(UID), recording_source="threat")
    assert new
    return threat


async def test_nobody_acknowledges_within_the_timeout_so_the_manager_is_called_and_the_board_says_so():
    ami = Ami()
    desk = make_desk(ami=ami)
    with capture_logs() as logs:
        mark(desk)
        await settle(desk)
    rung = ami.rung()
    assert rung[0] == "PJSIP/lead401" and set(rung[:-2]) == {"PJSIP/lead401"}, "the lead again and again, first"
    assert rung[-2:] == ["Local/13900000402@pbx-bridge-callback/n"] * 2, "then the manager (a number), twice"
    [threat] = of(desk.records, ThreatRecord)
    assert threat.status == "unacknowledged" and threat.why_manager == "nobody acknowledged within 0.4 s"
    assert threat.lead_told_at is not None and threat.manager_told_at > threat.lead_told_at
    assert [a["type"] for a in desk.live.alerts] == ["threat", "threat-manager"]
    assert "NOT acknowledged" in desk.live.standing[f"threat-{UID}"]["text"]
    contacts = of(desk.records, ContactRecord)
    assert [c.seq for c in contacts] == list(range(1, len(contacts) + 1))
    assert contacts[0].role == "wallboard" and {c.role for c in contacts[1:]} == {"lead", "manager"}
    called = next(e for e in logs if e["event"] == "threat_manager_called")
    assert called["manager"] == "经理李"


async def test_the_standing_notice_names_the_manager_while_the_manager_is_being_called():
    ami = Ami()
    desk = make_desk(threats_cfg(ring_again_after="0.1s", ack_timeout="0.2s", manager_attempts=5), ami)
    mark(desk)
    while "PJSIP/lead401" == (ami.rung() or ["PJSIP/lead401"])[-1]:
        await asyncio.sleep(0.02)
    text = desk.live.standing[f"threat-{UID}"]["text"]
    assert "lead 组长王 did not acknowledge: manager 经理李 called" in text
    desk.acknowledge(UID, "经理李", "phone")
    await settle(desk)
    assert f"threat-{UID}" not in desk.live.standing


async def test_a_lead_whose_phone_cannot_be_called_hands_over_to_the_manager_at_once_and_the_record_says_why():
    ami = Ami({"PJSIP/lead401": "0"})
    desk = make_desk(threats_cfg(ack_timeout="15m", ring_again_after="2m", manager_attempts=1), ami)
    desk.cfg = desk.cfg.model_copy(update={"ring_again_after": timedelta(seconds=0.05)})
    mark(desk)
    await settle(desk)
    assert ami.rung() == ["PJSIP/lead401", "Local/13900000402@pbx-bridge-callback/n"]
    threat = of(desk.records, ThreatRecord)[-1]
    assert threat.why_manager == "the lead's phone PJSIP/lead401 could not be called"
    assert [(c.role, c.result) for c in of(desk.records, ContactRecord)] == [
        ("wallboard", "sent"), ("lead", "failed"), ("manager", "answered")]


async def test_the_lead_acknowledges_with_the_key_and_nobody_else_is_called():
    ami = Ami()
    desk = make_desk(threats_cfg(ack_timeout="15m", ring_again_after="2m"), ami)
    mark(desk)
    notice = {"GET VARIABLE PBXB_THREAT_ROLE": "200 result=1 (lead)", "GET VARIABLE PBXB_THREAT": f"200 result=1 ({UID})",
              "SAY ALPHA": "200 result=49 endpos=1234"}
    commands = await agi(desk, "threat_notice", channel="PJSIP/lead401-00000011", replies=notice)
    assert 'STREAM FILE extension "1"' in commands and 'SAY ALPHA "agent301" "1"' in commands, "the desk is named"
    assert commands[-1] == 'STREAM FILE auth-thankyou ""'
    await settle(desk)
    assert ami.rung() == ["PJSIP/lead401"]
    [ack] = of(desk.records, AckRecord)
    assert (ack.acknowledged_by, ack.via) == ("组长王", "phone")
    assert of(desk.records, ThreatRecord)[-1].status == "acknowledged"
    assert f"threat-{UID}" not in desk.live.standing and desk.live.alerts[-1]["type"] == "threat-acknowledged"


async def test_a_notice_for_an_unknown_threat_says_goodbye_and_acknowledges_nothing():
    desk = make_desk()
    commands = await agi(desk, "threat_notice", channel="PJSIP/lead401-00000011",
                         replies={"GET VARIABLE PBXB_THREAT_ROLE": "200 result=1 (lead)",
                                  "GET VARIABLE PBXB_THREAT": "200 result=1 (1.2)"})
    assert commands[-1] == 'STREAM FILE vm-goodbye ""' and desk.records == []


async def test_a_threat_of_a_queue_no_company_names_is_kept_and_shown_though_nobody_can_be_called():
    ami = Ami()
    desk = make_desk(ami=ami)
    with capture_logs() as logs:
        mark(desk, queue="elsewhere")
    await settle(desk)
    [threat] = of(desk.records, ThreatRecord)
    assert threat.status == "unacknowledged" and "no company for queue 'elsewhere'" in threat.why_manager
    assert ami.sent == [] and f"threat-{UID}" in desk.live.standing
    assert any(e["event"] == "threat_without_company" and e["log_level"] == "error" for e in logs)


# --- config -------------------------------------------------------------------------------------

def write_config(tmp_path, threats: dict):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"ami": {"host": "127.0.0.1"}, "threats": threats}, allow_unicode=True,
                                   sort_keys=False), encoding="utf-8")
    return str(path)


def test_a_company_whose_lead_has_no_phone_is_a_config_error_naming_the_line(tmp_path):
    path = write_config(tmp_path, {"enabled": True, "companies": {"jingan": {
        "lead": {"name": "组长王", "endpoint": ""}, "manager": {"name": "经理李", "endpoint": "PJSIP/m"}}}})
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    message = str(caught.value)
    assert message.startswith(f"{path}:") and "threats.companies.jingan.lead.endpoint" in message
    assert "no phone" in message


@pytest.mark.parametrize("threats, problem", [
    ({"enabled": True}, "at least one company"),
    ({"enabled": True, "companies": {"a": {"lead": {"name": "x"}, "manager": {"name": "y", "endpoint": "1"}}}},
     "threats.companies.a.lead.endpoint"),
    ({"enabled": True, "companies": {"a": {"lead": {"name": "x", "endpoint": "PJSIP/a,b"},
                                           "manager": {"name": "y", "endpoint": "1"}}}}, "neither a channel"),
    ({"ack_timeout": "1m", "ring_again_after": "5m"}, "ring_again_after is longer than ack_timeout"),
    ({"recording_dir": "/var/spool/a b"}, "threats.recording_dir"),
    ({"default_company": "nope"}, "default_company 'nope' is not one of the companies"),
])
def test_threat_settings_that_cannot_work_are_refused_at_start(tmp_path, threats, problem):
    with pytest.raises(ConfigError, match=problem):
        load_config(write_config(tmp_path, threats), env={})
