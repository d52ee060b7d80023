"""Agent sessions without Asterisk: the queue actions sent, the records kept, the lock on the PIN menu."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from pbx_bridge.agents.records import AgentPauseRecord, AgentSessionRecord
from pbx_bridge.agents.routes import agent_routes
from pbx_bridge.agents.sessions import AgentSessions
from pbx_bridge.agents.settings import AgentsConfig
from pbx_bridge.pins import PinGate, PinLockout
from pbx_bridge.rota.model import Rota
from pbx_bridge.rota.values import hash_pin

PIN = "739182"
HASH = hash_pin(PIN)


class FakeAmi:
    def __init__(self):
        self.sent: list[dict] = []

    async def send(self, fields, timeout):
        self.sent.append(dict(fields))
        return SimpleNamespace(success=True, get=lambda key, default=None: default)


def sessions(cfg=None):
    ami, records = FakeAmi(), []
    return AgentSessions("pbx1", cfg or AgentsConfig(enabled=True), ami.send, records.append), ami, records


def rota(with_302=True) -> Rota:
    agents = [{"employee_no": "0301", "name": "彭建华", "endpoint": "PJSIP/agent301", "pin_hash": HASH}]
    if with_302:
        agents.append({"employee_no": "0302", "name": "戴玲", "endpoint": "PJSIP/agent302", "pin_hash": HASH})
    return Rota.model_validate({"start": "2026-01-05", "calendar": "weekdays", "companies": [
        {"id": "team", "name": "Team", "mailboxes": ["8001"], "queues": ["sales", "support"], "agents": agents}]})


async def test_login_adds_the_phone_to_each_queue_and_records_an_open_session():
    agents, ami, records = sessions()
    await agents.login("0301", "彭建华", "agent301", ("sales", "support"))
    assert [(a["Action"], a["Queue"], a["Interface"], a["StateInterface"]) for a in ami.sent] == [
        ("QueueAdd", "sales", "Local/agent301@pbx-bridge-agents/n", "PJSIP/agent301"),
        ("QueueAdd", "support", "Local/agent301@pbx-bridge-agents/n", "PJSIP/agent301")]
    assert isinstance(records[0], AgentSessionRecord) and records[0].logout_at is None


async def test_logging_in_at_another_desk_ends_the_old_session_as_moved():
    agents, ami, records = sessions()
    await agents.login("0301", "彭建华", "agent301", ("support",))
    await agents.login("0301", "彭建华", "agent302", ("support",))
    assert [a["Action"] for a in ami.sent] == ["QueueAdd", "QueueRemove", "QueueAdd"]
    assert records[1].logout_reason == "moved" and agents.on_phone("agent302") is not None
    assert agents.on_phone("agent301") is None


async def test_a_pause_is_recorded_once_although_each_queue_reports_it():
    agents, _, records = sessions()
    session = await agents.login("0301", "彭建华", "agent301", ("sales", "support"))
    iface = session.interface
    for queue in ("sales", "support"):
        agents.handle({"Event": "QueueMemberPause", "Interface": iface, "Queue": queue, "Paused": "1",
                       "PausedReason": "meal", "Timestamp": "1795000000.0"})
    agents.handle({"Event": "QueueMemberPause", "Interface": iface, "Queue": "sales", "Paused": "0",
                   "Timestamp": "1795000600.0"})
    assert session.pause is not None  # still paused in support
    agents.handle({"Event": "QueueMemberPause", "Interface": iface, "Queue": "support", "Paused": "0",
                   "Timestamp": "1795000900.0"})
    pauses = [r for r in records if isinstance(r, AgentPauseRecord)]
    assert len({p.pause_id for p in pauses}) == 1
    assert pauses[-1].reason == "meal" and (pauses[-1].ended_at - pauses[-1].started_at).total_seconds() == 900


async def test_agents_taken_out_of_the_rota_leave_every_queue():
    agents, ami, records = sessions()
    await agents.login("0301", "彭建华", "agent301", ("sales", "support"))
    await agents.login("0302", "戴玲", "agent302", ("sales", "support"))
    new = rota(with_302=False)
    removed = await agents.remove_departed(lambda no: new.agent(no) is not None)
    assert removed == 1
    assert [(a["Action"], a["Interface"]) for a in ami.sent[-2:]] == [
        ("QueueRemove", "Local/agent302@pbx-bridge-agents/n")] * 2
    assert records[-1].logout_reason == "removed-from-rota" and set(agents.by_employee) == {"0301"}


def test_the_lock_counts_per_phone_and_per_employee_and_ends():
    now = [0.0]
    lock = PinLockout(after=3, window_s=60, lock_s=300, clock=lambda: now[0])
    assert not lock.failed("phone:a", "employee:0301")
    assert not lock.failed("phone:b", "employee:0301")
    assert lock.failed("phone:c", "employee:0301")  # third wrong PIN for 0301, from three phones
    assert lock.locked("employee:0301") and not lock.locked("phone:a")
    now[0] = 301
    assert not lock.locked("employee:0301")


class FakeAgi:
    """The AGI side as the routes see it: scripted digits for GET DATA, every command kept."""

    def __init__(self, digits: list[str], endpoint="agent301"):
        self.headers = {"agi_channel": f"PJSIP/{endpoint}-0000000a"}
        self.args: list[str] = []
        self.digits = list(digits)
        self.commands: list[str] = []

    async def command(self, line, timeout=None):
        self.commands.append(line)
        result = self.digits.pop(0) if line.startswith("GET DATA") and self.digits else "0"
        return SimpleNamespace(result=result, code=200)


async def test_unknown_employee_and_wrong_pin_hear_exactly_the_same():
    cfg = AgentsConfig(enabled=True, pin_tries=2)
    agents, ami, _ = sessions(cfg)
    holder = SimpleNamespace(current=rota())
    routes = agent_routes(cfg, agents, holder, PinGate.from_settings(cfg))
    unknown, wrong = FakeAgi(["0999", PIN, "0999", PIN]), FakeAgi(["0301", "111111", "0301", "111111"], "agent302")
    await routes["agent_login"](unknown)
    await routes["agent_login"](wrong)
    assert unknown.commands == wrong.commands
    assert ami.sent == []


async def test_the_right_pin_logs_in_and_a_locked_phone_is_refused_before_any_question():
    cfg = AgentsConfig(enabled=True, pin_tries=1, lockout_after=2)
    agents, ami, _ = sessions(cfg)
    routes = agent_routes(cfg, agents, SimpleNamespace(current=rota()), PinGate.from_settings(cfg))
    ok = FakeAgi(["0301", PIN])
    await routes["agent_login"](ok)
    assert "SET VARIABLE PBXB_AGENT_LOGIN ok" in ok.commands and agents.on_phone("agent301") is not None
    for _ in range(2):
        await routes["agent_login"](FakeAgi(["0302", "000000"], "agent302"))
    locked = FakeAgi(["0302", PIN], "agent302")
    await routes["agent_login"](locked)
    assert not any(c.startswith("GET DATA") for c in locked.commands)
    assert agents.on_phone("agent302") is None
    await asyncio.sleep(0)


async def test_pause_resume_and_logout_codes_act_on_the_phone_s_own_session():
    cfg = AgentsConfig(enabled=True)
    agents, ami, _ = sessions(cfg)
    routes = agent_routes(cfg, agents, SimpleNamespace(current=rota()), PinGate.from_settings(cfg))
    nobody = FakeAgi([], "agent309")
    await routes["agent_pause"](nobody)
    assert ami.sent == [] and 'STREAM FILE invalid ""' in nobody.commands
    await agents.login("0301", "彭建华", "agent301", ("support",))
    ami.sent.clear()
    meal = FakeAgi([])
    meal.args = ["2"]
    await routes["agent_pause"](meal)
    await routes["agent_resume"](FakeAgi([]))
    await routes["agent_logout"](FakeAgi([]))
    assert [(a["Action"], a.get("Paused"), a.get("Reason")) for a in ami.sent] == [
        ("QueuePause", "true", "meal"), ("QueuePause", "false", None), ("QueueRemove", None, None)]
    assert agents.on_phone("agent301") is None
